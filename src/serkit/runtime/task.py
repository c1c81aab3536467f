"""What a trained model's outputs are: class logits, emotion dimensions, or both (``task`` of its checkpoint).

A checkpoint written by ``serkit train`` stores its task next to ``label_names`` (see
:meth:`serkit.data.task.TaskSpec.describe`); every recogniser reads it with :meth:`ModelTask.from_meta`, so the
keys and their meaning are spelled once, here, below the torch recognisers, the ONNX runtime and ``serkit serve``.

=================== ========================================== ==================================================
``task``            model outputs per chunk                    what a recogniser returns per file
=================== ========================================== ==================================================
``classification``  ``C`` class logits                         softmax of the mean chunk logits (``predict_proba``)
``regression``      ``D`` dimension values on [0, 1]           mean of the chunk values (``predict_dimensions``)
``multitask``       ``C`` class logits, then ``D`` values      both
=================== ========================================== ==================================================

Dimension values are trained on [0, 1], a corpus rating ``v`` as ``(v - low) / (high - low)`` with ``[low, high] =
dimension_range``; :meth:`ModelTask.to_corpus_scale` maps them back (``low + value * (high - low)``). An ensemble's
value is the mean of its members' values. Values are not clipped: a model may predict slightly beyond [0, 1] (and
so beyond the corpus scale). Checkpoints older than the ``task`` key are classification models.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["SCALES", "TASKS", "ModelTask"]

#: The kinds of task a model can have (``task`` of a checkpoint); :data:`serkit.config.TASKS` of a recipe is the same
#: tuple (tested: the runtime imports nothing of the training side).
TASKS = ("classification", "regression", "multitask")
#: Where ``predict_dimensions`` puts the values: ``unit`` = [0, 1] as the model outputs them, ``corpus`` = the
#: rating scale of the training corpus (``dimension_range``).
SCALES = ("unit", "corpus")


@dataclass(frozen=True)
class ModelTask:
    """The outputs of a model: ``classes`` (logit columns first), then ``dimensions`` (values on [0, 1]).

    Attributes:
        kind: one of :data:`TASKS`.
        classes: the class names (``label_names``), ``()`` for regression.
        dimensions: the dimension names (e.g. ``("arousal", "valence")``), ``()`` for classification.
        dimension_range: ``(low, high)`` of the corpus scale the dimensions were rated on, None for classification.
    """

    kind: str = "classification"
    classes: tuple[str, ...] = ()
    dimensions: tuple[str, ...] = ()
    dimension_range: tuple[float, float] | None = None

    @property
    def has_classes(self) -> bool:
        return self.kind != "regression"

    @property
    def has_dimensions(self) -> bool:
        return self.kind != "classification"

    @property
    def num_outputs(self) -> int:
        """Columns of the model's output: the classes, then the dimensions."""
        return len(self.classes) + len(self.dimensions)

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any], where: str) -> ModelTask:
        """The task of a checkpoint's metadata (``label_names``, ``task``, ``dimensions``, ``dimension_range``).

        Raises:
            ValueError: an unknown task, or dimensions/classes that do not fit it, naming ``where``.
        """
        kind = meta.get("task") or "classification"
        classes = tuple(meta.get("label_names") or ())
        dimensions = tuple(meta.get("dimensions") or ())
        if kind not in TASKS:
            raise ValueError(f"{where}: task {kind!r} is not one of {', '.join(TASKS)}; upgrade serkit?")
        if kind == "classification":
            if dimensions:
                raise ValueError(f"{where}: a classification model with dimensions {list(dimensions)}.")
            return cls(kind, classes)
        if not dimensions or not all(isinstance(name, str) and name for name in dimensions):
            raise ValueError(
                f"{where}: task {kind!r} needs a non-empty list of dimension names, got {meta.get('dimensions')!r}."
            )
        if (kind == "regression") == bool(classes):
            need = "no label_names" if kind == "regression" else "label_names (its classes)"
            raise ValueError(f"{where}: task {kind!r} has {need}, got label_names={list(classes)!r}.")
        bounds = meta.get("dimension_range")
        try:
            low, high = (float(value) for value in bounds)
        except (TypeError, ValueError):
            raise ValueError(
                f"{where}: dimension_range must be [low, high] of the corpus scale (e.g. [1, 5]), got {bounds!r}."
            ) from None
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ValueError(f"{where}: dimension_range {[low, high]} needs finite low < high.")
        return cls(kind, classes, dimensions, (low, high))

    def describe(self) -> dict[str, Any]:
        """The metadata keys of :meth:`from_meta` (without ``label_names``): what a checkpoint, a model folder's
        ``config.json`` or an ONNX file stores."""
        if not self.has_dimensions:
            return {"task": self.kind}
        return {
            "task": self.kind,
            "dimensions": list(self.dimensions),
            "dimension_range": list(self.dimension_range),
        }

    def split(self, outputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Model outputs ``(..., C + D)`` -> class logits ``(..., C)`` and dimension values ``(..., D)``."""
        return outputs[..., : len(self.classes)], outputs[..., len(self.classes) :]

    def to_corpus_scale(self, values: np.ndarray) -> np.ndarray:
        """Values on [0, 1] -> the corpus scale, ``low + value * (high - low)`` (NaN stays NaN)."""
        if self.dimension_range is None:
            raise ValueError("this model predicts no dimensions, so it has no corpus scale.")
        low, high = self.dimension_range
        return low + np.asarray(values, dtype=np.float64) * (high - low)

    def scaled(self, values: np.ndarray, scale: str) -> np.ndarray:
        """``values`` (on [0, 1]) on ``scale`` (:data:`SCALES`), float32."""
        if scale not in SCALES:
            raise ValueError(
                f"scale={scale!r}: use 'unit' (the [0, 1] values) or 'corpus' (the rating scale)."
            )
        return (values if scale == "unit" else self.to_corpus_scale(values)).astype(np.float32)

    def require_classes(self, what: str) -> None:
        """Raise ValueError for a regression model asked for ``what`` (class probabilities or labels)."""
        if not self.has_classes:
            raise ValueError(
                f"{what}: this model predicts emotion dimensions ({', '.join(self.dimensions)}), not classes; "
                "use predict_dimensions(files) (values on [0, 1], or scale='corpus' for the "
                f"{self.dimension_range[0]:g}-{self.dimension_range[1]:g} scale) or analyse_dimensions(files)."
            )

    def require_dimensions(self, what: str) -> None:
        """Raise ValueError for a classification model asked for ``what`` (dimension values)."""
        if not self.has_dimensions:
            raise ValueError(
                f"{what}: this model is a classifier of {', '.join(self.classes)} and predicts no emotion "
                "dimensions; use predict_proba(files) or predict(files)."
            )

    def named(self, values: Sequence[float]) -> dict[str, float]:
        """``{dimension: value}`` of one row of values."""
        return {name: float(value) for name, value in zip(self.dimensions, values)}


class DimensionsMixin:
    """The dimension API of a recogniser whose subclass sets :attr:`task` and implements ``analyse_outputs(paths,
    texts)`` -> (probabilities (n, C), values (n, D) on [0, 1], speech (n,)): the torch recogniser
    (:class:`serkit.inference.Recognizer`) and the ONNX runtime (:class:`serkit.runtime.OnnxRecognizer`)."""

    task: ModelTask

    @property
    def dimensions_(self) -> list[str]:
        """The dimension names, in the order of :meth:`predict_dimensions`'s columns; ``[]`` for a classifier."""
        return list(self.task.dimensions)

    def analyse_outputs(self, paths, texts=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        raise NotImplementedError

    def analyse_dimensions(self, paths, texts=None, *, scale: str = "unit") -> tuple[np.ndarray, np.ndarray]:
        """Dimension values (num_files, D) float32 and speech flags (num_files,) of audio files or folders.

        ``scale``: ``unit`` (default) = the model's [0, 1] values; ``corpus`` = the rating scale of the training
        corpus, ``low + value * (high - low)`` with ``[low, high] = task.dimension_range``. A file's value is the
        mean of its chunks' values (and of an ensemble's members'); silence included (the flag says).

        Raises:
            ValueError: a classifier (no dimensions), or an unknown ``scale``; otherwise as ``analyse``.
        """
        self.task.require_dimensions("analyse_dimensions")
        _, values, speech = (
            self.analyse_outputs(paths, texts) if texts is not None else self.analyse_outputs(paths)
        )
        return self.task.scaled(values, scale), speech

    def predict_dimensions(self, paths, texts=None, *, scale: str = "unit") -> np.ndarray:
        """Dimension values (num_files, D) float32, columns ordered like :attr:`dimensions_`; ``scale`` as in
        :meth:`analyse_dimensions` (``"corpus"`` for the corpus's rating scale, e.g. 1-5)."""
        return self.analyse_dimensions(paths, texts, scale=scale)[0]
