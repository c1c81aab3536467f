"""Temperature scaling and calibrated ensembles across model families (serkit ensemble --combine calibrated)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from serkit.training.calibration import calibrated_log_probabilities, fit_temperature
from serkit.training.ensemble import run_ensemble


def _nll(scores, targets, temperature):
    return -calibrated_log_probabilities(scores, temperature)[np.arange(len(targets)), targets].mean()


def test_fitted_temperature_minimises_validation_cross_entropy():
    rng = np.random.default_rng(0)
    targets = rng.integers(0, 4, 400)
    scores = rng.standard_normal((400, 4))
    scores[np.arange(400), targets] += 1.0  # informative but noisy
    for scale in (0.1, 1.0, 20.0):  # an SVM's small decision values, a network's, an over-confident one
        temperature = fit_temperature(scores * scale, targets)
        best = _nll(scores * scale, targets, temperature)
        for other in (temperature * 0.8, temperature * 1.25):
            assert best <= _nll(scores * scale, targets, other) + 1e-9
        # scale-free: the calibrated probabilities do not depend on the raw scale
        np.testing.assert_allclose(
            calibrated_log_probabilities(scores * scale, temperature),
            calibrated_log_probabilities(scores, fit_temperature(scores, targets)),
            atol=1e-3,
        )
    with pytest.raises(ValueError, match="NaN"):
        fit_temperature(np.array([[np.nan, 0.0]]), np.array([0]))


def _write(
    run_dir, val_scores, val_targets, test_scores, test_targets, config="protocol:\n  name: official\n"
):
    run_dir.mkdir(parents=True)
    np.savez(
        run_dir / "outputs.npz",
        val_ids=np.array([f"v{i}" for i in range(len(val_scores))]),
        val_logits=val_scores,
        val_targets=val_targets,
        test_ids=np.array([f"t{i}" for i in range(len(test_scores))]),
        test_logits=test_scores,
        test_targets=test_targets,
        label_names=np.array(["a", "b", "c"]),
    )
    (run_dir / "metrics.json").write_text(json.dumps({"fold": "fold0"}), encoding="utf-8")
    experiment = run_dir.parents[2]
    (experiment / "config.yaml").write_text(config, encoding="utf-8")


def test_calibrated_combining_stops_the_larger_scale_from_deciding_alone(tmp_path):
    """A network (logits x10, right on classes a/b, guessing on c) and an SVM (decision values x0.1, right on c):
    averaging raw scores copies the network; calibrated log-probabilities let the SVM decide on c."""
    rng = np.random.default_rng(1)
    targets = np.repeat([0, 1, 2], 60)
    onehot = np.eye(3)[targets]
    network = 10 * (onehot * np.isin(targets, [0, 1])[:, None] + 0.3 * rng.standard_normal((180, 3)))
    svm = 0.1 * (onehot * (targets == 2)[:, None] * 3 + 0.3 * rng.standard_normal((180, 3)))
    half = slice(0, 180, 2), slice(1, 180, 2)  # validation and test utterances
    for name, scores in (("net", network), ("svm", svm)):
        _write(
            tmp_path / name / "runs" / "fold0" / "seed0",
            scores[half[0]],
            targets[half[0]],
            scores[half[1]],
            targets[half[1]],
            config="protocol:\n  name: official\n"
            + ("input:\n  transductive: true\n" if name == "svm" else ""),
        )
    runs = [tmp_path / "net", tmp_path / "svm"]
    raw = run_ensemble(runs, out_dir=tmp_path / "raw", metric="ua", top_k=2)
    calibrated = run_ensemble(runs, out_dir=tmp_path / "cal", metric="ua", top_k=2, combine="calibrated")
    raw_ua = raw["summary"]["metrics"]["ua"]["mean"]
    calibrated_ua = calibrated["summary"]["metrics"]["ua"]["mean"]
    assert calibrated_ua > raw_ua + 0.15
    temperatures = [m["temperature"] for m in calibrated["folds"][0]["members"]]
    assert all(t is not None and t > 0 for t in temperatures)
    assert calibrated["summary"]["transductive"]  # one transductive member makes the ensemble transductive
    assert "temperature-calibrated" in (tmp_path / "cal" / "ensemble.md").read_text(encoding="utf-8")
