"""Label sets: an explicit, ordered list of class names plus an explicit merge map.

Recipes never rely on implicit integer orders: ``labels: [neutral, happy, sad, angry]`` fixes the index of each
class, ``merge: {excited: happy}`` renames before filtering, and ``drop`` removes emotions *before* merging (GLAM
keeps only IEMOCAP ``exc`` as its "happy" class, so the original ``hap`` is dropped first). Utterances whose
emotion is not in the set after merging are left out, and the count left out is reported.

Named label sets used by the five systems are registered in :data:`LABEL_SETS`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from serkit.data.utterance import CANONICAL_EMOTIONS, Utterance
from serkit.registry import Registry

__all__ = ["LABEL_SETS", "LabelSet", "apply_label_set", "get_label_set", "parse_label_set"]


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

    def __post_init__(self) -> None:
        if len(set(self.labels)) != len(self.labels) or not self.labels:
            raise ValueError(f"label set {list(self.labels)} must be a non-empty list without repeats.")
        for name in [*self.labels, *self.merge, *self.merge.values(), *self.drop]:
            if name not in CANONICAL_EMOTIONS:
                raise ValueError(f"label {name!r} is not a canonical emotion; use one of {', '.join(CANONICAL_EMOTIONS)}.")

    def map(self, emotion: str) -> str | None:
        """The class name ``emotion`` becomes, or None if it is left out."""
        if emotion in self.drop:
            return None
        emotion = self.merge.get(emotion, emotion)
        return emotion if emotion in self.labels else None

    def index(self, label: str) -> int:
        return self.labels.index(label)

    def to_dict(self) -> dict:
        return {"labels": list(self.labels), "merge": dict(self.merge), "drop": list(self.drop)}


LABEL_SETS: Registry[LabelSet] = Registry("label set")


def _add(name: str, labels: Iterable[str], description: str, merge: Mapping[str, str] | None = None,
         drop: Iterable[str] = ()) -> None:
    label_set = LabelSet(tuple(labels), dict(merge or {}), tuple(drop), description)
    LABEL_SETS.register(name)(label_set)


_add("iemocap_4class", ["neutral", "happy", "sad", "angry"],
     "IEMOCAP neu/hap+exc/sad/ang (5531 utterances), the common 4-class set", {"excited": "happy"})
_add("iemocap_glam", ["neutral", "sad", "angry", "happy"],
     "GLAM: neu, sad, ang and exc as 'happy' (IEMOCAP hap dropped); order as in GLAM's code",
     {"excited": "happy"}, drop=["happy"])
_add("cpt_hubert", ["happy", "neutral", "sad", "angry"],
     "CPT-HuBERT order hap(+exc), neu, sad, ang", {"excited": "happy"})
_add("four_basic", ["neutral", "happy", "sad", "angry"], "neutral/happy/sad/angry (DCNN: ESD, JTES, RAVDESS)")
_add("meld7", ["neutral", "surprised", "fearful", "sad", "happy", "disgust", "angry"],
     "MELD 7 emotions in the MAT order (inferred from its class weights)")
_add("case7", ["angry", "neutral", "sad", "happy", "disgust", "surprised", "fearful"], "KEMDy20 7 classes, CASE order")
_add("ravdess8", ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"], "all RAVDESS emotions")
_add("emodb7", ["neutral", "boredom", "happy", "sad", "angry", "fearful", "disgust"], "all EmoDB emotions")
_add("crema6", ["neutral", "happy", "sad", "angry", "fearful", "disgust"], "all CREMA-D emotions")


def get_label_set(name: str) -> LabelSet:
    return LABEL_SETS.get(name)


def parse_label_set(spec: str, merge: Mapping[str, str] | None = None) -> LabelSet:
    """A registered name (``iemocap_4class``) or a comma list (``neutral,happy,sad,angry``) plus a merge map."""
    if "," not in spec and spec in LABEL_SETS:
        base = LABEL_SETS.get(spec)
        return base if not merge else LabelSet(base.labels, {**base.merge, **merge}, base.drop, base.description)
    if "," not in spec and spec not in CANONICAL_EMOTIONS:
        LABEL_SETS.get(spec)  # raises KeyError with close matches
    return LabelSet(tuple(part.strip() for part in spec.split(",") if part.strip()), dict(merge or {}))


def apply_label_set(utterances: Iterable[Utterance], label_set: LabelSet) -> tuple[list[Utterance], Counter]:
    """Keep utterances whose emotion maps into ``label_set``, with ``emotion`` set to the mapped class.

    Returns:
        (kept utterances, Counter of left-out original emotions) — callers log the Counter so nothing is dropped
        silently.
    """
    kept, left_out = [], Counter()
    for utt in utterances:
        mapped = label_set.map(utt.emotion)
        if mapped is None:
            left_out[utt.emotion or "(unlabelled)"] += 1
        else:
            kept.append(utt if mapped == utt.emotion else utt.with_(emotion=mapped))
    return kept, left_out
