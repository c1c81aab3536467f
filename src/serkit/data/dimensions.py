"""Dimensional emotion targets: which manifest column holds each dimension of a corpus, on which scale.

Corpora rate arousal, valence and dominance on their own scales (IEMOCAP and KEMDy20 1-5, MSP-Podcast 1-7) and
store them under their own names (IEMOCAP calls arousal ``activation``). :data:`DIMENSION_SCALES` records both per
corpus registry name; :func:`dimension_scale` picks the scale of a recipe (``targets``, ``target_range``),
:func:`dimension_matrix` reads the values of a list of utterances rescaled to [0, 1]; model outputs in [0, 1] go
back to the corpus's scale with :meth:`serkit.runtime.task.ModelTask.to_corpus_scale`.

A corpus that is not registered here (a user's own manifest) is read with identity columns (dimension
``arousal`` from the column ``arousal``) and needs an explicit ``target_range``.

Example:
    >>> scale = dimension_scale("iemocap", ["arousal", "valence"])
    >>> (scale.low, scale.high, dict(scale.columns))
    (1.0, 5.0, {'arousal': 'activation', 'valence': 'valence'})
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from serkit.core.errors import ConfigError, ManifestError
from serkit.core.registry import Registry
from serkit.data.utterance import Utterance

__all__ = [
    "DIMENSION_NAMES",
    "DIMENSION_SCALES",
    "MISSING_VALUES",
    "DimensionScale",
    "dimension_matrix",
    "dimension_scale",
]

#: The dimensions serkit knows by name, in the order recipes usually list them.
DIMENSION_NAMES = ("arousal", "valence", "dominance")

#: Cell values read as "not rated" (compared case-insensitively after stripping); anything else must be a number.
MISSING_VALUES = ("", "nan", "na", "n/a", "none", "null")

#: Slack for values written with rounding just outside the scale (``5.0000001``).
_TOLERANCE = 1e-6


@dataclass(frozen=True)
class DimensionScale:
    """The rating scale of a corpus and where its dimensions are stored.

    Attributes:
        low: the lowest rating (maps to 0).
        high: the highest rating (maps to 1).
        columns: dimension name -> the ``Utterance.extra`` key (manifest column) holding it.
        description: one line for reports, e.g. ``"IEMOCAP EmoEvaluation means, 1-5"``.
    """

    low: float
    high: float
    columns: Mapping[str, str] = field(default_factory=dict)
    description: str = ""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.low < self.high):
            raise ValueError(
                f"dimension scale [{self.low}, {self.high}]: need finite low < high (e.g. [1, 5])."
            )


#: Registered scales by corpus registry name; :func:`dimension_scale` is the way to read them.
DIMENSION_SCALES: Registry[DimensionScale] = Registry("dimension scale")


def _register(name: str, low: float, high: float, columns: Mapping[str, str], description: str) -> None:
    DIMENSION_SCALES.register(name)(DimensionScale(low, high, dict(columns), description))


_register(
    "iemocap",
    1.0,
    5.0,
    {"arousal": "activation", "valence": "valence", "dominance": "dominance"},
    "IEMOCAP EmoEvaluation means (activation as arousal), 1-5",
)
_register(
    "kemdy20",
    1.0,
    5.0,
    {"arousal": "arousal", "valence": "valence"},
    "KEMDy20 Total Evaluation arousal/valence, 1-5",
)
_register(
    "msp_podcast",
    1.0,
    7.0,
    {name: name for name in DIMENSION_NAMES},
    "MSP-Podcast consensus EmoAct/EmoVal/EmoDom, 1-7",
)
# The generator's scale is serkit.data.synthetic.DIMENSION_RANGE (kept equal by a test; data must not import it).
_register(
    "synthetic",
    1.0,
    5.0,
    {name: name for name in DIMENSION_NAMES},
    "SYNTHETIC corpus prototype + rendered prosody, 1-5",
)


def _check_range(target_range: Sequence[float]) -> tuple[float, float] | None:
    values = tuple(target_range)
    if not values:
        return None
    try:
        low, high = (float(v) for v in values)
    except (TypeError, ValueError):
        raise ConfigError(
            f"target_range={list(values)}: expected two numbers [low, high] such as [1, 5], or [] for the "
            "corpus's own scale."
        ) from None
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ConfigError(f"target_range={list(values)}: need finite low < high, e.g. [1, 5].")
    return low, high


def dimension_scale(corpus: str, names: Sequence[str], target_range: Sequence[float] = ()) -> DimensionScale:
    """The scale and columns for regressing ``names`` on ``corpus`` (``target_range`` overrides the range).

    Args:
        corpus: corpus registry name (``Utterance.corpus``); an unregistered name (or ``""``) reads each dimension
            from the column of the same name and needs ``target_range``.
        names: the dimensions to predict, in output order (``("arousal", "valence")``).
        target_range: ``[low, high]`` of the ratings; empty = the corpus's registered scale.

    Returns:
        A :class:`DimensionScale` whose ``columns`` hold exactly ``names``, in order.

    Raises:
        ConfigError: no or repeated names, a dimension the corpus does not rate, a bad ``target_range``, or an
            unregistered corpus without ``target_range``.
    """
    names = tuple(names)
    if not names or len(set(names)) != len(names):
        raise ConfigError(
            f"targets={list(names)}: give one or more dimension names without repeats, e.g. "
            f"[{', '.join(DIMENSION_NAMES)}]."
        )
    override = _check_range(target_range)
    if corpus in DIMENSION_SCALES:
        registered = DIMENSION_SCALES.get(corpus)
        unknown = [name for name in names if name not in registered.columns]
        if unknown:
            raise ConfigError(
                f"{corpus} has no {', '.join(unknown)}; its dimensions are {', '.join(registered.columns)}. "
                "Set targets to some of those."
            )
        low, high = override or (registered.low, registered.high)
        description = registered.description
        if override:
            description = f"{description}; range overridden to {low:g}-{high:g} (target_range)"
        return DimensionScale(low, high, {n: registered.columns[n] for n in names}, description)
    if override is None:
        what = f"corpus {corpus!r} has" if corpus else "utterances without a corpus name have"
        raise ConfigError(
            f"{what} no registered dimension scale (known: {', '.join(DIMENSION_SCALES.names())}); set "
            "target_range: [low, high] to the rating scale of its columns "
            f"{', '.join(names)}, e.g. [1, 5]."
        )
    low, high = override
    return DimensionScale(
        low,
        high,
        {n: n for n in names},
        f"{corpus or 'manifest'} columns {', '.join(names)}, {low:g}-{high:g}",
    )


def dimension_matrix(
    utterances: Sequence[Utterance], names: Sequence[str], scale: DimensionScale
) -> np.ndarray:
    """The ratings of ``utterances`` rescaled to [0, 1] as ``(value - low) / (high - low)``.

    A cell that is empty or a missing marker (:data:`MISSING_VALUES`, e.g. an IEMOCAP or MSP-Podcast utterance
    without a rating) gives NaN, which metrics and losses exclude per dimension.

    Args:
        utterances: records whose ``extra`` holds the columns named by ``scale.columns``.
        names: dimensions in output order; a name missing from ``scale.columns`` is read from the column of the
            same name.
        scale: from :func:`dimension_scale`.

    Returns:
        ``(num_utterances, len(names))`` float32 in [0, 1] or NaN.

    Raises:
        ManifestError: a column that no utterance has, a value that is not a number, or a value outside
            ``[low, high]`` (naming the utterance, column, value and range).
    """
    names = tuple(names)
    columns = [scale.columns.get(name, name) for name in names]
    matrix = np.full((len(utterances), len(names)), np.nan, dtype=np.float32)
    span = scale.high - scale.low
    for column in columns:
        if utterances and not any(column in utt.extra for utt in utterances):
            found = sorted({key for utt in utterances[:100] for key in utt.extra})
            raise ManifestError(
                f"no utterance has the column {column!r} needed for a dimension target; the extra columns "
                f"are {', '.join(found) or '(none)'}. Check targets (and the corpus of the manifest)."
            )
    for row, utt in enumerate(utterances):
        for col, column in enumerate(columns):
            text = str(utt.extra.get(column, "")).strip()
            if text.lower() in MISSING_VALUES:
                continue
            try:
                value = float(text)
            except ValueError:
                value = math.nan
            if not math.isfinite(value):
                raise ManifestError(
                    f"utterance {utt.id!r}: {column}={text!r} is not a number; write a rating or leave the "
                    "cell empty for 'not rated'."
                )
            if not scale.low - _TOLERANCE <= value <= scale.high + _TOLERANCE:
                raise ManifestError(
                    f"utterance {utt.id!r}: {column}={text} is outside the scale [{scale.low:g}, "
                    f"{scale.high:g}] ({scale.description}); set target_range: [low, high] to the scale the "
                    "values are on."
                )
            matrix[row, col] = min(max((value - scale.low) / span, 0.0), 1.0)
    return matrix
