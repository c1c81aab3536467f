"""Markdown pieces shared by the experiment report and the comparison of experiments: metric titles,
"mean ± std" cells in percent and pipe tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from serkit.evaluation.metrics import HEADLINE_METRICS

__all__ = ["METRIC_TITLES", "headline_keys", "markdown_table", "number", "percent"]

#: Display names of the headline metrics.
METRIC_TITLES = {
    "wa": "WA (accuracy)",
    "ua": "UA (macro recall)",
    "macro_f1": "macro-F1",
    "micro_f1": "micro-F1",
    "weighted_f1": "weighted-F1",
    "micro_f1_non_neutral": "micro-F1 non-neutral (CASE)",
    "micro_f1_without_neutral": "micro-F1 without neutral",
    "label_accuracy": "accuracy per label (mean)",
    "subset_accuracy": "exact-match accuracy",
    "ccc": "CCC (mean over dimensions)",
    "pearson": "Pearson r (mean over dimensions)",
    "mae": "MAE on [0, 1] (mean over dimensions)",
}


def percent(stats: Mapping[str, Any]) -> str:
    """A ``{"mean", "std"}`` of fractions as ``"mean ± std"`` in percent, ``"n/a"`` without a mean."""
    if stats.get("mean") is None:
        return "n/a"
    return f"{100 * stats['mean']:.2f} ± {100 * stats['std']:.2f}"


def number(stats: Mapping[str, Any]) -> str:
    """A ``{"mean", "std"}`` of a CCC, correlation or error as ``"0.512 ± 0.031"``, ``"n/a"`` without a mean."""
    if stats.get("mean") is None:
        return "n/a"
    return f"{stats['mean']:.3f} ± {stats['std']:.3f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """The lines of a Markdown pipe table (unpadded)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines


def headline_keys(summary: Mapping[str, Any]) -> list[str]:
    """The headline metric keys of a summary (summaries written before multi-label support have none stored)."""
    return list(summary.get("headline_metrics") or HEADLINE_METRICS)
