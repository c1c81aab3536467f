"""Evaluation: metrics (thin over scikit-learn), summaries over folds × seeds, and report figures.

The plotting functions are imported on first use, so code that only needs metrics or tables (the CLI's
``serkit report``) does not pay for importing matplotlib.
"""

from __future__ import annotations

import importlib

from serkit.evaluation.metrics import (
    HEADLINE_METRICS,
    accuracy_excluding,
    classification_metrics,
    classification_report_text,
    multilabel_metrics,
)
from serkit.evaluation.report import (
    SELECTIONS,
    TEST_SELECTION_WARNING,
    compare_summaries,
    format_summary,
    read_summary,
    summarize_runs,
    write_summary,
)

_PLOTS = ("plot_confusion_matrix", "plot_training_curves", "plot_tsne", "tsne_embedding")

__all__ = [
    "HEADLINE_METRICS",
    "SELECTIONS",
    "TEST_SELECTION_WARNING",
    "accuracy_excluding",
    "classification_metrics",
    "classification_report_text",
    "compare_summaries",
    "format_summary",
    "multilabel_metrics",
    "plot_confusion_matrix",
    "plot_training_curves",
    "plot_tsne",
    "read_summary",
    "summarize_runs",
    "tsne_embedding",
    "write_summary",
]


def __getattr__(name: str):
    if name in _PLOTS:
        return getattr(importlib.import_module("serkit.evaluation.plots"), name)
    raise AttributeError(f"module 'serkit.evaluation' has no attribute {name!r}")
