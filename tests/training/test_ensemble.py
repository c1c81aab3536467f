"""serkit ensemble: members ranked and the size chosen on validation; test selection only when asked, and loud."""

from __future__ import annotations

import json

import numpy as np
import pytest

from serkit.cli import main
from serkit.core.errors import SerkitError
from serkit.training.ensemble import SIZE_ON_TEST_WARNING, find_members, load_member, run_ensemble

LABELS = ["neutral", "angry"]


def _logits(margins) -> np.ndarray:
    """Two-class logits whose margin (neutral minus angry) is ``margins``: > 0 predicts neutral."""
    margins = np.asarray(margins, dtype=np.float32)
    return np.stack([margins / 2, -margins / 2], axis=1)


def _write_run(
    run_dir,
    *,
    val_logits,
    test_logits,
    val_targets=None,
    test_targets=None,
    val_ids=None,
    test_ids=None,
    labels=LABELS,
    fold="fold0",
):
    run_dir.mkdir(parents=True, exist_ok=True)
    val_targets = (
        np.zeros(len(val_logits), dtype=np.int64) if val_targets is None else np.asarray(val_targets)
    )
    test_targets = (
        np.zeros(len(test_logits), dtype=np.int64) if test_targets is None else np.asarray(test_targets)
    )
    val_ids = [f"v{i}" for i in range(len(val_logits))] if val_ids is None else val_ids
    test_ids = [f"t{i}" for i in range(len(test_logits))] if test_ids is None else test_ids
    np.savez(
        run_dir / "outputs.npz",
        val_ids=np.array(val_ids, dtype=str),
        val_logits=np.asarray(val_logits),
        val_targets=val_targets,
        test_ids=np.array(test_ids, dtype=str),
        test_logits=np.asarray(test_logits),
        test_targets=test_targets,
        label_names=np.array(labels),
    )
    (run_dir / "metrics.json").write_text(json.dumps({"fold": fold}), encoding="utf-8")
    return run_dir


@pytest.fixture
def experiment(tmp_path):
    """Three seeds of one fold. Every true label is neutral (margin > 0 = right).

    Validation: A 3/4 right, B 2/4, C 0/4; mean(A, B) is 4/4 right and mean(A, B, C) 0/4, so K = 2.
    Test: A 1/4, B 0/4, C 4/4; K = 1 and 2 give 1/4 and 0/4, K = 3 gives 4/4 (what the test set would choose).
    """
    root = tmp_path / "exp"
    (root / "config.yaml").parent.mkdir(parents=True)
    (root / "config.yaml").write_text("protocol:\n  name: official\n", encoding="utf-8")
    runs = root / "runs" / "fold0"
    _write_run(runs / "seed0", val_logits=_logits([1, 1, 1, -1]), test_logits=_logits([1, -1, -1, -1]))
    _write_run(runs / "seed1", val_logits=_logits([1, -0.5, -0.5, 3]), test_logits=_logits([-2, -2, -2, -2]))
    _write_run(runs / "seed2", val_logits=_logits([-5, -5, -5, -5]), test_logits=_logits([5, 5, 5, 5]))
    return root


def test_members_ranked_and_size_chosen_on_validation(experiment):
    record = run_ensemble([experiment])
    fold = record["folds"][0]
    assert [m["path"].rsplit("/", 1)[-1] for m in fold["members"]] == ["seed0", "seed1", "seed2"]
    assert [m["val_score"] for m in fold["members"]] == [0.75, 0.5, 0.0]
    assert [p["val"] for p in fold["curve"]] == [0.75, 1.0, 0.0]
    assert all("test" not in p for p in fold["curve"])  # test scores per size are not even computed
    assert fold["size"] == 2 and fold["size_chosen_on"] == "validation"
    assert fold["test_metrics"]["wa"] == 0.0  # the honest number: worse than what the test set would pick
    assert record["warnings"] == []
    assert record["summary"]["selection"] == "validation" and not record["summary"]["selected_on_test"]
    written = json.loads((experiment / "ensemble" / "ensemble.json").read_text(encoding="utf-8"))
    assert written["folds"][0]["size"] == 2
    report = (experiment / "ensemble" / "ensemble.md").read_text(encoding="utf-8")
    assert "WARNING" not in report and "precision" in report and "Protocol: `official`" in report


def test_size_on_test_only_with_the_flag_and_reported_loudly(experiment, tmp_path):
    record = run_ensemble([experiment], out_dir=tmp_path / "on_test", select_on_test=True)
    fold = record["folds"][0]
    assert fold["size"] == 3 and fold["size_chosen_on"] == "test"
    assert [p["test"] for p in fold["curve"]] == [0.25, 0.0, 1.0]
    assert fold["test_metrics"]["wa"] == 1.0
    assert SIZE_ON_TEST_WARNING in record["warnings"]
    assert record["summary"]["selected_on_test"]
    report = (tmp_path / "on_test" / "ensemble.md").read_text(encoding="utf-8")
    assert "ENSEMBLE SIZE CHOSEN ON THE TEST SET" in report and "MODEL SELECTED ON THE TEST SET" in report


def test_members_selected_on_test_make_the_ensemble_flagged(tmp_path):
    run = _write_run(tmp_path / "a", val_logits=_logits([1]), test_logits=_logits([1]))
    (run / "metrics.json").write_text(json.dumps({"fold": "fold0", "selection": "test"}), encoding="utf-8")
    record = run_ensemble([run], out_dir=tmp_path / "out")
    assert record["summary"]["selected_on_test"] and any(
        "epochs were selected" in w for w in record["warnings"]
    )


def test_fixed_top_k(experiment, tmp_path):
    record = run_ensemble([experiment], out_dir=tmp_path / "k1", top_k=1)
    fold = record["folds"][0]
    assert fold["size"] == 1 and fold["size_chosen_on"] == "fixed"
    assert fold["test_metrics"]["wa"] == 0.25
    with pytest.raises(ValueError, match="top-k"):
        run_ensemble([experiment], out_dir=tmp_path / "k9", top_k=9)


def test_members_are_aligned_by_utterance_id(tmp_path):
    first = _write_run(
        tmp_path / "a",
        val_logits=_logits([1, -1]),
        test_logits=_logits([1, -1]),
        val_targets=[0, 1],
        test_targets=[0, 1],
    )
    # the same utterances in the other order, with the targets in that order too
    second = _write_run(
        tmp_path / "b",
        val_logits=_logits([-1, 1]),
        test_logits=_logits([-1, 1]),
        val_targets=[1, 0],
        test_targets=[1, 0],
        val_ids=["v1", "v0"],
        test_ids=["t1", "t0"],
    )
    record = run_ensemble([first, second], out_dir=tmp_path / "out", top_k=2)
    assert record["folds"][0]["test_metrics"]["wa"] == 1.0
    np.testing.assert_allclose(record["folds"][0]["test_logits"], _logits([1, -1]))


def test_runs_of_different_splits_or_labels_are_refused(tmp_path):
    a = _write_run(tmp_path / "a", val_logits=_logits([1]), test_logits=_logits([1]))
    b = _write_run(tmp_path / "b", val_logits=_logits([1]), test_logits=_logits([1]), test_ids=["other"])
    with pytest.raises(SerkitError, match="different test utterances"):
        run_ensemble([a, b], out_dir=tmp_path / "out")
    c = _write_run(tmp_path / "c", val_logits=_logits([1]), test_logits=_logits([1]), labels=["happy", "sad"])
    with pytest.raises(SerkitError, match="labels"):
        run_ensemble([a, c], out_dir=tmp_path / "out")
    with pytest.raises(SerkitError, match="twice"):
        find_members([a, a])


def test_no_validation_needs_the_explicit_flag(tmp_path):
    run = _write_run(
        tmp_path / "a",
        val_logits=np.zeros((0, 2), np.float32),
        test_logits=_logits([1, -1]),
        val_targets=np.zeros(0, np.int64),
        test_targets=[0, 1],
    )
    with pytest.raises(SerkitError, match="select-on-test"):
        run_ensemble([run], out_dir=tmp_path / "out")
    record = run_ensemble([run], out_dir=tmp_path / "out", select_on_test=True)
    assert any("ranked on the TEST set" in w for w in record["warnings"])


def test_several_folds_are_ensembled_separately(tmp_path):
    for fold in ("fold0", "fold1"):
        for seed in (0, 1):
            _write_run(
                tmp_path / "exp" / "runs" / fold / f"seed{seed}",
                val_logits=_logits([1, 1 - 2 * seed]),
                test_logits=_logits([1, -1]),
                val_ids=[f"{fold}v0", f"{fold}v1"],
                test_ids=[f"{fold}t0", f"{fold}t1"],
                fold=fold,
            )
    record = run_ensemble([tmp_path / "exp"])
    assert [f["fold"] for f in record["folds"]] == ["fold0", "fold1"]
    assert all(f["size"] == 1 for f in record["folds"])
    assert record["summary"]["n_runs"] == 2 and record["summary"]["metrics"]["wa"]["mean"] == 0.5


def test_multilabel_members_use_threshold_zero(tmp_path):
    labels = ["happy", "sad", "angry"]
    val_targets = np.array([[1, 0, 0], [0, 1, 1], [1, 1, 0]])
    test_targets = np.array([[0, 0, 1], [1, 0, 0]])
    perfect_val = np.where(val_targets == 1, 2.0, -2.0).astype(np.float32)
    good = _write_run(
        tmp_path / "good",
        val_logits=perfect_val,
        val_targets=val_targets,
        test_logits=np.array([[-1, -1, 1], [1, -1, 1]], np.float32),
        test_targets=test_targets,
        labels=labels,
    )
    noisy = _write_run(
        tmp_path / "noisy",
        val_logits=-perfect_val * 3,
        val_targets=val_targets,
        test_logits=np.zeros((2, 3), np.float32),
        test_targets=test_targets,
        labels=labels,
    )
    assert load_member(good).multilabel
    with pytest.raises(ValueError, match="multi-label"):
        run_ensemble([good, noisy], out_dir=tmp_path / "out", metric="wa")
    record = run_ensemble([good, noisy], out_dir=tmp_path / "out", metric="macro_f1")
    fold = record["folds"][0]
    assert fold["multilabel"] and fold["size"] == 1 and fold["members"][0]["path"].endswith("good")
    # test predictions (logit > 0): [0,0,1] right, [1,0,1] has one false positive
    assert fold["test_metrics"]["subset_accuracy"] == 0.5
    assert fold["test_metrics"]["per_label"]["angry"]["precision"] == 0.5
    assert (
        record["summary"]["multi_label"]
        and "subset accuracy" in (tmp_path / "out" / "ensemble.md").read_text()
    )


def test_pickled_outputs_are_refused(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    np.savez(
        run / "outputs.npz",
        val_ids=np.array([{"x": 1}], dtype=object),
        val_logits=np.zeros((1, 2)),
        val_targets=np.zeros(1),
        test_ids=np.array(["t"]),
        test_logits=np.zeros((1, 2)),
        test_targets=np.zeros(1),
        label_names=np.array(LABELS),
    )
    with pytest.raises(SerkitError, match="unpickles"):
        load_member(run)


def test_cli_ensemble(experiment, capsys):
    assert main(["ensemble", str(experiment), "--top-k", "2", "--out", str(experiment / "k2")]) == 0
    out = capsys.readouterr().out
    assert "K = 2 of 3 (fixed by --top-k)" in out and (experiment / "k2" / "ensemble.json").is_file()
    assert main(["ensemble", str(experiment / "nothing")]) == 2
