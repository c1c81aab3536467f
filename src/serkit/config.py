"""Typed configuration: frozen dataclasses, plain YAML, dotted ``--set`` overrides.

A recipe YAML holds names and numbers only (no import paths, no object tags). It is read into nested frozen
dataclasses by :func:`from_dict`, which fails on unknown keys with the closest valid names and checks every value's
type, so a typo in a recipe (``train.lr`` written ``train.lrr``) stops the run before any work is done. Values are
range-checked there too (``train.epochs: 0``, ``input.hop: -0.2``, a dropout of 1.5), each error naming the key, the
value and the allowed range.

Values are read by the one parser of :mod:`serkit.core.values` (recipe files, ``--set key=value`` and
``serkit config set`` alike); this module only knows the schema.

See ``tests/test_config.py`` for examples.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from serkit.core.errors import ConfigError
from serkit.core.registry import closest_names
from serkit.core.values import describe_value, read_yaml

__all__ = [
    "ConfigError",
    "CorpusConfig",
    "ExperimentConfig",
    "InputConfig",
    "LabelsConfig",
    "ModelConfig",
    "ProtocolConfig",
    "StageConfig",
    "TrainConfig",
    "check_value",
    "from_dict",
    "read_recipe",
    "resolve_base",
    "schema_type",
]

T = TypeVar("T")


def _unknown_key(key: str, valid: list[str], where: str) -> ConfigError:
    hint = closest_names(key, valid)
    did_you_mean = f" Did you mean {', '.join(repr(f'{where}{h}') for h in hint)}?" if hint else ""
    return ConfigError(
        f"unknown config key {where + key!r}.{did_you_mean} Valid keys here: {', '.join(valid)}."
    )


# -- the schema: types of dotted keys ----------------------------------------------------------------------------


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", str(annotation))


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    """Check ``value`` against ``annotation`` (converting int->float, list->tuple) or raise ConfigError."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, option, key)
            except ConfigError as exc:
                errors.append(str(exc))
        if len(errors) == 1:  # `float | None`: the one real type's message says what is expected
            raise ConfigError(errors[0])
        raise ConfigError(
            f"{key}: expected {' | '.join(_type_name(a) for a in args)}, got {describe_value(value)}."
        )
    if dataclasses.is_dataclass(annotation):
        if not isinstance(value, Mapping):
            raise ConfigError(
                f"{key}: expected a mapping of {annotation.__name__} fields, got {describe_value(value)}."
            )
        return from_dict(annotation, value, prefix=f"{key}.")
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {describe_value(value)}.")
        item_type = args[0] if args else Any
        return tuple(_coerce(v, item_type, f"{key}[{i}]") for i, v in enumerate(value))
    if origin in (dict, Mapping) or annotation in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping, got {describe_value(value)}.")
        return dict(value)
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true or false, got {describe_value(value)}.")
    if annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{key}: expected a number, got {describe_value(value)}.")
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected an integer, got {describe_value(value)}.")
    if annotation is str:
        if isinstance(value, str):
            return value
        hint = (
            "; quote it to keep it as text" if isinstance(value, (int, float, bool)) or value is None else ""
        )
        raise ConfigError(f"{key}: expected a string, got {describe_value(value)}{hint}.")
    return value


class _FieldError(ValueError):
    """A value check whose message already names the full dotted key (``train.epochs=0 ...``)."""


def _require(key: str, value: Any, ok: bool, allowed: str) -> None:
    # callers pass comparisons such as `x > 0` or `0 <= x <= 1`, which are False for NaN: NaN fails too
    if not ok:
        raise _FieldError(f"{key}={value!r} is out of range: {allowed}.")


def from_dict(cls: type[T], data: Mapping[str, Any] | None, *, prefix: str = "") -> T:
    """Build dataclass ``cls`` from ``data``; unknown keys and wrong types raise ConfigError."""
    data = dict(data or {})
    hints = typing.get_type_hints(cls)
    valid = [f.name for f in dataclasses.fields(cls) if f.init]
    for key in data:
        if key not in valid:
            raise _unknown_key(key, valid, prefix)
    values = {key: _coerce(value, hints[key], f"{prefix}{key}") for key, value in data.items()}
    try:
        return cls(**values)
    except _FieldError as exc:
        raise ConfigError(str(exc)) from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{prefix.rstrip('.') or cls.__name__}: {exc}") from None


def schema_type(cls: type, key: str) -> Any:
    """The annotation of dotted ``key`` (``train.lr``, ``stages.0.name``) in dataclass ``cls``.

    Keys inside a free-form mapping (``model.args.dropout``, ``features.n_mfcc``) give ``Any``: those are checked
    by the validation of the whole recipe (the model's or feature's own arguments).

    Raises:
        ConfigError: ``key`` is not in the schema (naming the closest valid keys).
    """
    annotation: Any = cls
    parts = key.split(".")
    for position, part in enumerate(parts):
        where = ".".join(parts[:position])
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
            annotation = args[0]  # `X | None`: the schema below is X's
        if dataclasses.is_dataclass(annotation):
            valid = [f.name for f in dataclasses.fields(annotation) if f.init]
            if part not in valid:
                raise _unknown_key(part, valid, f"{where}." if where else "")
            annotation = typing.get_type_hints(annotation)[part]
        elif typing.get_origin(annotation) in (tuple, list):
            if not re.fullmatch(r"-?\d+", part):
                raise ConfigError(
                    f"{where} is a list; {part!r} is not an index (write {where}.0 for its first item)."
                )
            annotation = typing.get_args(annotation)[0] if typing.get_args(annotation) else Any
        else:
            return Any
    return annotation


def check_value(cls: type, key: str, value: Any) -> Any:
    """``value`` converted to the schema type of dotted ``key`` in ``cls`` (int -> float, list -> tuple).

    Raises:
        ConfigError: unknown key, or a value of the wrong type: ``train.lr: expected a number, got 'abc' (a
            string).``
    """
    return _coerce(value, schema_type(cls, key), key)


def _deep_copy(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, Mapping) else v for k, v in data.items()}


# --------------------------------------------------------------------------------------------------------------
# The experiment recipe schema. Every key a recipe may use is a field below; defaults are defined once, here.
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CorpusConfig:
    """Where the utterances come from: a registered corpus folder, or an existing manifest CSV."""

    name: str = "synthetic"
    root: str = ""
    manifest: str = ""
    options: dict = field(default_factory=dict)
    skip_unreadable: bool = True


@dataclass(frozen=True)
class LabelsConfig:
    """The class list: a registered label set (``set``) or an explicit ``labels`` list, plus merges and drops.

    ``target`` says what a class is: the emotion (default) or a registered sentiment target (``sentiment``,
    ``sentiment_binary``, ``sentiment_7_round``, ``sentiment_7_bins``), whose own classes are used when
    ``labels`` is empty."""

    set: str = ""
    labels: tuple[str, ...] = ()
    merge: dict = field(default_factory=dict)
    drop: tuple[str, ...] = ()
    target: str = "emotion"


@dataclass(frozen=True)
class ProtocolConfig:
    """The split protocol (see ``serkit corpus folds``); ``folds`` limits the run to some fold indices.

    ``split_seed`` seeds the split; ``null`` uses each run's seed (a new random split per seed, as GLAM did).
    """

    name: str = "speaker_kfold"
    options: dict = field(default_factory=dict)
    folds: tuple[int, ...] = ()
    split_seed: int | None = 0


@dataclass(frozen=True)
class InputConfig:
    """How waveforms become model inputs.

    ``mode: segments`` cuts fixed windows (GLAM: 1.8 s, hop 0.2 s); the model is trained on segments with the
    utterance label and an utterance's prediction is the mean of its segments' logits. ``mode: utterance`` feeds
    whole utterances (truncated to ``max_seconds`` if set; validation, test and prediction inputs to
    ``eval_max_seconds``, by default the same) with padding and lengths. ``mode: frames`` computes the
    utterance's features once and makes each frame a training example (DCNN stage 1: every image segment), the
    utterance's prediction again being the mean of their logits.
    """

    sample_rate: int = 16000
    mode: str = "segments"
    window: float = 1.8
    hop: float = 0.2
    eval_hop: float = 0.2
    short_policy: str = "pad"
    max_seconds: float | None = None
    eval_max_seconds: float | None = None
    normalize: str = "global"

    def __post_init__(self) -> None:
        for name, value, allowed in (
            ("mode", self.mode, ("segments", "utterance", "frames")),
            ("short_policy", self.short_policy, ("pad", "tile", "drop", "keep")),
            ("normalize", self.normalize, ("global", "none")),
        ):
            if value not in allowed:
                raise _FieldError(f"input.{name}={value!r}: use one of {', '.join(allowed)}.")
        _require(
            "input.sample_rate", self.sample_rate, self.sample_rate > 0, "use a rate in Hz > 0 (e.g. 16000)"
        )
        if self.mode == "segments":  # the other modes cut no windows
            for name in ("window", "hop", "eval_hop"):
                value = getattr(self, name)
                _require(f"input.{name}", value, value > 0, "use a duration in seconds > 0")
        for name in ("max_seconds", "eval_max_seconds"):
            value = getattr(self, name)
            _require(
                f"input.{name}",
                value,
                value is None or value > 0,
                "use a duration in seconds > 0, or null for no limit",
            )


#: Argument names that hold a probability: dropout, attention_dropout, dropout_input, mask_time_prob, p.
_PROBABILITY = re.compile(r"(^|_)(dropout|prob|probability|p)(_|$)")


@dataclass(frozen=True)
class ModelConfig:
    """A registered model (``serkit models``) and its keyword arguments."""

    name: str = "cnn_small"
    args: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        # probabilities are checked here, before any work, rather than when the model is built after feature
        # extraction; other arguments are checked by the model itself
        for name, value in self.args.items():
            if (
                _PROBABILITY.search(str(name))
                and isinstance(value, (int, float))
                and not isinstance(value, bool)
            ):
                _require(f"model.args.{name}", value, 0 <= value <= 1, "a probability, use a value in [0, 1]")


@dataclass(frozen=True)
class TrainConfig:
    """The training loop. ``select_on`` picks the checkpoint: ``validation`` (default), ``last`` epoch, or
    ``test`` (the original papers' behaviour: every report then says the test set was used for selection).
    ``threads`` caps torch's CPU threads per process (0 = torch's default).
    ``precision`` is Accelerate's mixed precision (``no``, ``fp16``, ``bf16``) where the device supports it.
    ``sampler: balanced`` draws training chunks class-balanced, with replacement (CPT-HuBERT).
    ``contrastive_weight`` > 0 adds a contrastive term on the model's embedding: ``contrastive: supervised``
    (Khosla et al.) or ``case_pairwise`` (CASE's pairwise BCE on cosine similarities, its temperature 0.05).
    ``find_unused_parameters`` is for multi-GPU runs of models that skip layers at random (HuBERT's layer drop)."""

    epochs: int = 30
    batch_size: int = 32
    eval_batch_size: int = 64
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9
    scheduler: str = "none"
    gamma: float = 0.95
    step_size: int = 10
    warmup: float = 0.1
    min_lr: float = 0.0
    plateau_decays: int = 2
    mixup_alpha: float = 0.0
    class_weights: bool = False
    loss: str = "cross_entropy"
    focal_gamma: float = 2.0
    grad_clip: float | None = None
    precision: str = "no"
    early_stopping: int = 0
    select_on: str = "validation"
    select_metric: str = "ua"
    num_workers: int = 0
    threads: int = 0
    tensorboard: bool = False
    progress: bool = True
    sampler: str = "shuffle"
    contrastive_weight: float = 0.0
    contrastive: str = "supervised"
    contrastive_temperature: float = 0.1
    find_unused_parameters: bool = False

    def __post_init__(self) -> None:
        if self.sampler not in ("shuffle", "balanced"):
            raise _FieldError(f"train.sampler={self.sampler!r}: use shuffle or balanced.")
        positive_int, at_least_0 = "use an integer >= 1", "use a value >= 0"
        checks = [
            ("epochs", self.epochs >= 1, positive_int),
            ("batch_size", self.batch_size >= 1, positive_int),
            ("eval_batch_size", self.eval_batch_size >= 1, positive_int),
            ("step_size", self.step_size >= 1, positive_int),
            ("lr", self.lr > 0, "use a learning rate > 0 (e.g. 1e-3)"),
            ("weight_decay", self.weight_decay >= 0, at_least_0),
            ("momentum", self.momentum >= 0, at_least_0),
            ("gamma", self.gamma > 0, "use a decay factor > 0 (e.g. 0.95)"),
            ("warmup", 0 <= self.warmup <= 1, "a fraction of the training steps, use a value in [0, 1]"),
            ("min_lr", self.min_lr >= 0, at_least_0),
            ("plateau_decays", self.plateau_decays >= 0, at_least_0),
            ("mixup_alpha", self.mixup_alpha >= 0, "use a value >= 0 (0 = no mixup)"),
            ("focal_gamma", self.focal_gamma >= 0, at_least_0),
            ("grad_clip", self.grad_clip is None or self.grad_clip > 0, "use a norm > 0, or null for none"),
            ("early_stopping", self.early_stopping >= 0, "use epochs >= 0 (0 = no early stopping)"),
            ("num_workers", self.num_workers >= 0, "use an integer >= 0 (0 = load in the main process)"),
            ("threads", self.threads >= 0, "use an integer >= 0 (0 = torch's default)"),
            (
                "contrastive_weight",
                self.contrastive_weight >= 0,
                "use a value >= 0 (0 = no contrastive term)",
            ),
            ("contrastive_temperature", self.contrastive_temperature > 0, "use a value > 0"),
        ]
        for name, ok, allowed in checks:
            _require(f"train.{name}", getattr(self, name), ok, allowed)


@dataclass(frozen=True)
class StageConfig:
    """One stage of a multi-stage recipe: the recipe plus ``set`` overrides (``--set`` syntax), trained from the
    weights of stage ``init_from`` of the same fold and seed (``""`` = from scratch).

    DCNN-BLSTMwA: ``{name: cnn, set: [model.name=alexnet, input.mode=frames]}`` then
    ``{name: blstm, set: [model.name=dcnn_blstm, input.mode=utterance], init_from: cnn}``.
    """

    name: str
    set: tuple[str, ...] = ()
    init_from: str = ""


@dataclass(frozen=True)
class ExperimentConfig:
    """A whole recipe: data, labels, protocol, input, features, model, training and the seeds to run.

    ``features`` is a registered feature with its options in one mapping (``{name: mfcc, n_mfcc: 26}``, see
    :mod:`serkit.features.spectral`); it is validated when the recipe is loaded. ``text`` is the transcript input of
    fusion models (``{name: word_vocab, ...}``, see :mod:`serkit.features.text_inputs`; empty = no text).
    ``stages`` chains trainings per (fold, seed), each the recipe plus the stage's overrides (see StageConfig);
    the last stage gives the results. ``notes`` are copied into every summary (e.g. how a chained pre-training
    was done).
    """

    name: str = "experiment"
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    labels: LabelsConfig = field(default_factory=LabelsConfig)
    protocol: ProtocolConfig = field(default_factory=ProtocolConfig)
    input: InputConfig = field(default_factory=InputConfig)
    features: dict = field(default_factory=lambda: {"name": "mfcc", "n_mfcc": 26})
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    text: dict = field(default_factory=dict)
    stages: tuple[StageConfig, ...] = ()
    notes: tuple[str, ...] = ()
    seeds: tuple[int, ...] = (0,)
    cache_dir: str = ""

    def __post_init__(self) -> None:
        if not self.seeds:
            raise _FieldError("seeds=[] runs nothing: give at least one seed, e.g. seeds: [0].")
        repeated = sorted({seed for seed in self.seeds if self.seeds.count(seed) > 1})
        if repeated:
            raise _FieldError(f"seeds={list(self.seeds)}: give each seed once ({repeated} repeated).")


def _deep_merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    merged = _deep_copy(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping) and key not in _REPLACED_KEYS:
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


#: Mappings replaced whole (not merged key by key) by a recipe that inherits from a base, at any depth: another
#: feature, model, corpus or protocol must not inherit the options of the base's one.
_REPLACED_KEYS = ("features", "model", "options", "args", "text")


def read_recipe(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read a recipe YAML; a top-level ``base: other.yaml`` (relative to this file) is read first and this file's
    values are merged over it, so a recipe can be written as the difference from another one."""
    path = Path(path).resolve()
    if path in _seen:
        raise ConfigError(
            f"{path}: recipe inherits from itself through 'base' ({' -> '.join(map(str, _seen))})."
        )
    return _merge_base(read_yaml(path), path, _seen)


def _merge_base(data: Mapping[str, Any], path: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    """``data`` (the content of recipe ``path``) merged over its ``base`` recipe, if it names one."""
    data = dict(data)
    parent = data.pop("base", None)
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise ConfigError(f"{path}: 'base' must be a path to another recipe, got {parent!r}.")
    return _deep_merge(read_recipe(path.parent / parent, (*seen, path)), data)


def resolve_base(data: Mapping[str, Any], path: str | Path) -> dict[str, Any]:
    """``data`` read as the content of recipe file ``path``: merged over its ``base`` recipe (relative to it)."""
    return _merge_base(data, Path(path).resolve(), ())


#: Functions that moved to :mod:`serkit.recipe` (they resolve registered names, which the schema does not know).
_MOVED_TO_RECIPE = ("check_recipe", "load_experiment", "stage_config")


def __getattr__(name: str) -> Any:
    """Deprecated aliases: ``from serkit.config import load_experiment`` (README examples) keeps working."""
    if name in _MOVED_TO_RECIPE:
        import importlib
        import warnings

        warnings.warn(
            f"serkit.config.{name} moved to serkit.recipe.{name}; import it from there"
            + (" or from serkit" if name == "load_experiment" else "")
            + ".",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module("serkit.recipe"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
