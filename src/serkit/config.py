"""Typed configuration: frozen dataclasses, plain YAML, dotted ``--set`` overrides.

A recipe YAML holds names and numbers only (no import paths, no object tags). It is read into nested frozen
dataclasses by :func:`from_dict`, which fails on unknown keys with the closest valid names and checks every value's
type, so a typo in a recipe (``train.lr`` written ``train.lrr``) stops the run before any work is done. Values are
range-checked there too (``train.epochs: 0``, ``input.hop: -0.2``, a dropout of 1.5), each error naming the key, the
value and the allowed range.

One value parser serves recipe files, ``--set key=value`` and ``serkit config set`` (:func:`parse_value`,
:func:`parse_yaml`): YAML with the safe loader, where ``3e-4`` is a float (plain PyYAML reads it as a string) and a
quoted ``'3'`` stays the string '3', so the same text gives the same value everywhere.

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

import yaml

from serkit.core.errors import SerkitError
from serkit.core.fileio import atomic_write_text
from serkit.core.registry import closest_names

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
    "apply_overrides",
    "check_recipe",
    "check_value",
    "dump_yaml",
    "format_value",
    "from_dict",
    "load_experiment",
    "parse_value",
    "parse_yaml",
    "read_recipe",
    "schema_type",
    "stage_config",
    "read_yaml",
    "to_dict",
    "write_yaml",
]

T = TypeVar("T")


class ConfigError(SerkitError, ValueError):
    """A recipe or override is invalid; the message names the dotted key and the fix."""


def _unknown_key(key: str, valid: list[str], where: str) -> ConfigError:
    hint = closest_names(key, valid)
    did_you_mean = f" Did you mean {', '.join(repr(f'{where}{h}') for h in hint)}?" if hint else ""
    return ConfigError(f"unknown config key {where + key!r}.{did_you_mean} Valid keys here: {', '.join(valid)}.")


# -- one YAML dialect for recipe files, --set and `serkit config set` ------------------------------------------


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, plus YAML 1.2 floats: ``3e-4``, ``1e5`` and ``1.0e5`` are numbers, not strings."""


class _Dumper(yaml.SafeDumper):
    """PyYAML's safe dumper; knows the loader's extra floats, so the string ``'3e-4'`` is written quoted."""


# PyYAML (YAML 1.1) reads a float only with a dot and a signed exponent, so `lr: 3e-4` was the string '3e-4'.
_EXPONENT_FLOAT = re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$")
for _yaml_class in (_Loader, _Dumper):
    _yaml_class.add_implicit_resolver("tag:yaml.org,2002:float", _EXPONENT_FLOAT, list("-+0123456789"))


def parse_yaml(text: str) -> Any:
    """YAML text read as serkit reads recipes (safe loader; ``3e-4`` is a float)."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader


def dump_yaml(data: Any, **options: Any) -> str:
    """YAML text of plain data that :func:`parse_yaml` reads back as the same values (options go to yaml.dump)."""
    return yaml.dump(data, Dumper=_Dumper, **{"sort_keys": False, "allow_unicode": True, **options})


def format_value(value: Any) -> str:
    """A value as one line of YAML flow style (``0.001``, ``[1, 2]``, ``{a: 1}``, ``'3'``, ``null``)."""
    text = dump_yaml(value, default_flow_style=True, width=10**9).strip()
    return text[:-4].rstrip() if text.endswith("\n...") else text.removesuffix("...").rstrip()


def parse_value(raw: str) -> Any:
    """The value of a ``key=value`` assignment (``--set``, ``serkit config set``), read as a recipe file reads it.

    ``3`` is an int, ``3e-4`` and ``0.5`` floats, ``true`` a bool, ``null`` None, ``[1, 2]`` a list, ``'3'`` (quoted)
    the string '3', anything else a string; an empty value is the empty string.

    Raises:
        ConfigError: the value is not valid YAML.
    """
    if not raw.strip():
        return ""
    try:
        return parse_yaml(raw)
    except yaml.YAMLError as exc:
        problem = str(exc).splitlines()[0]
        raise ConfigError(f"value {raw!r} is not valid YAML ({problem}); quote strings that contain ': ' or ' #', "
                          "e.g. key='a: b'.") from None


# -- the schema: types of dotted keys ----------------------------------------------------------------------------


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", str(annotation))


def _got(value: Any) -> str:
    """``'abc' (a string)``: the value and what YAML made of it, for type errors."""
    kinds = {bool: "true/false", int: "an integer", float: "a number", str: "a string", list: "a list",
             tuple: "a list", dict: "a mapping", type(None): "null"}
    got = f"{value!r} ({kinds.get(type(value), type(value).__name__)})"
    if isinstance(value, str):
        try:
            unquoted = parse_value(value)
        except ConfigError:
            unquoted = value
        if isinstance(unquoted, (int, float)):  # '3' in quotes: the quotes made it a string
            got += "; without quotes it would be read as " + format_value(unquoted)
    return got


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
        raise ConfigError(f"{key}: expected {' | '.join(_type_name(a) for a in args)}, got {_got(value)}.")
    if dataclasses.is_dataclass(annotation):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping of {annotation.__name__} fields, got {_got(value)}.")
        return from_dict(annotation, value, prefix=f"{key}.")
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {_got(value)}.")
        item_type = args[0] if args else Any
        return tuple(_coerce(v, item_type, f"{key}[{i}]") for i, v in enumerate(value))
    if origin in (dict, Mapping) or annotation in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping, got {_got(value)}.")
        return dict(value)
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true or false, got {_got(value)}.")
    if annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{key}: expected a number, got {_got(value)}.")
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected an integer, got {_got(value)}.")
    if annotation is str:
        if isinstance(value, str):
            return value
        hint = "; quote it to keep it as text" if isinstance(value, (int, float, bool)) or value is None else ""
        raise ConfigError(f"{key}: expected a string, got {_got(value)}{hint}.")
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
                raise ConfigError(f"{where} is a list; {part!r} is not an index (write {where}.0 for its first item).")
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


def to_dict(config: Any) -> Any:
    """Plain dict/list/scalar form of a config (tuples become lists), ready for YAML or JSON."""
    if dataclasses.is_dataclass(config):
        return {f.name: to_dict(getattr(config, f.name)) for f in dataclasses.fields(config)}
    if isinstance(config, (list, tuple)):
        return [to_dict(v) for v in config]
    if isinstance(config, Mapping):
        return {k: to_dict(v) for k, v in config.items()}
    return config


def apply_overrides(data: Mapping[str, Any], overrides: list[str] | None) -> dict[str, Any]:
    """Apply ``key.sub=value`` overrides (values read by :func:`parse_value`) to a nested dict copy.

    Key validity and value types are checked afterwards by :func:`from_dict`, which knows the schema.
    """
    result = _deep_copy(data)
    for item in overrides or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r} is not of the form key.sub=value (for example --set train.lr=3e-4).")
        try:
            value = parse_value(raw)
        except ConfigError as exc:
            raise ConfigError(f"--set {item!r}: {exc}") from None
        node = result
        parts = key.strip().split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                raise ConfigError(f"--set {item!r}: {part!r} is a value, not a section.")
            node = child
        node[parts[-1]] = value
    return result


def _deep_copy(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, Mapping) else v for k, v in data.items()}


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping (safe loader only), with errors naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: recipe file not found.")
    try:
        data = parse_yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level, got {type(data).__name__}.")
    return data


def write_yaml(path: str | Path, data: Any) -> None:
    """Write a config (dataclass or dict) as YAML, atomically."""
    atomic_write_text(path, dump_yaml(to_dict(data)))


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
        for name, value, allowed in (("mode", self.mode, ("segments", "utterance", "frames")),
                                     ("short_policy", self.short_policy, ("pad", "tile", "drop", "keep")),
                                     ("normalize", self.normalize, ("global", "none"))):
            if value not in allowed:
                raise _FieldError(f"input.{name}={value!r}: use one of {', '.join(allowed)}.")
        _require("input.sample_rate", self.sample_rate, self.sample_rate > 0, "use a rate in Hz > 0 (e.g. 16000)")
        if self.mode == "segments":  # the other modes cut no windows
            for name in ("window", "hop", "eval_hop"):
                value = getattr(self, name)
                _require(f"input.{name}", value, value > 0, "use a duration in seconds > 0")
        for name in ("max_seconds", "eval_max_seconds"):
            value = getattr(self, name)
            _require(f"input.{name}", value, value is None or value > 0,
                     "use a duration in seconds > 0, or null for no limit")


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
            if _PROBABILITY.search(str(name)) and isinstance(value, (int, float)) and not isinstance(value, bool):
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
        checks = [("epochs", self.epochs >= 1, positive_int),
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
                  ("contrastive_weight", self.contrastive_weight >= 0, "use a value >= 0 (0 = no contrastive term)"),
                  ("contrastive_temperature", self.contrastive_temperature > 0, "use a value > 0")]
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
        raise ConfigError(f"{path}: recipe inherits from itself through 'base' ({' -> '.join(map(str, _seen))}).")
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


def check_recipe(data: Mapping[str, Any], path: str | Path) -> ExperimentConfig:
    """Validate ``data`` as the content of recipe file ``path`` (its ``base`` read relative to it), exactly as
    ``serkit train`` would load it; used to check an edited recipe before it is written.

    Raises:
        ConfigError: the same error ``serkit train`` would stop with.
    """
    path = Path(path).resolve()
    return load_experiment(base=_merge_base(data, path, ()))


def load_experiment(path: str | Path | None = None, overrides: list[str] | None = None,
                    base: Mapping[str, Any] | None = None) -> ExperimentConfig:
    """Read a recipe YAML (or start from ``base``), apply ``--set`` overrides, and validate it (stages too)."""
    data = read_recipe(path) if path is not None else dict(base or {})
    data, overrides = _route_stage_overrides(data, overrides or [])
    config = from_dict(ExperimentConfig, apply_overrides(data, overrides))
    _check_config(config, "")
    seen: list[str] = []
    for stage in config.stages:
        if stage.name in seen or not stage.name.isidentifier():
            raise ConfigError(f"stages: stage names must be unique identifiers, got {stage.name!r} after {seen}.")
        if stage.init_from and stage.init_from not in seen:
            raise ConfigError(f"stages.{stage.name}.init_from={stage.init_from!r}: name an earlier stage "
                              f"({', '.join(seen) or 'there is none'}).")
        seen.append(stage.name)
        _check_config(stage_config(config, stage), f"stages.{stage.name}: ")
    return config


def _route_stage_overrides(data: dict[str, Any], overrides: list[str]) -> tuple[dict[str, Any], list[str]]:
    """``--set stages.<stage>.train.epochs=5`` appends ``train.epochs=5`` to that stage's ``set`` list (so it wins
    over the stage's own value); every other override is returned for :func:`apply_overrides`."""
    stages = data.get("stages")
    if not overrides or not isinstance(stages, list):
        return data, overrides
    by_name = {stage.get("name"): index for index, stage in enumerate(stages) if isinstance(stage, Mapping)}
    data, remaining = {**data, "stages": [dict(stage) if isinstance(stage, Mapping) else stage for stage in stages]}, []
    for item in overrides:
        parts = item.split("=", 1)[0].strip().split(".")
        if len(parts) >= 3 and parts[0] == "stages" and parts[1] in by_name:
            stage = data["stages"][by_name[parts[1]]]
            stage["set"] = [*stage.get("set", []), item.split(".", 2)[2]]
        elif len(parts) >= 2 and parts[0] == "stages" and parts[1] not in by_name and "=" in item and len(parts) > 2:
            raise ConfigError(f"--set {item!r}: no stage {parts[1]!r}; the recipe's stages are "
                              f"{', '.join(map(str, by_name)) or '(none)'}.")
        else:
            remaining.append(item)
    return data, remaining


def stage_config(config: ExperimentConfig, stage: StageConfig) -> ExperimentConfig:
    """The recipe as stage ``stage`` runs it: ``config`` without its stages, plus the stage's overrides."""
    data = to_dict(config)
    data["stages"] = []
    try:
        return from_dict(ExperimentConfig, apply_overrides(data, list(stage.set)))
    except ConfigError as exc:
        raise ConfigError(f"stages.{stage.name}.set: {exc}") from None


def _check_config(config: ExperimentConfig, where: str) -> None:
    from serkit.features.spectral import feature_from_dict
    from serkit.features.text_inputs import text_input_from_dict

    try:
        feature_from_dict(config.features)
    except (KeyError, ValueError) as exc:
        raise ConfigError(f"{where}features: {exc.args[0] if exc.args else exc}") from None
    if config.text:
        try:
            text_input_from_dict(config.text)
        except (KeyError, ValueError, TypeError) as exc:
            raise ConfigError(f"{where}text: {exc.args[0] if exc.args else exc}") from None
    try:
        _check_names(config)
    except ConfigError as exc:
        raise ConfigError(f"{where}{exc}") from None


def _check_names(config: ExperimentConfig) -> None:
    """Registered names and their option keys, checked before any work (values are checked where they are used)."""
    from serkit.data.corpora import CORPORA
    from serkit.data.labels import LABEL_SETS, TARGETS
    from serkit.training.losses import CONTRASTIVE_LOSSES, LOSSES
    from serkit.data.protocols import AUTO_PROTOCOL, PROTOCOLS
    from serkit.models import MODELS
    from serkit.core.options import option_names

    checks = [("corpus.name", CORPORA, config.corpus.name, "corpus.options", config.corpus.options, ()),
              ("model.name", MODELS, config.model.name, "model.args", config.model.args, ("num_classes",))]
    if config.protocol.name != AUTO_PROTOCOL:  # auto is resolved from the speakers once the corpus is read
        checks.append(("protocol.name", PROTOCOLS, config.protocol.name, "protocol.options", config.protocol.options,
                       ("seed",)))
    if config.labels.set:
        checks.append(("labels.set", LABEL_SETS, config.labels.set, "", {}, ()))
    checks.append(("labels.target", TARGETS, config.labels.target, "", {}, ()))
    checks.append(("train.loss", LOSSES, config.train.loss, "", {}, ()))
    checks.append(("train.contrastive", CONTRASTIVE_LOSSES, config.train.contrastive, "", {}, ()))
    for key, registry, name, options_key, options, fixed in checks:
        try:
            entry = registry.get(name)
        except KeyError as exc:
            raise ConfigError(f"{key}: {exc.args[0]}") from None
        if not options:
            continue
        valid = [n for n in option_names(entry) if n not in fixed]
        for option in options:
            if option not in valid:
                hint = closest_names(option, valid)
                did_you_mean = f" Did you mean {', '.join(repr(h) for h in hint)}?" if hint else ""
                raise ConfigError(f"unknown key {options_key}.{option} for {name!r}.{did_you_mean} "
                                  f"Valid: {', '.join(valid) or '(none)'}.")
