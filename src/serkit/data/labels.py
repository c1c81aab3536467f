"""Label sets: an explicit, ordered list of class names plus an explicit merge map.

Recipes never rely on implicit integer orders: ``labels: [neutral, happy, sad, angry]`` fixes the index of each
class, ``merge: {excited: happy}`` renames before filtering, and ``drop`` removes emotions *before* merging (GLAM
keeps only IEMOCAP ``exc`` as its "happy" class, so the original ``hap`` is dropped first). Utterances whose
emotion is not in the set after merging are left out, and the count left out is reported.

Named label sets used by the five systems are registered in :data:`LABEL_SETS`.

The class of an utterance is its emotion by default. Sentiment tasks (MELD's three sentiments, CMU-MOSI/MOSEI's
score from -3 to +3 as two or seven classes) name a registered *target* instead (:data:`TARGETS`): a function of
the utterance's corpus fields whose class names are the target's own (``negative``, ``positive``, ...), e.g.
``labels: {target: sentiment_binary}``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from serkit.core.registry import Registry
from serkit.data.utterance import CANONICAL_EMOTIONS, Utterance

__all__ = [
    "LABEL_SETS",
    "TARGETS",
    "LabelSet",
    "Target",
    "apply_label_set",
    "get_label_set",
    "parse_label_set",
]


@dataclass(frozen=True)
class Target:
    """What an utterance's class is: ``classes`` (in their default order) and ``of(utterance)`` -> class or None.

    A multi-label target (MOSEI's six emotions, several of which may be present at once) has ``multi_label``
    set and ``of`` returning the ``;``-joined present classes (``""`` = none present, None = not annotated).
    """

    classes: tuple[str, ...]
    of: Callable[[Utterance], str | None]
    description: str = ""
    multi_label: bool = False


TARGETS: Registry[Target] = Registry("label target")


def _score(utt: Utterance) -> float | None:
    """The sentiment score of a MOSI/MOSEI record (extra ``sentiment``), None when absent or not a number."""
    try:
        value = float(utt.extra.get("sentiment", ""))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _binary(utt: Utterance) -> str | None:
    score = _score(utt)
    if score is None or score == 0:  # MAT's binary task drops the neutral zero
        return None
    return "negative" if score < 0 else "positive"


_SEVEN = ("-3", "-2", "-1", "0", "+1", "+2", "+3")


def _seven_round(utt: Utterance) -> str | None:
    score = _score(utt)
    return None if score is None else _SEVEN[int(round(min(3.0, max(-3.0, score)))) + 3]


def _seven_bins(utt: Utterance) -> str | None:
    """MAT's MOSEI bins: (<-2, [-2,-1), [-1,0), 0, (0,1], (1,2], >2)."""
    score = _score(utt)
    if score is None:
        return None
    if score < 0:
        return "-3" if score < -2 else "-2" if score < -1 else "-1"
    if score == 0:
        return "0"
    return "+1" if score <= 1 else "+2" if score <= 2 else "+3"


#: MOSEI score columns (extras written by the ``mosei`` loader) -> canonical emotion.
_MOSEI_EMOTIONS = {
    "happy": "happy",
    "sad": "sad",
    "anger": "angry",
    "surprise": "surprised",
    "disgust": "disgust",
    "fear": "fearful",
}


def _mosei_emotions(utt: Utterance) -> str | None:
    """The emotions whose MOSEI score is > 0 (MAT: ``Y > 0 -> 1``), ``;``-joined; None without the six scores."""
    present = []
    for column, emotion in _MOSEI_EMOTIONS.items():
        try:
            score = float(utt.extra[column])
        except (KeyError, ValueError):
            return None
        if score > 0:
            present.append(emotion)
    return ";".join(present)


TARGETS.register("emotion")(Target((), lambda utt: utt.emotion or None, "the canonical emotion (default)"))
TARGETS.register("sentiment")(
    Target(
        ("negative", "neutral", "positive"),
        lambda utt: utt.extra.get("sentiment") or None,
        "the corpus's sentiment word (MELD: negative, neutral, positive)",
    )
)
TARGETS.register("sentiment_binary")(
    Target(("negative", "positive"), _binary, "sign of the MOSI/MOSEI score; 0 left out")
)
TARGETS.register("sentiment_7_round")(Target(_SEVEN, _seven_round, "MOSI score rounded to -3..+3"))
TARGETS.register("sentiment_7_bins")(Target(_SEVEN, _seven_bins, "MOSEI score in MAT's seven bins"))
TARGETS.register("mosei_emotions")(
    Target(
        tuple(_MOSEI_EMOTIONS.values()),
        _mosei_emotions,
        "MOSEI's six emotions, multi-label (score > 0 = present)",
        multi_label=True,
    )
)


@dataclass(frozen=True)
class LabelSet:
    """Ordered class names, a merge map applied first, and emotions dropped before merging.

    Example:
        >>> ls = LabelSet(("neutral", "happy"), merge={"excited": "happy"})
        >>> ls.map("excited"), ls.map("sad"), ls.index("happy")
        ('happy', None, 1)
    """

    labels: tuple[str, ...]
    merge: Mapping[str, str] = field(default_factory=dict)
    drop: tuple[str, ...] = ()
    description: str = ""
    target: str = "emotion"

    def __post_init__(self) -> None:
        if len(set(self.labels)) != len(self.labels) or not self.labels:
            raise ValueError(f"label set {list(self.labels)} must be a non-empty list without repeats.")
        valid = CANONICAL_EMOTIONS if self.target == "emotion" else TARGETS.get(self.target).classes
        for name in [*self.labels, *self.merge, *self.merge.values(), *self.drop]:
            if name not in valid:
                what = (
                    "a canonical emotion"
                    if self.target == "emotion"
                    else f"a class of target {self.target!r}"
                )
                raise ValueError(f"label {name!r} is not {what}; use one of {', '.join(valid)}.")

    @property
    def multi_label(self) -> bool:
        return TARGETS.get(self.target).multi_label

    def class_of(self, utt: Utterance) -> str | None:
        """The class ``utt`` belongs to in this set, or None if it is left out (multi-label: see classes_of)."""
        if self.multi_label:
            return None if self.classes_of(utt) is None else ";".join(self.classes_of(utt))
        return self.map(TARGETS.get(self.target).of(utt) or "")

    def classes_of(self, utt: Utterance) -> tuple[str, ...] | None:
        """Multi-label targets: the classes of this set present in ``utt`` (maybe none), None if not annotated."""
        value = TARGETS.get(self.target).of(utt)
        if value is None:
            return None
        return tuple(name for name in self.labels if name in value.split(";"))

    def indicator(self, utt: Utterance) -> np.ndarray:
        """Multi-label targets: float32 0/1 vector (num_classes,) of the classes present in ``utt``."""
        present = self.classes_of(utt) or ()
        return np.array([name in present for name in self.labels], dtype=np.float32)

    def map(self, emotion: str) -> str | None:
        """The class name ``emotion`` becomes, or None if it is left out."""
        if emotion in self.drop:
            return None
        emotion = self.merge.get(emotion, emotion)
        return emotion if emotion in self.labels else None

    def index(self, label: str) -> int:
        return self.labels.index(label)

    def to_dict(self) -> dict:
        return {
            "labels": list(self.labels),
            "merge": dict(self.merge),
            "drop": list(self.drop),
            "target": self.target,
        }


LABEL_SETS: Registry[LabelSet] = Registry("label set")


def _add(
    name: str,
    labels: Iterable[str],
    description: str,
    merge: Mapping[str, str] | None = None,
    drop: Iterable[str] = (),
) -> None:
    label_set = LabelSet(tuple(labels), dict(merge or {}), tuple(drop), description)
    LABEL_SETS.register(name)(label_set)


_add(
    "iemocap_4class",
    ["neutral", "happy", "sad", "angry"],
    "IEMOCAP neu/hap+exc/sad/ang (5531 utterances), the common 4-class set",
    {"excited": "happy"},
)
_add(
    "iemocap_glam",
    ["neutral", "sad", "angry", "happy"],
    "GLAM: neu, sad, ang and exc as 'happy' (IEMOCAP hap dropped); order as in GLAM's code",
    {"excited": "happy"},
    drop=["happy"],
)
_add(
    "cpt_hubert",
    ["happy", "neutral", "sad", "angry"],
    "CPT-HuBERT order hap(+exc), neu, sad, ang",
    {"excited": "happy"},
)
_add("four_basic", ["neutral", "happy", "sad", "angry"], "neutral/happy/sad/angry (DCNN: ESD, JTES, RAVDESS)")
_add(
    "meld7",
    ["neutral", "surprised", "fearful", "sad", "happy", "disgust", "angry"],
    "MELD 7 emotions in the MAT order (inferred from its class weights)",
)
_add(
    "case7",
    ["angry", "neutral", "sad", "happy", "disgust", "surprised", "fearful"],
    "KEMDy20 7 classes, CASE order",
)
_add(
    "ravdess8",
    ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"],
    "all RAVDESS emotions",
)
_add("emodb7", ["neutral", "boredom", "happy", "sad", "angry", "fearful", "disgust"], "all EmoDB emotions")
_add("crema6", ["neutral", "happy", "sad", "angry", "fearful", "disgust"], "all CREMA-D emotions")


def get_label_set(name: str) -> LabelSet:
    return LABEL_SETS.get(name)


def parse_label_set(spec: str, merge: Mapping[str, str] | None = None) -> LabelSet:
    """A registered name (``iemocap_4class``) or a comma list (``neutral,happy,sad,angry``) plus a merge map."""
    if "," not in spec and spec in LABEL_SETS:
        base = LABEL_SETS.get(spec)
        return (
            base if not merge else LabelSet(base.labels, {**base.merge, **merge}, base.drop, base.description)
        )
    if "," not in spec and spec not in CANONICAL_EMOTIONS:
        LABEL_SETS.get(spec)  # raises KeyError with close matches
    return LabelSet(tuple(part.strip() for part in spec.split(",") if part.strip()), dict(merge or {}))


def apply_label_set(utterances: Iterable[Utterance], label_set: LabelSet) -> tuple[list[Utterance], Counter]:
    """Keep utterances whose class maps into ``label_set``, with ``emotion`` set to the mapped class (for the
    default emotion target; other targets leave the records unchanged).

    Returns:
        (kept utterances, Counter of left-out original emotions) — callers log the Counter so nothing is dropped
        silently.
    """
    kept, left_out = [], Counter()
    target = TARGETS.get(label_set.target)
    for utt in utterances:
        mapped = label_set.class_of(utt)
        if mapped is None:
            left_out[target.of(utt) or "(unlabelled)"] += 1
        elif label_set.target == "emotion":
            kept.append(utt if mapped == utt.emotion else utt.with_(emotion=mapped))
        else:  # the class is not an emotion: the record stays as it is, the runner asks class_of again
            kept.append(utt)
    return kept, left_out
