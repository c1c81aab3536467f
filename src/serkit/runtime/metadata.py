"""What an exported model says about itself: the ``metadata_props`` of a serkit ONNX file.

Written by the exporter (:mod:`serkit.inference.onnx_export`), read by the runtime
(:class:`serkit.runtime.OnnxRecognizer`); both go through :class:`ModelCard`, so the keys are spelled once. Every
value is a string (ONNX's metadata is a string map); structured values are JSON.

==================== =============================================================================================
key                  value
==================== =============================================================================================
``serkit.format``    the layout's version: :data:`FORMAT_VERSION` for a model of dimensions, which an older
                     runtime would misread, :data:`CLASSIFIER_FORMAT` for a classifier (still read by version-2
                     runtimes); a runtime refuses a file of a newer format
``serkit.labels``    JSON list: the class names, in the order of the graph's logits (``[]`` for regression)
``serkit.task``      ``classification``, ``regression`` or ``multitask`` (:mod:`serkit.runtime.task`): the graph's
                     outputs are the class logits, then one value on [0, 1] per dimension
``serkit.dimensions`` JSON list: the dimension names (``[]`` for a classifier)
``serkit.dimension_range`` JSON ``[low, high]``: the corpus scale of the dimensions (``[]`` for a classifier)
``serkit.sample_rate`` the rate (Hz) of the graph's waveform input
``serkit.window`` / ``serkit.hop``  segment length and hop in samples (prediction's ``input.eval_hop``)
``serkit.short_policy`` what a file shorter than one window becomes (``pad``, ``tile``, ``drop``)
``serkit.max_samples`` samples of each file used (``input.eval_max_seconds``), "" for all
``serkit.aggregation`` ``mean_logits``: a file's outputs are the mean of its segments', then softmax of the class
                     columns (dimension values are not softmaxed)
``serkit.normalize``  ``global`` (training statistics), ``utterance`` (over the graph's batch: one file per run)
                     or ``none``; applied inside the graph
``serkit.feature`` / ``serkit.input`` JSON: the feature and input configs of the checkpoint
``serkit.model``     the registered model name; ``serkit.source``: the exported checkpoint
``serkit.metrics``   JSON: the run's ``metrics.json`` (test scores of that fold and seed), ``{}`` if absent
``serkit.version``   the serkit version that exported it
==================== =============================================================================================
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from serkit.runtime.task import ModelTask

__all__ = ["AGGREGATIONS", "CLASSIFIER_FORMAT", "FORMAT_VERSION", "ModelCard"]

#: Version of the metadata layout below (2: ``utterance`` normalisation, which a version-1 runtime would batch
#: wrongly; 3: ``task``, dimension columns after the logits, which a version-2 runtime would softmax as classes).
FORMAT_VERSION = 3
#: The version written for a classifier: its file means the same to a version-2 runtime.
CLASSIFIER_FORMAT = 2
#: How segment logits become a file's: the only one serkit's prediction uses for segment models.
AGGREGATIONS = ("mean_logits",)

_PREFIX = "serkit."
_JSON_FIELDS = ("labels", "feature", "input", "metrics", "dimensions", "dimension_range")
_INT_FIELDS = ("sample_rate", "window", "hop")


@dataclass(frozen=True)
class ModelCard:
    """The facts a runtime needs to use an exported model as serkit's predict uses the checkpoint.

    Attributes:
        labels: class names, in logit order. sample_rate: Hz of the waveform input. window, hop: segment length
        and hop in samples. short_policy: for files shorter than one window. max_samples: samples used per file,
        None for all. aggregation: one of :data:`AGGREGATIONS`. normalize: ``global``, ``utterance`` (one file's
        windows per graph run) or ``none`` (applied in the graph). feature, input: the checkpoint's configs. model, source, version: provenance. metrics: the run's
        test metrics. task, dimensions, dimension_range: what the outputs are (:meth:`model_task`).
    """

    labels: list[str]
    sample_rate: int
    window: int
    hop: int
    short_policy: str = "pad"
    max_samples: int | None = None
    aggregation: str = "mean_logits"
    normalize: str = "none"
    feature: dict[str, Any] = field(default_factory=dict)
    input: dict[str, Any] = field(default_factory=dict)
    model: str = ""
    source: str = ""
    version: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    task: str = "classification"
    dimensions: list[str] = field(default_factory=list)
    dimension_range: list[float] = field(default_factory=list)

    def model_task(self, where: str = "model") -> ModelTask:
        """The outputs of the graph (:class:`~serkit.runtime.task.ModelTask`); ValueError if malformed."""
        meta = {"label_names": self.labels, "task": self.task, "dimensions": self.dimensions}
        return ModelTask.from_meta({**meta, "dimension_range": self.dimension_range}, where)

    def to_props(self) -> dict[str, str]:
        """The ``metadata_props`` map: ``serkit.<field>`` -> string."""
        version = CLASSIFIER_FORMAT if self.task == "classification" else FORMAT_VERSION
        props = {f"{_PREFIX}format": str(version)}
        for name, value in vars(self).items():
            if name in _JSON_FIELDS:
                text = json.dumps(value, sort_keys=True)
            else:
                text = "" if value is None else str(value)
            props[_PREFIX + name] = text
        return props

    @classmethod
    def from_props(cls, props: Mapping[str, str], where: str) -> ModelCard:
        """Inverse of :meth:`to_props`.

        Raises:
            ValueError: no serkit metadata, a newer format, or a missing or malformed key, naming ``where``.
        """
        if f"{_PREFIX}format" not in props:
            raise ValueError(
                f"{where}: this ONNX file has no serkit metadata (labels, sample rate, segments); export it with "
                "`serkit export RUN_OR_CHECKPOINT --format onnx -o model.onnx`."
            )
        if int(props[f"{_PREFIX}format"]) > FORMAT_VERSION:
            raise ValueError(
                f"{where}: metadata format {props[f'{_PREFIX}format']} is newer than this serkit reads "
                f"({FORMAT_VERSION}); upgrade serkit."
            )
        values: dict[str, Any] = {}
        for name in cls.__dataclass_fields__:
            key = _PREFIX + name
            if key not in props:
                continue
            text = props[key]
            try:
                if name in _JSON_FIELDS:
                    values[name] = json.loads(text)
                elif name in _INT_FIELDS:
                    values[name] = int(text)
                elif name == "max_samples":
                    values[name] = int(text) if text else None
                else:
                    values[name] = text
            except ValueError:
                raise ValueError(
                    f"{where}: metadata {key}={text!r} is malformed; export the model again."
                ) from None
        missing = [name for name in ("labels", "sample_rate", "window", "hop") if name not in values]
        if missing:
            raise ValueError(
                f"{where}: metadata lacks {', '.join(_PREFIX + m for m in missing)}; export the model again."
            )
        card = cls(**values)
        card.model_task(where)  # ValueError naming where: a task that does not fit its labels and dimensions
        if card.aggregation not in AGGREGATIONS:
            raise ValueError(
                f"{where}: aggregation {card.aggregation!r} is not one this serkit knows ({', '.join(AGGREGATIONS)})."
            )
        return card
