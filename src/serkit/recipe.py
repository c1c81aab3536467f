"""A recipe resolved once: an :class:`~serkit.config.ExperimentConfig` turned into the objects a run uses.

:mod:`serkit.config` is the schema (typed, validated values; it imports nothing above :mod:`serkit.core`). This
module is the one place where a config's *names* meet the registries: :func:`resolve` builds the feature, looks up
the model class and its factory's arguments, builds the (unfitted) text input and checks every registered name and
option key, once. The runner, its stages and the training strategies take these objects and never read the config's
dicts again:

================ =========================================================================================
``feature``      the :class:`~serkit.features.base.FeatureConfig` of ``features:`` (what
                 :class:`~serkit.features.pipeline.InputPipeline` computes)
``model``        :class:`ModelSpec`: registry name, recipe arguments, the model class and its declared
                 capabilities, and :meth:`ModelSpec.build` (which fills ``num_features`` / ``input_shape`` /
                 the text input's arguments)
``text``         :class:`TextSpec` or None: the text input and whether it learns from each fold's data
``protocol``     :class:`ProtocolSpec`: the split protocol, its options, split seed and fold selection
================ =========================================================================================

The label set needs the data when a recipe names none (every emotion present): :func:`resolve_label_set`.

:func:`load_experiment` (read a recipe file, apply ``--set`` overrides, validate) lives here because validation is
resolution: a recipe loads if and only if it resolves.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from serkit.config import (
    ConfigError,
    ExperimentConfig,
    LabelsConfig,
    StageConfig,
    from_dict,
    read_recipe,
    resolve_base,
)
from serkit.core.errors import SerkitError
from serkit.core.options import option_names
from serkit.core.registry import closest_names
from serkit.core.values import apply_overrides, to_dict
from serkit.data.corpora import CORPORA
from serkit.data.labels import LABEL_SETS, TARGETS, LabelSet, get_label_set
from serkit.data.protocols import AUTO_PROTOCOL, PROTOCOLS, Fold, choose_protocol, make_folds
from serkit.data.utterance import CANONICAL_EMOTIONS, Utterance
from serkit.features.base import FeatureConfig, feature_from_dict
from serkit.features.text import TextInput, text_input_from_dict
from serkit.models import MODELS, create_model, model_arguments, model_class
from serkit.models.base import SERModel
from serkit.models.losses import CONTRASTIVE_LOSSES, DIMENSION_LOSSES, LOSSES

__all__ = [
    "ModelSpec",
    "ProtocolSpec",
    "Recipe",
    "TextSpec",
    "check_recipe",
    "load_experiment",
    "resolve",
    "resolve_label_set",
    "resolve_stages",
    "stage_config",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelSpec:
    """A recipe's model: ``name`` (registry key), its recipe ``args``, the class the factory builds (whose declared
    attributes say how it is trained and fed, :class:`~serkit.models.base.SERModel`) and the keyword arguments the
    factory accepts."""

    name: str
    args: Mapping[str, Any]
    cls: type[SERModel]
    accepted: frozenset[str]

    def build(
        self, *, num_classes: int, num_features: int, num_frames: int, text_input: TextInput | None = None
    ) -> SERModel:
        """Create the model, filling ``num_features`` / ``input_shape`` ``(num_features, num_frames)`` from the
        features and the text input's arguments (``vocab_size``, ...) where the factory takes them and the recipe
        leaves them unset; the text input's initial word vectors go to :meth:`SERModel.init_text_embeddings`."""
        args = dict(self.args)
        derived = {
            "num_features": num_features,
            "input_shape": (num_features, num_frames),
            **(text_input.model_args() if text_input is not None else {}),
        }
        for key, value in derived.items():
            if key in self.accepted and key not in args:
                args[key] = value
        model = create_model(self.name, num_classes=num_classes, **args)
        matrix = text_input.embedding_matrix() if text_input is not None else None
        if matrix is not None:
            model.init_text_embeddings(torch.as_tensor(matrix))
        return model


@dataclass(frozen=True)
class TextSpec:
    """A recipe's text input: the unfitted ``template`` (built once from ``text:``) and ``key``, which identifies
    its options (two stages with the same key share their encodings)."""

    template: TextInput
    key: str

    @property
    def learns_from_data(self) -> bool:
        """True when each fold's training transcripts change the input (a vocabulary), False for frozen encoders."""
        return self.template.learns_from_data

    def fresh(self) -> TextInput:
        """An unfitted input: a copy of the template when it learns from data (one per fold), else the template."""
        return copy.deepcopy(self.template) if self.learns_from_data else self.template


@dataclass(frozen=True)
class ProtocolSpec:
    """The split: protocol ``name`` (``auto`` until :meth:`choose` has seen the speakers), its ``options``,
    ``split_seed`` (None = each run's seed) and the selected fold indices (``()`` = all)."""

    name: str
    options: Mapping[str, Any]
    split_seed: int | None
    folds: tuple[int, ...]

    def choose(self, utterances: list[Utterance]) -> tuple[ProtocolSpec, list[str]]:
        """``auto`` replaced by the protocol chosen for these speakers (recipe options override its defaults), and
        the notes for the report: the choice and any warning about too few speakers. Other protocols: unchanged."""
        if self.name != AUTO_PROTOCOL:
            return self, []
        name, options, warnings = choose_protocol(utterances)
        options = {**options, **self.options}
        speakers = len({u.speaker for u in utterances})
        for warning in warnings:
            logger.warning("%s", warning)
        return (
            replace(self, name=name, options=options),
            [f"protocol auto: {name} {options} for {speakers} speakers", *warnings],
        )

    def make_folds(self, utterances: list[Utterance], seed: int) -> list[Fold]:
        """The folds of run seed ``seed`` (split with ``split_seed`` if set), limited to the selected indices."""
        split_seed = seed if self.split_seed is None else self.split_seed
        folds = make_folds(utterances, self.name, seed=split_seed, options=dict(self.options))
        if self.folds:
            bad = [i for i in self.folds if not 0 <= i < len(folds)]
            if bad:
                raise SerkitError(
                    f"protocol.folds={list(self.folds)}: indices {bad} out of range; the "
                    f"protocol gives {len(folds)} folds (0..{len(folds) - 1})."
                )
            folds = [folds[i] for i in self.folds]
        return folds


@dataclass(frozen=True)
class Recipe:
    """One (stage's) experiment config and the objects resolved from it (see the module docstring)."""

    config: ExperimentConfig
    feature: FeatureConfig
    model: ModelSpec
    text: TextSpec | None
    protocol: ProtocolSpec

    def with_protocol(self, protocol: ProtocolSpec) -> Recipe:
        """This recipe with another protocol (``auto`` once chosen), in its config too."""
        chosen = replace(self.config.protocol, name=protocol.name, options=dict(protocol.options))
        return replace(self, config=replace(self.config, protocol=chosen), protocol=protocol)


def resolve(config: ExperimentConfig, where: str = "") -> Recipe:
    """Resolve ``config`` (ignoring its ``stages``, see :func:`resolve_stages`) into a :class:`Recipe`.

    Raises:
        ConfigError: an unknown feature, text input, corpus, model, protocol, label set, target or loss, or an
            option one of them does not take; the message starts with ``where`` (``stages.cnn: ``).
    """
    try:
        feature = feature_from_dict(config.features)
    except (KeyError, ValueError) as exc:
        raise ConfigError(f"{where}features: {exc.args[0] if exc.args else exc}") from None
    text = None
    if config.text:
        try:
            text = TextSpec(text_input_from_dict(config.text), json.dumps(config.text, sort_keys=True))
        except (KeyError, ValueError, TypeError) as exc:
            raise ConfigError(f"{where}text: {exc.args[0] if exc.args else exc}") from None
    try:
        _check_names(config)
    except ConfigError as exc:
        raise ConfigError(f"{where}{exc}") from None
    model = ModelSpec(
        config.model.name,
        dict(config.model.args),
        model_class(config.model.name),
        frozenset(model_arguments(config.model.name)),
    )
    protocol = ProtocolSpec(
        config.protocol.name,
        dict(config.protocol.options),
        config.protocol.split_seed,
        tuple(config.protocol.folds),
    )
    if (
        config.task == "regression" and config.train.select_metric == "ua"
    ):  # the default: regression has no UA
        config = replace(config, train=replace(config.train, select_metric="ccc"))
    return Recipe(config, feature, model, text, protocol)


def resolve_stages(recipe: Recipe) -> list[tuple[str, str, Recipe]]:
    """``(name, init_from, stage recipe)`` of every stage of a resolved recipe in order, or ``[("", "", recipe)]``
    for a single-stage one."""
    config = recipe.config
    if not config.stages:
        return [("", "", recipe)]
    return [
        (stage.name, stage.init_from, resolve(stage_config(config, stage), f"stages.{stage.name}: "))
        for stage in config.stages
    ]


def resolve_label_set(config: LabelsConfig, present: Iterable[str] = ()) -> LabelSet:
    """The recipe's label set: a registered ``set``, optionally overridden by explicit labels/merge/drop; for a
    non-emotion target, its own classes unless ``labels`` lists some of them; for an emotion recipe that names
    none, the ``present`` emotions (every emotion of the data, after merges and drops) in canonical order."""
    if config.set:
        base = get_label_set(config.set)
        return LabelSet(
            config.labels or base.labels, {**base.merge, **config.merge}, config.drop or base.drop
        )
    labels = tuple(config.labels) or (
        TARGETS.get(config.target).classes if config.target != "emotion" else ()
    )
    if not labels and config.target == "emotion":
        found = {config.merge.get(e, e) for e in present if e and e not in config.drop}
        labels = tuple(e for e in CANONICAL_EMOTIONS if e in found)
    if not labels:
        raise SerkitError(
            "labels: give a registered label set (labels.set: iemocap_4class) or an explicit list "
            "(labels.labels: [neutral, happy, sad, angry]); with neither, every emotion found in "
            "the data is used, and this data has none."
        )
    return LabelSet(labels, dict(config.merge), tuple(config.drop), target=config.target)


def stage_config(config: ExperimentConfig, stage: StageConfig) -> ExperimentConfig:
    """The recipe as stage ``stage`` runs it: ``config`` without its stages, plus the stage's overrides."""
    data = to_dict(config)
    data["stages"] = []
    try:
        return from_dict(ExperimentConfig, apply_overrides(data, list(stage.set)))
    except ConfigError as exc:
        raise ConfigError(f"stages.{stage.name}.set: {exc}") from None


def load_experiment(
    path: str | Path | None = None, overrides: list[str] | None = None, base: Mapping[str, Any] | None = None
) -> ExperimentConfig:
    """Read a recipe YAML (or start from ``base``), apply ``--set`` overrides, and validate it (stages too).

    Raises:
        ConfigError: naming the dotted key at fault and the fix.
    """
    data = read_recipe(path) if path is not None else dict(base or {})
    data, overrides = _route_stage_overrides(data, overrides or [])
    config = from_dict(ExperimentConfig, apply_overrides(data, overrides))
    resolve(config)
    seen: list[str] = []
    for stage in config.stages:
        if stage.name in seen or not stage.name.isidentifier():
            raise ConfigError(
                f"stages: stage names must be unique identifiers, got {stage.name!r} after {seen}."
            )
        if stage.init_from and stage.init_from not in seen:
            raise ConfigError(
                f"stages.{stage.name}.init_from={stage.init_from!r}: name an earlier stage "
                f"({', '.join(seen) or 'there is none'})."
            )
        seen.append(stage.name)
        resolve(stage_config(config, stage), f"stages.{stage.name}: ")
    return config


def check_recipe(data: Mapping[str, Any], path: str | Path) -> ExperimentConfig:
    """Validate ``data`` as the content of recipe file ``path`` (its ``base`` read relative to it), exactly as
    ``serkit train`` would load it; used to check an edited recipe before it is written.

    Raises:
        ConfigError: the same error ``serkit train`` would stop with.
    """
    return load_experiment(base=resolve_base(data, path))


def _route_stage_overrides(data: dict[str, Any], overrides: list[str]) -> tuple[dict[str, Any], list[str]]:
    """``--set stages.<stage>.train.epochs=5`` appends ``train.epochs=5`` to that stage's ``set`` list (so it wins
    over the stage's own value); every other override is returned for :func:`apply_overrides`."""
    stages = data.get("stages")
    if not overrides or not isinstance(stages, list):
        return data, overrides
    by_name = {stage.get("name"): index for index, stage in enumerate(stages) if isinstance(stage, Mapping)}
    data, remaining = (
        {**data, "stages": [dict(stage) if isinstance(stage, Mapping) else stage for stage in stages]},
        [],
    )
    for item in overrides:
        parts = item.split("=", 1)[0].strip().split(".")
        if len(parts) >= 3 and parts[0] == "stages" and parts[1] in by_name:
            stage = data["stages"][by_name[parts[1]]]
            stage["set"] = [*stage.get("set", []), item.split(".", 2)[2]]
        elif (
            len(parts) >= 2
            and parts[0] == "stages"
            and parts[1] not in by_name
            and "=" in item
            and len(parts) > 2
        ):
            raise ConfigError(
                f"--set {item!r}: no stage {parts[1]!r}; the recipe's stages are "
                f"{', '.join(map(str, by_name)) or '(none)'}."
            )
        else:
            remaining.append(item)
    return data, remaining


def _check_names(config: ExperimentConfig) -> None:
    """Registered names and their option keys, checked before any work (values are checked where they are used)."""
    checks = [
        ("corpus.name", CORPORA, config.corpus.name, "corpus.options", config.corpus.options, ()),
        ("model.name", MODELS, config.model.name, "model.args", config.model.args, ("num_classes",)),
    ]
    if config.protocol.name != AUTO_PROTOCOL:  # auto is resolved from the speakers once the corpus is read
        checks.append(
            (
                "protocol.name",
                PROTOCOLS,
                config.protocol.name,
                "protocol.options",
                config.protocol.options,
                ("seed",),
            )
        )
    if config.labels.set:
        checks.append(("labels.set", LABEL_SETS, config.labels.set, "", {}, ()))
    checks.append(("labels.target", TARGETS, config.labels.target, "", {}, ()))
    checks.append(("train.loss", LOSSES, config.train.loss, "", {}, ()))
    checks.append(("train.dimension_loss", DIMENSION_LOSSES, config.train.dimension_loss, "", {}, ()))
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
                raise ConfigError(
                    f"unknown key {options_key}.{option} for {name!r}.{did_you_mean} "
                    f"Valid: {', '.join(valid) or '(none)'}."
                )
