"""Regression metrics (CCC, Pearson, MAE per dimension), the scatter figure and the per-dimension table."""

from __future__ import annotations

import doctest
import math
from pathlib import Path

import numpy as np
import pytest

from serkit.data import dimensions
from serkit.evaluation import regression
from serkit.evaluation.regression import (
    plot_regression_scatter,
    regression_metrics,
)

NAMES = ("arousal", "valence", "dominance")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def direct_ccc(x: np.ndarray, y: np.ndarray) -> float:
    """Lin's CCC with population moments, written out."""
    cov = np.mean((x - x.mean()) * (y - y.mean()))
    return float(2 * cov / (x.var() + y.var() + (x.mean() - y.mean()) ** 2))


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    targets = rng.uniform(0, 1, size=(50, 3))
    predictions = np.clip(0.7 * targets + 0.1 + rng.normal(0, 0.1, size=(50, 3)), 0, 1)
    return targets, predictions


def test_doctests():
    assert doctest.testmod(regression).failed == 0
    assert doctest.testmod(dimensions).failed == 0


def test_metrics_agree_with_direct_formulas(data):
    targets, predictions = data
    metrics = regression_metrics(targets, predictions, NAMES)
    assert list(metrics)[:3] == ["ccc", "pearson", "mae"]
    for column, name in enumerate(NAMES):
        x, y = targets[:, column], predictions[:, column]
        assert metrics[f"ccc_{name}"] == pytest.approx(direct_ccc(x, y), abs=1e-12)
        assert metrics[f"pearson_{name}"] == pytest.approx(np.corrcoef(x, y)[0, 1], abs=1e-12)
        assert metrics[f"mae_{name}"] == pytest.approx(np.mean(np.abs(x - y)), abs=1e-12)
        assert metrics[f"num_{name}"] == 50 and isinstance(metrics[f"num_{name}"], int)
    for key in ("ccc", "pearson", "mae"):
        assert metrics[key] == pytest.approx(np.mean([metrics[f"{key}_{name}"] for name in NAMES]))
        assert isinstance(metrics[key], float)
    # CCC punishes a shift and a scale that Pearson ignores
    shifted = regression_metrics(targets, targets + 0.2, NAMES)
    assert shifted["pearson"] == pytest.approx(1.0) and shifted["ccc"] < 0.9
    assert regression_metrics(targets, targets, NAMES)["ccc"] == pytest.approx(1.0)


def test_missing_targets_are_left_out_per_dimension(data):
    targets, predictions = data
    holes = targets.copy()
    holes[:10, 0] = np.nan
    holes[40:, 2] = np.nan
    metrics = regression_metrics(holes, predictions, NAMES)
    assert (metrics["num_arousal"], metrics["num_valence"], metrics["num_dominance"]) == (40, 50, 40)
    assert metrics["ccc_arousal"] == pytest.approx(direct_ccc(targets[10:, 0], predictions[10:, 0]))
    assert metrics["ccc_dominance"] == pytest.approx(direct_ccc(targets[:40, 2], predictions[:40, 2]))
    assert metrics["ccc_valence"] == pytest.approx(direct_ccc(targets[:, 1], predictions[:, 1]))


def test_undefined_cases_give_nan_without_crashing():
    targets = np.array([[0.2, np.nan, 0.5], [0.8, 0.4, 0.5], [0.5, np.nan, 0.5]])
    predictions = np.array([[0.3, 0.1, 0.2], [0.7, 0.5, 0.9], [0.5, 0.2, 0.4]])
    with np.errstate(all="raise"):
        metrics = regression_metrics(targets, predictions, NAMES)
    # valence: one rated utterance; dominance: constant ratings
    assert math.isnan(metrics["ccc_valence"]) and math.isnan(metrics["pearson_valence"])
    assert metrics["mae_valence"] == pytest.approx(0.1) and metrics["num_valence"] == 1
    assert math.isnan(metrics["ccc_dominance"]) and math.isnan(metrics["pearson_dominance"])
    # the headline averages the defined dimensions only
    assert metrics["ccc"] == pytest.approx(metrics["ccc_arousal"])
    # a model that collapsed to one value: CCC 0 (its honest score), Pearson undefined
    collapsed = regression_metrics(targets[:, :1], np.full((3, 1), 0.5), ["arousal"])
    assert collapsed["ccc"] == pytest.approx(0.0) and math.isnan(collapsed["pearson"])
    # nothing rated at all
    empty = regression_metrics(np.full((4, 1), np.nan), np.zeros((4, 1)), ["arousal"])
    assert all(math.isnan(empty[key]) for key in ("ccc", "pearson", "mae")) and empty["num_arousal"] == 0
    nan_prediction = regression_metrics(targets[:, :1], np.array([[0.1], [np.nan], [0.3]]), ["arousal"])
    assert math.isnan(nan_prediction["ccc"])


def test_shapes_and_names_are_checked(data):
    targets, predictions = data
    with pytest.raises(ValueError, match=r"expected \(num_utterances, 2\)"):
        regression_metrics(targets, predictions, NAMES[:2])
    with pytest.raises(ValueError, match="differ"):
        regression_metrics(targets, predictions[:10], NAMES)
    with pytest.raises(ValueError, match="without repeats"):
        regression_metrics(targets[:, :2], predictions[:, :2], ["arousal", "arousal"])
    one = regression_metrics(targets[:, 0], predictions[:, 0], ["arousal"])  # 1-D for one dimension
    assert one["num_arousal"] == 50


def test_scatter_png_is_written_atomically(data, tmp_path: Path):
    targets, predictions = data
    targets[:5, 1] = np.nan
    path = plot_regression_scatter(
        targets, predictions, NAMES, tmp_path / "figs" / "scatter.png", title="demo"
    )
    assert path == tmp_path / "figs" / "scatter.png"
    assert [p.name for p in path.parent.iterdir()] == ["scatter.png"]
    assert path.read_bytes().startswith(PNG_MAGIC)
    svg = plot_regression_scatter(np.full((3, 1), np.nan), np.zeros((3, 1)), ["arousal"], tmp_path / "s.svg")
    assert "<svg" in svg.read_text(encoding="utf-8")
