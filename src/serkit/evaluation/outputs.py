"""Metrics of a model's outputs for any task (:mod:`serkit.data.task`): classes, dimensions or both.

One entry point, :func:`metrics_from_outputs`, so that training (validation every epoch), the final test
evaluation and ensembles score every task the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from serkit.data.task import TaskSpec
from serkit.evaluation.metrics import metrics_from_logits
from serkit.evaluation.regression import REGRESSION_HEADLINE_METRICS, regression_metrics

__all__ = ["REGRESSION_HEADLINE_METRICS", "metrics_from_outputs"]


def metrics_from_outputs(
    targets: np.ndarray, outputs: np.ndarray, label_names: Sequence[str], task: TaskSpec | None = None
) -> tuple[dict[str, Any], np.ndarray]:
    """Metrics and scores of model outputs ``(n, C + D)``.

    Classification: :func:`~serkit.evaluation.metrics.metrics_from_logits` (scores = class probabilities).
    Regression: :func:`~serkit.evaluation.regression.regression_metrics` on the values, with ``dimensions`` (the
    names) and ``num_utterances`` (scores = the values on [0, 1]). Multitask: both in one dict (scores = the class
    probabilities, then the values).
    """
    task = task if task is not None else TaskSpec()
    if task.kind == "classification":
        return metrics_from_logits(targets, outputs, label_names)
    outputs = np.asarray(outputs, dtype=np.float64)
    class_targets, dimension_targets = task.split_targets(np.asarray(targets))
    class_logits, values = task.split(outputs)
    metrics = {
        **regression_metrics(dimension_targets, values, task.dimensions),
        "dimensions": list(task.dimensions),
        "num_utterances": len(outputs),
    }
    if class_logits is None:
        return metrics, values
    class_metrics, probabilities = metrics_from_logits(class_targets, class_logits, label_names)
    return {**class_metrics, **metrics}, np.concatenate([probabilities, values], axis=1)
