"""What a recipe predicts (``task:``): the classes of a label set, emotion dimensions, or both from one head.

=================== ================================================ ===========================================
task                model outputs (per utterance)                    target of an utterance
=================== ================================================ ===========================================
``classification``  ``C`` class logits (the label set's classes)     class index (or 0/1 indicators, multi-label)
``regression``      ``D`` values, one per dimension in ``targets``   ``(D,)`` values in [0, 1], NaN = not rated
``multitask``       ``C`` class logits, then the ``D`` values        ``(1 + D,)``: class index, then the values
=================== ================================================ ===========================================

Dimension values are rescaled from the corpus's scale (:mod:`serkit.data.dimensions`, or the recipe's
``target_range``) to [0, 1], so one model and one loss serve every corpus; reports and predictions can map them
back with :meth:`~serkit.runtime.task.ModelTask.to_corpus_scale`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from serkit.data.dimensions import DimensionScale, dimension_matrix
from serkit.data.utterance import Utterance
from serkit.runtime.task import ModelTask

__all__ = ["TaskSpec"]


@dataclass(frozen=True)
class TaskSpec(ModelTask):
    """A recipe's task: the model's outputs (:class:`~serkit.runtime.task.ModelTask`: ``kind``, ``classes``,
    ``dimensions``, ``dimension_range``) and what training needs beside them.

    Attributes:
        scale: the corpus scale the dimensions are read on (None for classification).
        dimension_weight: weight of the dimension loss beside the class loss (multitask).
    """

    scale: DimensionScale | None = None
    dimension_weight: float = 1.0

    @classmethod
    def of_recipe(
        cls,
        kind: str,
        classes: Sequence[str],
        dimensions: Sequence[str] = (),
        scale: DimensionScale | None = None,
        dimension_weight: float = 1.0,
    ) -> TaskSpec:
        bounds = (scale.low, scale.high) if scale is not None else None
        return cls(kind, tuple(classes), tuple(dimensions), bounds, scale, dimension_weight)

    @property
    def output_names(self) -> tuple[str, ...]:
        """The model's output columns in order: the classes, then the dimensions."""
        return (*self.classes, *self.dimensions)

    def split(self, outputs: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Model outputs ``(n, C + D)`` -> class logits ``(n, C)`` (None for regression) and dimension values
        ``(n, D)`` (None for classification)."""
        classes, values = super().split(outputs)
        return (classes if self.has_classes else None, values if self.has_dimensions else None)

    def split_targets(self, targets: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Targets of a set (see the module table) -> class targets ``(n,)`` and dimension values ``(n, D)``."""
        if self.kind == "classification":
            return targets, None
        if self.kind == "regression":
            return None, targets
        return targets[:, 0].astype(np.int64), targets[:, 1:]

    def dimension_values(self, utterances: Sequence[Utterance]) -> np.ndarray:
        """``(n, D)`` float32 values of ``utterances`` on [0, 1], NaN where not rated (an error for a value off the
        scale, naming the utterance)."""
        assert self.scale is not None, "dimension_values of a classification task"
        return dimension_matrix(utterances, self.dimensions, self.scale)
