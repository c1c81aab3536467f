"""Typed configuration: frozen dataclasses, plain YAML, dotted ``--set`` overrides.

A recipe YAML holds names and numbers only (no import paths, no object tags). It is read into nested frozen
dataclasses by :func:`from_dict`, which fails on unknown keys with the closest valid names and checks every value's
type, so a typo in a recipe (``train.lr`` written ``train.lrr``) stops the run before any work is done. Values are
range-checked there too (``train.epochs: 0``, ``input.hop: -0.2``, a dropout of 1.5), each error naming the key, the
value and the allowed range.

Values are read by the one parser of :mod:`serkit.core.values` (recipe files, ``--set key=value`` and
``serkit config set`` alike); this module only knows the schema (the schema-agnostic machinery, type checks and
dotted-key lookups, is :mod:`serkit.core.typed`).

See ``tests/test_config.py`` for examples.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from serkit.core.errors import ConfigError
from serkit.core.typed import FieldError as _FieldError
from serkit.core.typed import check_value, from_dict, schema_type
from serkit.core.typed import deep_copy as _deep_copy
from serkit.core.typed import require as _require
from serkit.core.values import read_yaml

__all__ = [
    "AugmentConfig",
    "ConfigError",
    "CorpusConfig",
    "ExperimentConfig",
    "InputConfig",
    "LabelsConfig",
    "ModelConfig",
    "ProtocolConfig",
    "RunnerConfig",
    "TASKS",
    "StageConfig",
    "TrainConfig",
    "check_value",
    "from_dict",
    "read_recipe",
    "resolve_base",
    "schema_type",
]

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

    ``normalize`` (:mod:`serkit.features.normalize`): ``global`` (training statistics), ``none``, ``utterance``
    (each utterance's own statistics) or ``speaker`` (each speaker's; for the test speakers that is their
    unlabelled audio, so it needs ``transductive: true`` and every report says so).
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
    transductive: bool = False

    def __post_init__(self) -> None:
        for name, value, allowed in (
            ("mode", self.mode, ("segments", "utterance", "frames")),
            ("short_policy", self.short_policy, ("pad", "tile", "drop", "keep")),
            ("normalize", self.normalize, ("global", "none", "utterance", "speaker")),
        ):
            if value not in allowed:
                raise _FieldError(f"input.{name}={value!r}: use one of {', '.join(allowed)}.")
        if self.normalize == "speaker" and not self.transductive:
            raise _FieldError(
                "input.normalize='speaker' normalises the validation and test speakers with statistics of "
                "their own unlabelled audio (transductive: a test score then depends on the other test "
                "utterances); set input.transductive: true to allow it (every report says so), or use "
                "input.normalize: utterance, which needs only the utterance itself."
            )
        if self.transductive and self.normalize != "speaker":
            raise _FieldError(
                f"input.transductive=true has no effect with input.normalize={self.normalize!r}; only "
                "'speaker' uses the test speakers' audio. Remove it or set input.normalize: speaker."
            )
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
    ``precision``: ``auto`` (bf16 where the CPU or GPU computes it natively, else fp32), ``no``, ``fp16``, ``bf16``.
    ``sampler: balanced`` draws training chunks class-balanced, with replacement (CPT-HuBERT).
    ``contrastive_weight`` > 0 adds a contrastive term on the model's embedding: ``contrastive: supervised``
    (Khosla et al.) or ``case_pairwise`` (CASE's pairwise BCE on cosine similarities, its temperature 0.05).
    ``find_unused_parameters`` is for multi-GPU runs of models that skip layers at random (HuBERT's layer drop).
    Regularisers, all off by default: ``label_smoothing`` (cross-entropy, focal, mixup; bce smooths each label
    towards 0.5), ``ema_decay`` (validation, selection and best.pt use an exponential moving average of the weights,
    see :mod:`serkit.training.averaging`) and SpecAugment on training batches, ``spec_time_masks`` masks of at most
    ``spec_time_width`` of an example's frames and ``spec_freq_masks`` of at most ``spec_freq_width`` bins
    (:mod:`serkit.training.augment_features`).
    ``dimension_loss`` (tasks regression and multitask): ``ccc`` (1 - concordance correlation, the default) or
    ``mse``; ``select_metric`` ``ccc`` (mean CCC over the dimensions) is then the usual choice."""

    epochs: int = 30
    batch_size: int = 32
    eval_batch_size: int = 64  # on CPU larger is slower (benchmarks/precision.py --eval-batches)
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
    dimension_loss: str = "ccc"
    focal_gamma: float = 2.0
    grad_clip: float | None = None
    precision: str = "auto"
    early_stopping: int = 0
    select_on: str = "validation"
    select_metric: str = "ua"
    num_workers: int = 0
    threads: int = 0
    tensorboard: bool = False
    tsne: bool = True  # the t-SNE figure of the first run (PCA to 50 dims, at most 2,000 points)
    progress: bool = True
    sampler: str = "shuffle"
    contrastive_weight: float = 0.0
    contrastive: str = "supervised"
    contrastive_temperature: float = 0.1
    find_unused_parameters: bool = False
    label_smoothing: float = 0.0
    ema_decay: float = 0.0
    spec_time_masks: int = 0
    spec_time_width: float = 0.1
    spec_freq_masks: int = 0
    spec_freq_width: int = 8

    def __post_init__(self) -> None:
        if self.sampler not in ("shuffle", "balanced"):
            raise _FieldError(f"train.sampler={self.sampler!r}: use shuffle or balanced.")
        if self.precision not in ("auto", "no", "bf16", "fp16"):
            raise _FieldError(f"train.precision={self.precision!r}: use auto, no, bf16 or fp16.")
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
            ("label_smoothing", 0 <= self.label_smoothing < 1, "use a value in [0, 1) (0 = none, e.g. 0.1)"),
            ("ema_decay", 0 <= self.ema_decay < 1, "use 0 (no EMA) or a decay in (0, 1), e.g. 0.999"),
            ("spec_time_masks", self.spec_time_masks >= 0, "use an integer >= 0 (0 = no time masks)"),
            ("spec_time_width", 0 < self.spec_time_width <= 1, "a fraction of the frames, use (0, 1]"),
            ("spec_freq_masks", self.spec_freq_masks >= 0, "use an integer >= 0 (0 = no frequency masks)"),
            ("spec_freq_width", self.spec_freq_width >= 1, "use a number of bins >= 1"),
        ]
        for name, ok, allowed in checks:
            _require(f"train.{name}", getattr(self, name), ok, allowed)


#: Colours of generated noise (the same list as :data:`serkit.audio.augment.NOISE_COLORS`; config sits below audio).
_NOISE_COLORS = ("white", "pink", "brown")


@dataclass(frozen=True)
class AugmentConfig:
    """On-the-fly waveform augmentation of the training utterances (:mod:`serkit.training.augmented_data`); off by
    default: each augmentation applies with its ``*_prob``, all 0.

    Every epoch each training utterance is augmented anew (seeded by run seed, epoch and utterance), then cut and
    featurised like the cached chunks and normalised with the training statistics; validation and test are not
    augmented. In this order: ``speed`` a factor drawn from the list (Kaldi's speed perturbation: duration / factor,
    pitch x factor); additive noise at an SNR drawn uniformly in ``noise_snr_db`` [low, high], generated in a
    colour drawn from ``noise_colors`` or, when ``noise_dir`` is set, excerpts of the audio files in that folder; a
    gain drawn uniformly in ``gain_db`` [low, high] (lowered where the peak would exceed full scale: never clipped).
    """

    speed: tuple[float, ...] = (0.9, 1.0, 1.1)
    speed_prob: float = 0.0
    noise_snr_db: tuple[float, ...] = (5.0, 20.0)
    noise_prob: float = 0.0
    noise_dir: str = ""
    noise_colors: tuple[str, ...] = _NOISE_COLORS
    gain_db: tuple[float, ...] = (-6.0, 6.0)
    gain_prob: float = 0.0

    def __post_init__(self) -> None:
        for name in ("speed_prob", "noise_prob", "gain_prob"):
            value = getattr(self, name)
            _require(
                f"augment.{name}", value, 0 <= value <= 1, "a probability, use a value in [0, 1] (0 = off)"
            )
        _require(
            "augment.speed",
            list(self.speed),
            bool(self.speed) and all(0.5 <= factor <= 2 for factor in self.speed),
            "use a list of speed factors in [0.5, 2], e.g. [0.9, 1.0, 1.1]",
        )
        for name, example in (("noise_snr_db", "[5, 20]"), ("gain_db", "[-6, 6]")):
            value = getattr(self, name)
            _require(
                f"augment.{name}",
                list(value),
                len(value) == 2 and value[0] <= value[1],
                f"use [low, high] in dB with low <= high, e.g. {example}",
            )
        _require(
            "augment.noise_colors",
            list(self.noise_colors),
            bool(self.noise_colors) and set(self.noise_colors) <= set(_NOISE_COLORS),
            f"use a non-empty list of {', '.join(_NOISE_COLORS)}",
        )

    @property
    def enabled(self) -> bool:
        """Whether any augmentation is on (a ``*_prob`` above 0)."""
        return max(self.speed_prob, self.noise_prob, self.gain_prob) > 0


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
class RunnerConfig:
    """How the (fold, seed) runs are executed; never what they compute (a run folder resumes under other values).

    ``jobs``: runs trained at once in worker processes, each with ``train.threads`` (default: cores / jobs) torch
    threads; ``0`` = auto: as many as cores and runs for models under 5 M parameters, 1 for larger ones and on a
    GPU (see :func:`serkit.training.jobs.auto_jobs`). Every run's results are the same whatever the value."""

    jobs: int = 0

    def __post_init__(self) -> None:
        _require(
            "runner.jobs", self.jobs, self.jobs >= 0, "use an integer >= 0 (0 = chosen from the machine)"
        )


#: What a recipe predicts (``task:``): classes, emotion dimensions (arousal, valence, ...) or both from one head.
TASKS = ("classification", "regression", "multitask")


@dataclass(frozen=True)
class ExperimentConfig:
    """A whole recipe: data, labels, protocol, input, features, model, training and the seeds to run.

    ``features`` is a registered feature with its options in one mapping (``{name: mfcc, n_mfcc: 26}``, see
    :mod:`serkit.features.spectral`); it is validated when the recipe is loaded. ``text`` is the transcript input of
    fusion models (``{name: word_vocab, ...}``, see :mod:`serkit.features.text_inputs`; empty = no text).
    ``task`` is ``classification`` (default), ``regression`` (the dimensions in ``targets``, each rescaled from the
    corpus's scale, or ``target_range``, to [0, 1]) or ``multitask`` (classes and dimensions; the dimension loss is
    weighted by ``dimension_weight``). ``strict`` turns the corpus checks run at the start of training
    (:mod:`serkit.data.check`) from warnings into errors.
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
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    runner: RunnerConfig = field(default_factory=RunnerConfig)
    text: dict = field(default_factory=dict)
    stages: tuple[StageConfig, ...] = ()
    notes: tuple[str, ...] = ()
    seeds: tuple[int, ...] = (0,)
    cache_dir: str = ""
    task: str = "classification"
    targets: tuple[str, ...] = ()
    target_range: tuple[float, ...] = ()
    dimension_weight: float = 1.0
    strict: bool = False

    def __post_init__(self) -> None:
        _require(
            "task",
            self.task,
            self.task in TASKS,
            f"use one of {', '.join(TASKS)} (classification: the label set's classes; regression: the "
            "dimensions named in `targets`; multitask: both, one head)",
        )
        if (self.task == "classification") == bool(self.targets):
            raise _FieldError(
                f"task={self.task}, targets={list(self.targets)}: task regression or multitask needs `targets`, "
                "the dimensions to predict (e.g. [arousal, valence, dominance]); classification takes none."
            )
        low_high = len(self.target_range) == 2 and self.target_range[0] < self.target_range[1]
        _require(
            "target_range", list(self.target_range), not self.target_range or low_high, "give [low, high]"
        )
        _require("dimension_weight", self.dimension_weight, self.dimension_weight > 0, "use a number > 0")
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
