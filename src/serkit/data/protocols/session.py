"""Session-independent protocols: leave one session out (IEMOCAP) and CASE's KEMDy20 session split."""

from __future__ import annotations

import logging
import random
from collections import Counter, defaultdict

from serkit.core.errors import ProtocolError
from serkit.data.protocols.base import Fold, build_fold, register_protocol
from serkit.data.protocols.grouping import group_utterances, leave_one_group_out, require_field
from serkit.data.stats import natural_key
from serkit.data.utterance import Utterance

__all__ = ["case_session_split", "leave_one_session_out"]

logger = logging.getLogger(__name__)


@register_protocol(session_independent=True)
def leave_one_session_out(utterances: list[Utterance], *, seed: int, val_sessions: int = 1) -> list[Fold]:
    """One fold per session as test (IEMOCAP LOSO, CPT-HuBERT); validation = another whole session.

    Sessions and speakers are both kept on one side. The default takes one other session, chosen by the seed,
    as validation (IEMOCAP: 3 sessions train, 1 val, 1 test). Splitting the held-out session's two speakers into
    val and test, as CPT-HuBERT appears to do, would put one session on two sides and is not offered.

    Args:
        val_sessions: sessions taken from the training side for validation; 0 leaves validation empty.
    """
    return leave_one_group_out(
        utterances,
        "session",
        seed=seed,
        num_val=val_sessions,
        option="val_sessions",
        protocol="leave_one_session_out",
    )


_CASE_LABELS = ("fearful", "disgust", "angry", "sad", "surprised", "happy")


@register_protocol(session_independent=True)
def case_session_split(
    utterances: list[Utterance],
    *,
    seed: int,
    train_sessions: int = 32,
    balanced_labels: tuple[str, ...] = _CASE_LABELS,
    val_sessions: int = 4,
    max_attempts: int = 10_000,
) -> list[Fold]:
    """CASE's label-balanced session split of KEMDy20 (32 sessions train, 8 test), plus a validation carve-out.

    As in CASE's ``split.py``: sessions (in natural order) are shuffled with Python's ``random.Random(seed)``
    until, for every label in ``balanced_labels``, the fraction of that label's utterances in the train
    sessions is within ``train_sessions / num_sessions`` +- 0.001; the tolerance widens by 0.001 every 100
    attempts. With seed 0 and the same session list this picks the original's sessions.

    The original had no validation set (its epoch was chosen on test). Here the last ``val_sessions`` of the
    accepted train sessions become validation; ``val_sessions=0`` reproduces the original exactly, with an empty
    validation set (reports then state that no validation was used for selection).

    Args:
        train_sessions: sessions on the train side (train + validation).
        balanced_labels: emotions whose train fraction must match the session fraction.
        val_sessions: train-side sessions moved to validation.
        max_attempts: give up after this many shuffles.
    """
    require_field(utterances, "session", "case_session_split")
    groups = group_utterances(utterances, lambda u: u.session, also_link=("speaker",))
    linked = [g.name for g in groups if len(g.members) > 1]
    if linked:
        raise ProtocolError(
            f"case_session_split: sessions {linked[0]} share a speaker or identical audio, so they "
            "cannot be split independently; use leave_one_session_out or fix the manifest."
        )
    sessions = [g.name for g in groups]  # natural order, like the original's sorted data.csv
    if not 0 < train_sessions < len(sessions):
        raise ProtocolError(
            f"case_session_split: train_sessions={train_sessions} must be between 1 and "
            f"{len(sessions) - 1} ({len(sessions)} sessions found)."
        )
    if not 0 <= val_sessions < train_sessions:
        raise ProtocolError(
            f"case_session_split: val_sessions={val_sessions} must be between 0 and {train_sessions - 1}."
        )
    # Counts per (session, label), so that each attempt only sums a few numbers.
    per_session: dict[str, Counter] = defaultdict(Counter)
    for utt in utterances:
        per_session[utt.session][utt.emotion] += 1
    label_counts = sum(per_session.values(), Counter())
    absent = [label for label in balanced_labels if not label_counts[label]]
    if absent:
        raise ProtocolError(
            f"case_session_split: balanced label(s) {absent} have no utterances; present: "
            f"{', '.join(sorted(k for k in label_counts if k))}. Set balanced_labels=..."
        )

    target = train_sessions / len(sessions)
    rng = random.Random(seed)  # Python's generator, as the original, so that seed 0 reproduces it
    for attempt in range(max_attempts):
        order = list(sessions)  # the original reshuffles the unshuffled list every time
        rng.shuffle(order)
        tolerance = 0.001 * (1 + attempt // 100)
        in_train = sum((per_session[s] for s in order[:train_sessions]), Counter())
        if all(
            abs(in_train[label] / label_counts[label] - target) <= tolerance + 1e-12
            for label in balanced_labels
        ):
            break
    else:
        raise ProtocolError(
            f"case_session_split: no shuffle in {max_attempts} attempts put {target:.3f} of each of "
            f"{list(balanced_labels)} in train; raise max_attempts or drop labels from "
            "balanced_labels."
        )
    logger.info("case_session_split: accepted shuffle %d (tolerance %.3f)", attempt + 1, tolerance)
    train_side = set(order[:train_sessions])
    val_side = set(order[train_sessions - val_sessions : train_sessions])
    parts = defaultdict(list)
    for utt in utterances:
        part = "test" if utt.session not in train_side else "val" if utt.session in val_side else "train"
        parts[part].append(utt.id)
    held_out = sorted(order[train_sessions:], key=natural_key)
    return [build_fold("case", parts["train"], parts["val"], parts["test"], held_out)]
