"""Typed configuration: frozen dataclasses, plain YAML, dotted ``--set`` overrides.

A recipe YAML holds names and numbers only (no import paths, no object tags). It is read into nested frozen
dataclasses by :func:`from_dict`, which fails on unknown keys with the closest valid names and checks every value's
type, so a typo in a recipe (``train.lr`` written ``train.lrr``) stops the run before any work is done.

See ``tests/test_config.py`` for examples.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from serkit.errors import SerkitError
from serkit.fileio import atomic_write_text
from serkit.registry import closest_names

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
    "from_dict",
    "load_experiment",
    "read_recipe",
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
        raise ConfigError(f"{key}: {value!r} fits none of {' | '.join(_type_name(a) for a in args)}.")
    if dataclasses.is_dataclass(annotation):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping of {annotation.__name__} fields, got {value!r}.")
        return from_dict(annotation, value, prefix=f"{key}.")
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}.")
        item_type = args[0] if args else Any
        return tuple(_coerce(v, item_type, f"{key}[{i}]") for i, v in enumerate(value))
    if origin in (dict, Mapping) or annotation in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}.")
        return dict(value)
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true or false, got {value!r}.")
    if annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{key}: expected a number, got {value!r}.")
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected an integer, got {value!r}.")
    if annotation is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key}: expected a string, got {value!r}.")
    return value


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
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{prefix.rstrip('.') or cls.__name__}: {exc}") from None


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
    """Apply ``key.sub=value`` overrides (values parsed as YAML scalars/lists) to a nested dict copy.

    Key validity is checked afterwards by :func:`from_dict`, which knows the schema.
    """
    result = _deep_copy(data)
    for item in overrides or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r} is not of the form key.sub=value (for example --set train.lr=3e-4).")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as exc:
            raise ConfigError(f"--set {item!r}: value is not valid YAML ({exc}).") from None
        if isinstance(value, str) and _looks_numeric(value):
            value = float(value)  # YAML 1.1 reads 3e-4 as a string
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


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _deep_copy(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, Mapping) else v for k, v in data.items()}


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping (safe loader only), with errors naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: recipe file not found.")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level, got {type(data).__name__}.")
    return data


def write_yaml(path: str | Path, data: Any) -> None:
    """Write a config (dataclass or dict) as YAML, atomically."""
    atomic_write_text(path, yaml.safe_dump(to_dict(data), sort_keys=False, allow_unicode=True))


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
                raise ValueError(f"input.{name}={value!r}: use one of {', '.join(allowed)}.")
        if self.mode == "segments" and not (0 < self.hop and 0 < self.eval_hop and 0 < self.window):
            raise ValueError("input.window, input.hop and input.eval_hop must be > 0 seconds.")


@dataclass(frozen=True)
class ModelConfig:
    """A registered model (``serkit models``) and its keyword arguments."""

    name: str = "cnn_small"
    args: dict = field(default_factory=dict)


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
            raise ValueError(f"train.sampler={self.sampler!r}: use shuffle or balanced.")
        if self.contrastive_weight < 0 or self.contrastive_temperature <= 0:
            raise ValueError("train.contrastive_weight must be >= 0 and train.contrastive_temperature > 0.")


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
    data = read_yaml(path)
    parent = data.pop("base", None)
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise ConfigError(f"{path}: 'base' must be a path to another recipe, got {parent!r}.")
    return _deep_merge(read_recipe(path.parent / parent, (*_seen, path)), data)


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
    from serkit.data.protocols import PROTOCOLS
    from serkit.models import MODELS
    from serkit.options import option_names

    checks = [("corpus.name", CORPORA, config.corpus.name, "corpus.options", config.corpus.options, ()),
              ("protocol.name", PROTOCOLS, config.protocol.name, "protocol.options", config.protocol.options,
               ("seed",)),
              ("model.name", MODELS, config.model.name, "model.args", config.model.args, ("num_classes",))]
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
