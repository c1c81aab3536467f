"""Grouping helpers shared by the protocols: utterances that must stay on one side, and folds built from groups.

Before splitting, utterances are joined into groups with a small union-find: two utterances are in one group when
they share the protocol's unit (speaker or session) *or* their content hash (see :mod:`serkit.data.protocols`).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import LeaveOneGroupOut

from serkit.core.errors import ProtocolError
from serkit.data.protocols.base import Fold, build_fold
from serkit.data.stats import natural_key
from serkit.data.utterance import Utterance

__all__ = [
    "Group",
    "fold_rng",
    "group_labels",
    "group_utterances",
    "held_out_folds",
    "ids_of",
    "leave_one_group_out",
    "pick_validation",
    "require_field",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Group:
    """Utterances that must stay together: ``members`` are the speakers/sessions/ids that were joined."""

    name: str
    members: tuple[str, ...]
    indices: tuple[int, ...]
    gender: str  # the single gender of all its utterances, or "" when mixed or unknown


def group_utterances(
    utterances: Sequence[Utterance], unit: Callable[[Utterance], str], *, also_link: Sequence[str] = ()
) -> list[Group]:
    """Join utterances that share ``unit(u)``, a content hash, or any field named in ``also_link`` (union-find).

    Returns:
        Groups in natural order of their names; a group's name is its members joined by ``+``.
    """
    parent = list(range(len(utterances)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]  # path halving keeps the trees flat
            i = parent[i]
        return i

    first_with: dict[tuple[str, str], int] = {}
    for index, utt in enumerate(utterances):
        keys = [("unit", unit(utt)), ("hash", utt.content_hash)] + [(f, getattr(utt, f)) for f in also_link]
        for key in keys:
            if not key[1]:
                continue
            if key in first_with:
                parent[find(index)] = find(first_with[key])
            else:
                first_with[key] = index

    members: dict[int, list[int]] = defaultdict(list)
    for index in range(len(utterances)):
        members[find(index)].append(index)
    groups = []
    for indices in members.values():
        units = sorted({unit(utterances[i]) for i in indices}, key=natural_key)
        genders = {utterances[i].gender for i in indices}
        gender = genders.pop() if len(genders) == 1 else ""
        groups.append(Group("+".join(units), tuple(units), tuple(indices), gender))
    groups.sort(key=lambda g: natural_key(g.name))
    merged = [g.name for g in groups if len(g.members) > 1]
    if merged:
        logger.info(
            "kept together because they share identical audio or a linked field: %s", ", ".join(merged[:10])
        )
    return groups


def require_field(utterances: Sequence[Utterance], field: str, protocol: str) -> None:
    """ProtocolError naming an utterance whose ``field`` (speaker/session) is empty."""
    for utt in utterances:
        if not getattr(utt, field):
            raise ProtocolError(
                f"protocol {protocol!r} groups by {field}, but utterance {utt.id!r} has no {field}; "
                f"fill the {field} column of the manifest or choose another protocol."
            )


def ids_of(utterances: Sequence[Utterance], groups: Iterable[Group]) -> list[str]:
    return [utterances[i].id for group in groups for i in group.indices]


def pick_validation(
    candidates: Sequence[Group], count: int, rng: np.random.Generator, *, unit: str, option: str
) -> list[Group]:
    """Randomly pick groups holding at least ``count`` units (speakers/sessions) for validation.

    Genders are interleaved (female, male, female, ... from a random start) so that a validation set of two or
    more speakers is gender-balanced where the corpus records genders.

    Raises:
        ProtocolError: ``count`` would leave no training group.
    """
    if count < 0:
        raise ValueError(f"{option}={count}: must be 0 or more.")
    if count == 0:
        return []
    available = sum(len(g.members) for g in candidates)
    if count >= available:
        raise ProtocolError(
            f"{option}={count} would leave no training {unit}s: only {available} {unit}(s) remain "
            f"besides the test part; use a smaller {option}."
        )
    by_gender: dict[str, list[Group]] = defaultdict(list)
    for index in rng.permutation(len(candidates)):
        group = candidates[index]
        by_gender[group.gender].append(group)
    genders = sorted(by_gender)
    genders = [genders[i] for i in rng.permutation(len(genders))]
    interleaved = []
    while any(by_gender.values()):
        interleaved += [by_gender[g].pop(0) for g in genders if by_gender[g]]
    chosen, units = [], 0
    for group in interleaved:
        if units >= count:
            break
        chosen.append(group)
        units += len(group.members)
    if len(chosen) == len(candidates):
        raise ProtocolError(
            f"{option}={count} takes every remaining {unit} group for validation (identical audio "
            f"joins some {unit}s); use a smaller {option}."
        )
    return chosen


def fold_rng(seed: int, fold_index: int) -> np.random.Generator:
    """An independent generator per fold, so one fold's choices do not depend on how many folds came before."""
    return np.random.default_rng([seed, fold_index])


def held_out_folds(
    utterances: Sequence[Utterance],
    groups: list[Group],
    test_groups: Iterable[list[Group]],
    *,
    seed: int,
    num_val: int,
    unit: str,
    option: str,
    names: Sequence[str],
) -> list[Fold]:
    """Folds with the given test groups, validation picked from the other groups, training = the rest."""
    folds = []
    for index, (name, test) in enumerate(zip(names, test_groups)):
        test_names = {g.name for g in test}
        rest = [g for g in groups if g.name not in test_names]
        val = pick_validation(rest, num_val, fold_rng(seed, index), unit=unit, option=option)
        val_names = {g.name for g in val}
        train = [g for g in rest if g.name not in val_names]
        held_out = sorted((m for g in test for m in g.members), key=natural_key)
        folds.append(
            build_fold(
                name, ids_of(utterances, train), ids_of(utterances, val), ids_of(utterances, test), held_out
            )
        )
    return folds


def group_labels(groups: Sequence[Group], size: int) -> np.ndarray:
    labels = np.empty(size, dtype=int)
    for number, group in enumerate(groups):
        labels[list(group.indices)] = number
    return labels


def leave_one_group_out(
    utterances: Sequence[Utterance], unit: str, *, seed: int, num_val: int, option: str, protocol: str
) -> list[Fold]:
    require_field(utterances, unit, protocol)
    # Session protocols also join by speaker: a speaker recorded in two sessions makes them one group.
    groups = group_utterances(
        utterances, lambda u: getattr(u, unit), also_link=("speaker",) if unit == "session" else ()
    )
    if len(groups) < 2 + (num_val > 0):
        raise ProtocolError(
            f"protocol {protocol!r} needs at least {2 + (num_val > 0)} independent {unit} groups, "
            f"found {len(groups)} ({', '.join(g.name for g in groups)})."
        )
    labels = group_labels(groups, len(utterances))
    test_groups = [[groups[labels[test[0]]]] for _, test in LeaveOneGroupOut().split(labels, groups=labels)]
    return held_out_folds(
        utterances,
        groups,
        test_groups,
        seed=seed,
        num_val=num_val,
        unit=unit,
        option=option,
        names=[t[0].name for t in test_groups],
    )
