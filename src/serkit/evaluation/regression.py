"""Metrics, figure and table for dimensional emotion (arousal / valence / dominance regression).

The metrics are audmetric's (``concordance_cc``, ``pearson_cc``, ``mean_absolute_error``), computed per dimension
on the utterances that have a rating (NaN targets are left out dimension by dimension) and averaged over the
dimensions. The concordance correlation coefficient (CCC, Lin 1989) is the headline, as in the MSP-Podcast and
AVEC challenges::

    CCC = 2 cov(t, p) / (var(t) + var(p) + (mean(t) - mean(p))^2)      (population moments)

Undefined cases give NaN instead of an exception, so a run never crashes at its last step:

* fewer than two rated utterances: CCC and Pearson are NaN (MAE is NaN only with none);
* constant targets (every rating equal): CCC and Pearson are NaN, the agreement with a rating that does not vary
  is not measurable;
* constant predictions with varying targets: CCC is reported (0, what a model that collapsed to one value
  deserves), Pearson is NaN;
* a NaN prediction makes its dimension's metrics NaN.

The averages ``ccc``, ``pearson`` and ``mae`` are over the dimensions whose value is defined (NaN only when none
is), so one unrated dimension does not blank the headline; the per-dimension keys show which were left out.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import audmetric
import numpy as np

__all__ = [
    "REGRESSION_HEADLINE_METRICS",
    "plot_regression_scatter",
    "regression_metrics",
]

#: The averaged keys of :func:`regression_metrics`, headline first.
REGRESSION_HEADLINE_METRICS = ("ccc", "pearson", "mae")


def _as_matrix(values: Any, names: Sequence[str], what: str) -> np.ndarray:
    matrix = np.asarray(values, dtype=np.float64)
    if matrix.ndim == 1 and len(names) == 1:
        matrix = matrix[:, None]
    if matrix.ndim != 2 or matrix.shape[1] != len(names):
        raise ValueError(
            f"{what} has shape {matrix.shape}; expected (num_utterances, {len(names)}), one column per "
            f"dimension of {list(names)}."
        )
    return matrix


def _dimension_metrics(truth: np.ndarray, prediction: np.ndarray) -> tuple[float, float, float]:
    """(CCC, Pearson, MAE) of one dimension's rated utterances; NaN where undefined (module docstring)."""
    if len(truth) == 0:
        return math.nan, math.nan, math.nan
    mae = float(audmetric.mean_absolute_error(truth, prediction))
    if len(truth) < 2 or np.ptp(truth) == 0 or not np.isfinite(prediction).all():
        return math.nan, math.nan, mae
    ccc = float(audmetric.concordance_cc(truth, prediction))
    pearson = float(audmetric.pearson_cc(truth, prediction)) if np.ptp(prediction) > 0 else math.nan
    return ccc, pearson, mae


def _mean_defined(values: Sequence[float]) -> float:
    defined = [v for v in values if not math.isnan(v)]
    return float(np.mean(defined)) if defined else math.nan


def regression_metrics(
    targets: np.ndarray, predictions: np.ndarray, names: Sequence[str]
) -> dict[str, float]:
    """CCC, Pearson and MAE per dimension and averaged over the dimensions.

    Args:
        targets: ``(num_utterances, len(names))`` ratings in [0, 1]; NaN = not rated, left out of that dimension.
        predictions: ``(num_utterances, len(names))`` model outputs on the same scale.
        names: dimension names in column order (``("arousal", "valence", "dominance")``).

    Returns:
        ``ccc``, ``pearson``, ``mae`` (means over the defined dimensions), then for each name ``ccc_<name>``,
        ``pearson_<name>``, ``mae_<name>`` and ``num_<name>`` (rated utterances); plain floats, NaN where
        undefined (see the module docstring), ``num_*`` ints.

    Raises:
        ValueError: no or repeated names, or arrays whose shapes do not match ``(num_utterances, len(names))``.

    Example:
        >>> m = regression_metrics(np.array([[0.1], [0.5], [0.9]]), np.array([[0.2], [0.5], [0.8]]), ["arousal"])
        >>> round(m["ccc"], 4), m["num_arousal"]
        (0.96, 3)
    """
    names = tuple(names)
    if not names or len(set(names)) != len(names):
        raise ValueError(f"names={list(names)}: give one name per column, without repeats.")
    truth = _as_matrix(targets, names, "targets")
    prediction = _as_matrix(predictions, names, "predictions")
    if truth.shape != prediction.shape:
        raise ValueError(
            f"targets {truth.shape} and predictions {prediction.shape} differ; pass one row per utterance to both."
        )
    per_dimension: dict[str, Any] = {}
    scores: dict[str, list[float]] = {key: [] for key in REGRESSION_HEADLINE_METRICS}
    for column, name in enumerate(names):
        rated = ~np.isnan(truth[:, column])
        ccc, pearson, mae = _dimension_metrics(truth[rated, column], prediction[rated, column])
        per_dimension.update(
            {
                f"ccc_{name}": ccc,
                f"pearson_{name}": pearson,
                f"mae_{name}": mae,
                f"num_{name}": int(rated.sum()),
            }
        )
        for key, value in zip(REGRESSION_HEADLINE_METRICS, (ccc, pearson, mae)):
            scores[key].append(value)
    return {**{key: _mean_defined(values) for key, values in scores.items()}, **per_dimension}


def plot_regression_scatter(
    targets: np.ndarray,
    predictions: np.ndarray,
    names: Sequence[str],
    path: str | os.PathLike,
    title: str = "",
) -> Path:
    """Predicted against true rating, one panel per dimension, with the identity line and CCC in each title.

    Drawn with the Agg backend and written atomically like the other report figures
    (:mod:`serkit.evaluation.plots`); the format follows the suffix. Unrated utterances (NaN targets) are left out.

    Args:
        targets, predictions: ``(num_utterances, len(names))``, on any one scale ([0, 1] or the corpus's).
        names: dimension names in column order.
        path: the image file to write (folders are created).
        title: the figure's title.

    Returns:
        ``path`` as a Path.
    """
    from serkit.evaluation.plots import _new_figure, _save  # matplotlib is imported only for figures

    names = tuple(names)
    truth = _as_matrix(targets, names, "targets")
    prediction = _as_matrix(predictions, names, "predictions")
    metrics = regression_metrics(truth, prediction, names)
    figure = _new_figure(3.6 * len(names), 3.8)
    axes = figure.subplots(1, len(names), squeeze=False)[0]
    for column, (axis, name) in enumerate(zip(axes, names)):
        rated = ~np.isnan(truth[:, column])
        x, y = truth[rated, column], prediction[rated, column]
        finite = np.concatenate([x, y[np.isfinite(y)]])
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        margin = 0.03 * (high - low or 1.0)
        low, high = low - margin, high + margin
        axis.scatter(x, y, s=6, alpha=0.4 if len(x) > 500 else 0.7, linewidths=0, color="tab:blue")
        axis.plot([low, high], [low, high], color="0.3", linewidth=1, linestyle="--", label="identity")
        axis.set(
            xlim=(low, high),
            ylim=(low, high),
            aspect="equal",
            xlabel=f"true {name}",
            ylabel=f"predicted {name}",
        )
        axis.set_title(f"{name}: CCC {metrics[f'ccc_{name}']:.3f} (n={metrics[f'num_{name}']})", fontsize=10)
        axis.grid(alpha=0.3)
    if title:
        figure.suptitle(title)
    return _save(figure, path)
