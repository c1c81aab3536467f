"""Speaker-independent protocols: leave one speaker out, speaker k-fold, fixed speaker groups, and ``auto``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sklearn.model_selection import StratifiedGroupKFold

from serkit.core.errors import ProtocolError
from serkit.data.protocols.base import Fold, register_protocol
from serkit.data.protocols.grouping import (
    group_labels,
    group_utterances,
    held_out_folds,
    leave_one_group_out,
    require_field,
)
from serkit.data.stats import natural_key
from serkit.data.utterance import Utterance

__all__ = [
    "AUTO_PROTOCOL",
    "FEW_SPEAKERS",
    "KFOLD_FROM_SPEAKERS",
    "choose_protocol",
    "leave_one_speaker_out",
    "speaker_groups",
    "speaker_kfold",
]


@register_protocol()
def leave_one_speaker_out(utterances: list[Utterance], *, seed: int, val_speakers: int = 1) -> list[Fold]:
    """One fold per speaker as test; validation = other speaker(s) picked by seed (LOSO, DCNN ESD).

    Args:
        val_speakers: speakers taken from the training side for validation (gender-interleaved, chosen by the
            seed); 0 leaves validation empty (then nothing may be selected on held-out data).
    """
    return leave_one_group_out(
        utterances,
        "speaker",
        seed=seed,
        num_val=val_speakers,
        option="val_speakers",
        protocol="leave_one_speaker_out",
    )


@register_protocol()
def speaker_kfold(utterances: list[Utterance], *, seed: int, k: int = 5, val_speakers: int = 2) -> list[Fold]:
    """k speaker-disjoint folds stratified by emotion (scikit-learn StratifiedGroupKFold, shuffled by seed).

    Args:
        k: number of folds; each speaker is in the test part of exactly one fold.
        val_speakers: speakers taken from the training side of each fold for validation (gender-interleaved, so
            the default 2 is one woman and one man where genders are known); 0 leaves validation empty.
    """
    require_field(utterances, "speaker", "speaker_kfold")
    groups = group_utterances(utterances, lambda u: u.speaker)
    if k < 2 or k > len(groups):
        raise ProtocolError(
            f"speaker_kfold: k={k} must be between 2 and the number of independent speaker groups "
            f"({len(groups)})."
        )
    labels = group_labels(groups, len(utterances))
    emotions = [u.emotion for u in utterances]
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    test_groups = [
        [groups[n] for n in sorted(set(labels[test]))]
        for _, test in splitter.split(labels, emotions, groups=labels)
    ]
    width = len(str(k))
    return held_out_folds(
        utterances,
        groups,
        test_groups,
        seed=seed,
        num_val=val_speakers,
        unit="speaker",
        option="val_speakers",
        names=[f"fold{i + 1:0{width}d}" for i in range(k)],
    )


@register_protocol()
def speaker_groups(
    utterances: list[Utterance],
    *,
    seed: int,
    group_size: int = 4,
    balance_gender: bool = False,
    val_speakers: int | None = None,
) -> list[Fold]:
    """Fixed groups of speakers in natural order as test folds (DCNN: RAVDESS cv4..cv24, JTES cv10..cv50).

    Speakers are sorted naturally (``Actor_2`` before ``Actor_10``) and cut into consecutive groups of
    ``group_size``; RAVDESS gives 6 folds: actors 1-4, 5-8, ... Groups linked by identical audio are merged into
    one fold. The original used the test group as validation too; here validation is other speakers.

    Args:
        group_size: speakers per test group; the last group may be smaller.
        balance_gender: fill each group with ``group_size // 2`` women and as many men, each in natural order
            (JTES: f01-f10 + m01-m10, ...). Needs equal numbers of each gender and no unknown gender.
        val_speakers: speakers taken from the other groups for validation, chosen by the seed and
            gender-interleaved; default ``group_size``; 0 leaves validation empty.
    """
    require_field(utterances, "speaker", "speaker_groups")
    if group_size < 1:
        raise ValueError(f"speaker_groups: group_size={group_size} must be at least 1.")
    speakers = sorted({u.speaker for u in utterances}, key=natural_key)
    if balance_gender:
        ordered = _gender_balanced_order(utterances, speakers, group_size)
    else:
        ordered = speakers
    group_of = {spk: f"group{position // group_size + 1}" for position, spk in enumerate(ordered)}
    if len(set(group_of.values())) < 2:
        raise ProtocolError(
            f"speaker_groups: group_size={group_size} puts all {len(speakers)} speakers in one "
            "group; use a smaller group_size."
        )
    # Each block of speakers is one unit; identical audio across blocks merges them into one fold.
    blocks = group_utterances(utterances, lambda u: group_of[u.speaker])
    groups = group_utterances(utterances, lambda u: u.speaker)
    test_groups = []
    for block in blocks:
        block_speakers = {utterances[i].speaker for i in block.indices}
        test_groups.append([g for g in groups if set(g.members) <= block_speakers])
    num_val = group_size if val_speakers is None else val_speakers
    return held_out_folds(
        utterances,
        groups,
        test_groups,
        seed=seed,
        num_val=num_val,
        unit="speaker",
        option="val_speakers",
        names=[block.name for block in blocks],
    )


def _gender_balanced_order(
    utterances: Sequence[Utterance], speakers: list[str], group_size: int
) -> list[str]:
    """Speakers reordered so that each consecutive block of ``group_size`` has half women, half men."""
    gender = {u.speaker: u.gender for u in utterances}
    women = [s for s in speakers if gender[s] == "female"]
    men = [s for s in speakers if gender[s] == "male"]
    if group_size % 2 or len(women) != len(men) or len(women) + len(men) != len(speakers):
        raise ProtocolError(
            f"speaker_groups: balance_gender needs an even group_size (got {group_size}) and as many "
            f"women as men with known gender (got {len(women)} female, {len(men)} male, "
            f"{len(speakers) - len(women) - len(men)} unknown)."
        )
    half = group_size // 2
    ordered = []
    for start in range(0, len(women), half):
        ordered += women[start : start + half] + men[start : start + half]
    return ordered


#: The protocol name that stands for "choose from the number of speakers" (see :func:`choose_protocol`).
AUTO_PROTOCOL = "auto"
#: Fewer speakers than this and a speaker-independent score says more about who was tested than about the model.
FEW_SPEAKERS = 5
#: From this many speakers on, k-fold over speakers (5 trainings) replaces one training per speaker.
KFOLD_FROM_SPEAKERS = 10


def choose_protocol(utterances: Sequence[Utterance]) -> tuple[str, dict[str, Any], list[str]]:
    """The protocol ``protocol.name: auto`` stands for, chosen from the number of speakers.

    * ``KFOLD_FROM_SPEAKERS`` (10) speakers or more: ``speaker_kfold`` with k=5 and 2 validation speakers;
    * 3 to 9 speakers: ``leave_one_speaker_out`` with 1 validation speaker;
    * 1 or 2 speakers: no speaker-independent split with a validation speaker exists, so
      ``paper_random_split_speaker_dependent`` with a 70/15/15 split (its own validation part): the scores are
      then speaker-DEPENDENT and say nothing about new voices.

    Returns:
        (protocol name, its options, warnings to print and to write into the report).
    """
    speakers = sorted({u.speaker for u in utterances if u.speaker})
    count = len(speakers)
    if any(not u.speaker for u in utterances):
        raise ProtocolError(
            "protocol auto: some utterances have no speaker; fill the speaker column (or name files "
            "<speaker>_*.wav) so that no speaker is in train and test at once."
        )
    warnings = []
    if count >= KFOLD_FROM_SPEAKERS:
        name, options = "speaker_kfold", {"k": 5, "val_speakers": 2}
    elif count >= 3:
        name, options = "leave_one_speaker_out", {"val_speakers": 1}
    else:
        name, options = "paper_random_split_speaker_dependent", {"ratios": (0.7, 0.15, 0.15)}
        warnings.append(
            f"only {count} speaker(s) ({', '.join(speakers)}): the split is speaker-DEPENDENT (the same "
            "voices in train and test), so the scores do not predict how the model does on new speakers; "
            "record at least 3 speakers (5 or more for a stable estimate)."
        )
    if 3 <= count < FEW_SPEAKERS:
        warnings.append(
            f"only {count} speakers: each test fold is one voice and the model trains on "
            f"{count - 2}, so the scores vary a lot between folds; {FEW_SPEAKERS} or more speakers give "
            "a more stable speaker-independent estimate."
        )
    return name, options, warnings
