"""Split protocols: turn a list of utterances into train / validation / test folds.

A protocol is a registered function ``def <name>(utterances, *, seed, <options>) -> list[Fold]``. Callers go
through :func:`make_folds`, which looks the protocol up, converts ``--opt key=value`` strings by the option
annotations and then checks every fold with :func:`check_folds`:

* no utterance id in two parts;
* no speaker on two parts (and, for session protocols, no session on two parts) unless the protocol is registered
  as speaker-dependent;
* byte-identical audio (utterances sharing a non-empty ``content_hash``) never on two parts;
* validation never equal to test unless the protocol is registered as one that may select on test;
* train and test never empty (validation may be empty: then nothing is selected on held-out data).

Grouping. Before splitting, utterances are joined into groups with a small union-find: two utterances are in one
group when they share the protocol's unit (speaker or session) *or* their content hash. So the two byte-identical
RAVDESS files stay together even in the random split, and a file copied under two speakers merges those speakers
into one group that is held out as a whole.

Protocols (``serkit corpus folds --protocol NAME --opt key=value``):

=========================================== ======================================================================
``leave_one_speaker_out``                   one fold per speaker as test; ``val_speakers`` other speakers as val
``leave_one_session_out``                   one fold per session as test (IEMOCAP LOSO); ``val_sessions`` as val
``speaker_kfold``                           k folds stratified by emotion, grouped by speaker (StratifiedGroupKFold)
``speaker_groups``                          fixed consecutive speaker groups as test (DCNN RAVDESS cv4..cv24, JTES)
``official``                                the corpus's own split from ``extra["split"]`` (MELD, MOSEI)
``predefined``                              id lists from files, or a folds JSON written by :func:`write_folds`
``case_session_split``                      CASE's label-balanced 32/8 session split of KEMDy20
``paper_random_split_speaker_dependent``    GLAM's random utterance split; by default selects on the test part
=========================================== ======================================================================

Example:
    >>> from serkit.data.utterance import Utterance
    >>> utts = [Utterance(id=f"s{s}_{i}", path="x.wav", speaker=f"s{s}", emotion="sad") for s in range(4)
    ...         for i in range(2)]
    >>> [f.held_out for f in make_folds(utts, "leave_one_speaker_out", seed=0)]
    [('s0',), ('s1',), ('s2',), ('s3',)]
"""

from __future__ import annotations

import json
import logging
import os
import random
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import GroupShuffleSplit, LeaveOneGroupOut, StratifiedGroupKFold

from serkit.data.stats import format_table, natural_key
from serkit.data.utterance import Utterance
from serkit.core.errors import ManifestError, ProtocolError
from serkit.core.fileio import atomic_write_json, file_digest
from serkit.core.options import call_with_options
from serkit.core.registry import Registry

__all__ = [
    "AUTO_PROTOCOL",
    "PROTOCOLS",
    "Fold",
    "ProtocolInfo",
    "check_folds",
    "choose_protocol",
    "describe_folds",
    "list_protocols",
    "make_folds",
    "protocol_info",
    "read_folds",
    "register_protocol",
    "write_folds",
]

logger = logging.getLogger(__name__)

_PARTS = ("train", "val", "test")


# --------------------------------------------------------------------------------------------------------------------
# Fold record and protocol registry
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fold:
    """One split of a corpus into train / validation / test utterance ids (each part sorted).

    Attributes:
        name: fold name, usable as a folder name (``Actor_01``, ``fold3``, ``random``).
        train: ids used for fitting.
        val: ids used for model selection (early stopping, best epoch); may be empty.
        test: ids only used for the final score.
        held_out: the groups that make up the test part (speakers, sessions), for reports.
    """

    name: str
    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]
    held_out: tuple[str, ...] = ()

    @property
    def selection(self) -> str:
        """What model selection uses: ``"validation"``, ``"test"`` (val equals test) or ``"none"`` (no val)."""
        if not self.val:
            return "none"
        return "test" if set(self.val) == set(self.test) else "validation"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "held_out": list(self.held_out), "train": list(self.train),
                "val": list(self.val), "test": list(self.test)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fold:
        """Inverse of :meth:`to_dict`; extra keys (counts, selection) are ignored.

        Raises:
            TypeError: ``data`` is not a mapping.
            ValueError: a missing ``name``/``train``/``test`` key or a part that is not a list of strings.
        """
        if not isinstance(data, Mapping):
            raise TypeError(f"a fold must be a JSON object, got {type(data).__name__}.")
        missing = [key for key in ("name", "train", "test") if key not in data]
        if missing:
            raise ValueError(f"fold {data.get('name', '?')!r} lacks key(s) {missing}.")
        parts = {}
        for key in (*_PARTS, "held_out"):
            values = data.get(key, [])
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise ValueError(f"fold {data['name']!r}: {key!r} must be a list of strings.")
            parts[key] = tuple(values)
        return cls(name=str(data["name"]), **parts)


def _make_fold(name: str, train: Iterable[str], val: Iterable[str], test: Iterable[str],
               held_out: Iterable[str] = ()) -> Fold:
    """A Fold with every part sorted, so the same split always serialises the same way."""
    return Fold(name=name, train=tuple(sorted(train)), val=tuple(sorted(val)), test=tuple(sorted(test)),
                held_out=tuple(held_out))


@dataclass(frozen=True)
class ProtocolInfo:
    """What a protocol guarantees; written into every folds file so reports can state it.

    Attributes:
        name: registry name.
        speaker_independent: no speaker is on two parts (checked on every fold).
        session_independent: no session is on two parts (checked on every fold).
        selects_on_test: the protocol may return validation == test (an original paper's behaviour); every
            report of such a fold must say that the model was selected on the test data.
        description: one line for listings.
    """

    name: str
    speaker_independent: bool
    session_independent: bool
    selects_on_test: bool
    description: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


PROTOCOLS: Registry[Callable[..., list[Fold]]] = Registry("protocol")
_INFO: dict[str, ProtocolInfo] = {}


def register_protocol(*, speaker_independent: bool = True, session_independent: bool = False,
                      selects_on_test: bool = False) -> Callable:
    """Decorator: register a protocol function under its own name, with its guarantees.

    The description is the first line of the function's docstring.
    """

    def decorator(function: Callable[..., list[Fold]]) -> Callable[..., list[Fold]]:
        PROTOCOLS.register()(function)
        name = function.__name__.lower()
        doc = (function.__doc__ or "").strip()
        _INFO[name] = ProtocolInfo(name, speaker_independent, session_independent, selects_on_test,
                                   doc.splitlines()[0] if doc else "")
        return function

    return decorator


def list_protocols() -> list[str]:
    """Registered protocol names."""
    return PROTOCOLS.names()


def protocol_info(name: str) -> ProtocolInfo:
    """The guarantees of protocol ``name`` (KeyError with close matches if unknown)."""
    PROTOCOLS.get(name)
    return _INFO[name.lower()]


# --------------------------------------------------------------------------------------------------------------------
# Entry point and the central check
# --------------------------------------------------------------------------------------------------------------------


def make_folds(utterances: Sequence[Utterance], protocol: str, *, seed: int = 0,
               options: Mapping[str, Any] | None = None) -> list[Fold]:
    """Split ``utterances`` with ``protocol`` and check every fold.

    Args:
        utterances: the corpus (after any label filtering); ids must be unique. Their order does not matter.
        protocol: registered name (see :func:`list_protocols`).
        seed: drives every random choice; 0 is a valid seed, the same seed gives the same folds.
        options: protocol options; strings (from ``--opt key=value``) are converted by the option's annotation.

    Raises:
        KeyError: unknown protocol (with close matches). ValueError: unknown option or bad value.
        ProtocolError: the folds cannot be built, or a fold breaks the protocol's guarantees.
    """
    function = PROTOCOLS.get(protocol)
    info = _INFO[protocol.lower()]
    options = dict(options or {})
    if "seed" in options:
        raise ValueError("protocol option 'seed' is not an option; pass the seed with --seed / seed=.")
    if seed is None or isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer (0 is valid), got {seed!r}.")
    if not utterances:
        raise ProtocolError(f"protocol {info.name!r}: no utterances to split; check the manifest and label filter.")
    seen: set[str] = set()
    for utt in utterances:
        if utt.id in seen:
            raise ProtocolError(f"utterance id {utt.id!r} occurs twice; ids must be unique before splitting.")
        seen.add(utt.id)
    # Sorting makes the folds independent of the manifest's row order.
    ordered = sorted(utterances, key=lambda u: u.id)
    folds = call_with_options(function, ordered, options=options, fixed={"seed": int(seed)},
                              what=f"option of protocol {info.name!r}")
    if not folds:
        raise ProtocolError(f"protocol {info.name!r} produced no folds from {len(ordered)} utterances.")
    check_folds(folds, ordered, speaker_independent=info.speaker_independent,
                session_independent=info.session_independent, selects_on_test=info.selects_on_test)
    return folds


def _overlap_message(fold: Fold, what: str, first: str, second: str, shared: set[str], why: str) -> str:
    examples = ", ".join(repr(x) for x in sorted(shared)[:5]) + (" ..." if len(shared) > 5 else "")
    return f"fold {fold.name!r}: {len(shared)} {what} on both {first} and {second} ({examples}); {why}"


def check_folds(folds: Sequence[Fold], utterances: Sequence[Utterance], *, speaker_independent: bool = True,
                session_independent: bool = False, selects_on_test: bool = False) -> None:
    """Raise ProtocolError if a fold breaks a guarantee (see the module docstring for the list).

    Args:
        speaker_independent: check that no (non-empty) speaker is on two parts.
        session_independent: check that no (non-empty) session is on two parts.
        selects_on_test: allow validation to equal test exactly (partial overlap is never allowed).
    """
    by_id = {u.id: u for u in utterances}
    names = [fold.name for fold in folds]
    if len(set(names)) != len(names):
        raise ProtocolError(f"fold names must be unique, got {names}.")
    for fold in folds:
        parts = {"train": fold.train, "val": fold.val, "test": fold.test}
        for part, ids in parts.items():
            unknown = [i for i in ids if i not in by_id]
            if unknown:
                raise ProtocolError(f"fold {fold.name!r}: {len(unknown)} {part} id(s) are not in the manifest "
                                    f"({', '.join(map(repr, unknown[:5]))}).")
            if len(set(ids)) != len(ids):
                raise ProtocolError(f"fold {fold.name!r}: the {part} part lists an id twice.")
        for part in ("train", "test"):
            if not parts[part]:
                raise ProtocolError(f"fold {fold.name!r}: the {part} part is empty; check the protocol options.")
        val_is_test = fold.selection == "test"
        if val_is_test and not selects_on_test:
            raise ProtocolError(f"fold {fold.name!r}: validation equals test, i.e. the model would be selected on "
                                "the test data; only protocols registered as selecting on test may do that.")
        pairs = [("train", "val"), ("train", "test")]
        if not (val_is_test and selects_on_test):
            pairs.append(("val", "test"))
        for first, second in pairs:
            a = [by_id[i] for i in parts[first]]
            b = [by_id[i] for i in parts[second]]
            shared = {u.id for u in a} & {u.id for u in b}
            if shared:
                raise ProtocolError(_overlap_message(fold, "utterance id(s)", first, second, shared,
                                                     "an utterance may be on one side only."))
            shared = {u.content_hash for u in a if u.content_hash} & {u.content_hash for u in b}
            if shared:
                ids = sorted(u.id for u in (*a, *b) if u.content_hash in shared)
                raise ProtocolError(_overlap_message(
                    fold, "identical audio file(s)", first, second, set(ids),
                    "byte-identical files must stay on one side; remove the duplicate or keep them together."))
            if speaker_independent:
                shared = {u.speaker for u in a if u.speaker} & {u.speaker for u in b}
                if shared:
                    raise ProtocolError(_overlap_message(
                        fold, "speaker(s)", first, second, shared,
                        "a speaker-independent protocol keeps each speaker on one side."))
            if session_independent:
                shared = {u.session for u in a if u.session} & {u.session for u in b}
                if shared:
                    raise ProtocolError(_overlap_message(
                        fold, "session(s)", first, second, shared,
                        "a session-independent protocol keeps each session on one side."))


# --------------------------------------------------------------------------------------------------------------------
# Grouping helpers
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Group:
    """Utterances that must stay together: ``members`` are the speakers/sessions/ids that were joined."""

    name: str
    members: tuple[str, ...]
    indices: tuple[int, ...]
    gender: str  # the single gender of all its utterances, or "" when mixed or unknown


def _group_utterances(utterances: Sequence[Utterance], unit: Callable[[Utterance], str], *,
                      also_link: Sequence[str] = ()) -> list[_Group]:
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
        groups.append(_Group("+".join(units), tuple(units), tuple(indices), gender))
    groups.sort(key=lambda g: natural_key(g.name))
    merged = [g.name for g in groups if len(g.members) > 1]
    if merged:
        logger.info("kept together because they share identical audio or a linked field: %s", ", ".join(merged[:10]))
    return groups


def _require(utterances: Sequence[Utterance], field: str, protocol: str) -> None:
    """ProtocolError naming an utterance whose ``field`` (speaker/session) is empty."""
    for utt in utterances:
        if not getattr(utt, field):
            raise ProtocolError(f"protocol {protocol!r} groups by {field}, but utterance {utt.id!r} has no {field}; "
                                f"fill the {field} column of the manifest or choose another protocol.")


def _ids(utterances: Sequence[Utterance], groups: Iterable[_Group]) -> list[str]:
    return [utterances[i].id for group in groups for i in group.indices]


def _pick_validation(candidates: Sequence[_Group], count: int, rng: np.random.Generator, *,
                     unit: str, option: str) -> list[_Group]:
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
        raise ProtocolError(f"{option}={count} would leave no training {unit}s: only {available} {unit}(s) remain "
                            f"besides the test part; use a smaller {option}.")
    by_gender: dict[str, list[_Group]] = defaultdict(list)
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
        raise ProtocolError(f"{option}={count} takes every remaining {unit} group for validation (identical audio "
                            f"joins some {unit}s); use a smaller {option}.")
    return chosen


def _fold_rng(seed: int, fold_index: int) -> np.random.Generator:
    """An independent generator per fold, so one fold's choices do not depend on how many folds came before."""
    return np.random.default_rng([seed, fold_index])


def _held_out_folds(utterances: Sequence[Utterance], groups: list[_Group], test_groups: Iterable[list[_Group]], *,
                    seed: int, num_val: int, unit: str, option: str, names: Sequence[str]) -> list[Fold]:
    """Folds with the given test groups, validation picked from the other groups, training = the rest."""
    folds = []
    for index, (name, test) in enumerate(zip(names, test_groups)):
        test_names = {g.name for g in test}
        rest = [g for g in groups if g.name not in test_names]
        val = _pick_validation(rest, num_val, _fold_rng(seed, index), unit=unit, option=option)
        val_names = {g.name for g in val}
        train = [g for g in rest if g.name not in val_names]
        held_out = sorted((m for g in test for m in g.members), key=natural_key)
        folds.append(_make_fold(name, _ids(utterances, train), _ids(utterances, val), _ids(utterances, test),
                                held_out))
    return folds


def _group_labels(groups: Sequence[_Group], size: int) -> np.ndarray:
    labels = np.empty(size, dtype=int)
    for number, group in enumerate(groups):
        labels[list(group.indices)] = number
    return labels


def _leave_one_group_out(utterances: Sequence[Utterance], unit: str, *, seed: int, num_val: int, option: str,
                         protocol: str) -> list[Fold]:
    _require(utterances, unit, protocol)
    # Session protocols also join by speaker: a speaker recorded in two sessions makes them one group.
    groups = _group_utterances(utterances, lambda u: getattr(u, unit),
                               also_link=("speaker",) if unit == "session" else ())
    if len(groups) < 2 + (num_val > 0):
        raise ProtocolError(f"protocol {protocol!r} needs at least {2 + (num_val > 0)} independent {unit} groups, "
                            f"found {len(groups)} ({', '.join(g.name for g in groups)}).")
    labels = _group_labels(groups, len(utterances))
    test_groups = [[groups[labels[test[0]]]] for _, test in LeaveOneGroupOut().split(labels, groups=labels)]
    return _held_out_folds(utterances, groups, test_groups, seed=seed, num_val=num_val, unit=unit, option=option,
                           names=[t[0].name for t in test_groups])


# --------------------------------------------------------------------------------------------------------------------
# Protocols
# --------------------------------------------------------------------------------------------------------------------


@register_protocol()
def leave_one_speaker_out(utterances: list[Utterance], *, seed: int, val_speakers: int = 1) -> list[Fold]:
    """One fold per speaker as test; validation = other speaker(s) picked by seed (LOSO, DCNN ESD).

    Args:
        val_speakers: speakers taken from the training side for validation (gender-interleaved, chosen by the
            seed); 0 leaves validation empty (then nothing may be selected on held-out data).
    """
    return _leave_one_group_out(utterances, "speaker", seed=seed, num_val=val_speakers, option="val_speakers",
                                protocol="leave_one_speaker_out")


@register_protocol(session_independent=True)
def leave_one_session_out(utterances: list[Utterance], *, seed: int, val_sessions: int = 1) -> list[Fold]:
    """One fold per session as test (IEMOCAP LOSO, CPT-HuBERT); validation = another whole session.

    Sessions and speakers are both kept on one side. The default takes one other session, chosen by the seed,
    as validation (IEMOCAP: 3 sessions train, 1 val, 1 test). Splitting the held-out session's two speakers into
    val and test, as CPT-HuBERT appears to do, would put one session on two sides and is not offered.

    Args:
        val_sessions: sessions taken from the training side for validation; 0 leaves validation empty.
    """
    return _leave_one_group_out(utterances, "session", seed=seed, num_val=val_sessions, option="val_sessions",
                                protocol="leave_one_session_out")


@register_protocol()
def speaker_kfold(utterances: list[Utterance], *, seed: int, k: int = 5, val_speakers: int = 2) -> list[Fold]:
    """k speaker-disjoint folds stratified by emotion (scikit-learn StratifiedGroupKFold, shuffled by seed).

    Args:
        k: number of folds; each speaker is in the test part of exactly one fold.
        val_speakers: speakers taken from the training side of each fold for validation (gender-interleaved, so
            the default 2 is one woman and one man where genders are known); 0 leaves validation empty.
    """
    _require(utterances, "speaker", "speaker_kfold")
    groups = _group_utterances(utterances, lambda u: u.speaker)
    if k < 2 or k > len(groups):
        raise ProtocolError(f"speaker_kfold: k={k} must be between 2 and the number of independent speaker groups "
                            f"({len(groups)}).")
    labels = _group_labels(groups, len(utterances))
    emotions = [u.emotion for u in utterances]
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    test_groups = [[groups[n] for n in sorted(set(labels[test]))]
                   for _, test in splitter.split(labels, emotions, groups=labels)]
    width = len(str(k))
    return _held_out_folds(utterances, groups, test_groups, seed=seed, num_val=val_speakers, unit="speaker",
                           option="val_speakers", names=[f"fold{i + 1:0{width}d}" for i in range(k)])


@register_protocol()
def speaker_groups(utterances: list[Utterance], *, seed: int, group_size: int = 4, balance_gender: bool = False,
                   val_speakers: int | None = None) -> list[Fold]:
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
    _require(utterances, "speaker", "speaker_groups")
    if group_size < 1:
        raise ValueError(f"speaker_groups: group_size={group_size} must be at least 1.")
    speakers = sorted({u.speaker for u in utterances}, key=natural_key)
    if balance_gender:
        ordered = _gender_balanced_order(utterances, speakers, group_size)
    else:
        ordered = speakers
    group_of = {spk: f"group{position // group_size + 1}" for position, spk in enumerate(ordered)}
    if len(set(group_of.values())) < 2:
        raise ProtocolError(f"speaker_groups: group_size={group_size} puts all {len(speakers)} speakers in one "
                            "group; use a smaller group_size.")
    # Each block of speakers is one unit; identical audio across blocks merges them into one fold.
    blocks = _group_utterances(utterances, lambda u: group_of[u.speaker])
    groups = _group_utterances(utterances, lambda u: u.speaker)
    test_groups = []
    for block in blocks:
        block_speakers = {utterances[i].speaker for i in block.indices}
        test_groups.append([g for g in groups if set(g.members) <= block_speakers])
    num_val = group_size if val_speakers is None else val_speakers
    return _held_out_folds(utterances, groups, test_groups, seed=seed, num_val=num_val, unit="speaker",
                           option="val_speakers", names=[block.name for block in blocks])


def _gender_balanced_order(utterances: Sequence[Utterance], speakers: list[str], group_size: int) -> list[str]:
    """Speakers reordered so that each consecutive block of ``group_size`` has half women, half men."""
    gender = {u.speaker: u.gender for u in utterances}
    women = [s for s in speakers if gender[s] == "female"]
    men = [s for s in speakers if gender[s] == "male"]
    if group_size % 2 or len(women) != len(men) or len(women) + len(men) != len(speakers):
        raise ProtocolError(f"speaker_groups: balance_gender needs an even group_size (got {group_size}) and as many "
                            f"women as men with known gender (got {len(women)} female, {len(men)} male, "
                            f"{len(speakers) - len(women) - len(men)} unknown).")
    half = group_size // 2
    ordered = []
    for start in range(0, len(women), half):
        ordered += women[start:start + half] + men[start:start + half]
    return ordered


_OFFICIAL_PARTS = {"train": "train", "training": "train", "dev": "val", "valid": "val", "val": "val",
                   "validation": "val", "test": "test"}


@register_protocol(speaker_independent=False)
def official(utterances: list[Utterance], *, seed: int, split_field: str = "split") -> list[Fold]:
    """The corpus's own fixed split from ``extra["split"]`` (MELD train/dev/test, MOSEI train/valid/test).

    The seed is not used. These splits are as distributed, so speakers may be shared (MELD's characters are in
    every part); identical audio on two parts is still refused.

    Args:
        split_field: the manifest column holding the split name (train; dev, valid, val or validation; test).
    """
    parts: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for utt in utterances:
        value = utt.extra.get(split_field, "").strip()
        if not value:
            raise ProtocolError(f"official: utterance {utt.id!r} has no {split_field!r} value; the official "
                                f"protocol needs a {split_field!r} column on every row (or use another protocol).")
        part = _OFFICIAL_PARTS.get(value.lower())
        if part is None:
            raise ProtocolError(f"official: utterance {utt.id!r} has {split_field}={value!r}; expected one of "
                                f"{', '.join(sorted(_OFFICIAL_PARTS))}.")
        parts[part].append(utt.id)
    return [_make_fold("official", parts["train"], parts["val"], parts["test"], ("test",))]


def _read_id_list(path: str | os.PathLike, known: set[str], option: str) -> list[str]:
    """Ids from a text file, one per line (blank lines and ``#`` comments skipped), all checked against ``known``."""
    path = Path(path)
    if not path.is_file():
        raise ProtocolError(f"predefined: {option} list {path} not found.")
    ids = [line.strip() for line in path.read_text(encoding="utf-8-sig").splitlines()]
    ids = [i for i in ids if i and not i.startswith("#")]
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise ProtocolError(f"predefined: {path} ({option}) lists {len(unknown)} id(s) that are not in the manifest, "
                            f"first: {', '.join(map(repr, unknown[:5]))}. Ids are utterance ids (the manifest's "
                            "utt_id column), one per line.")
    return ids


@register_protocol()
def predefined(utterances: list[Utterance], *, seed: int, train: str = "", val: str = "", test: str = "",
               folds_file: str = "") -> list[Fold]:
    """Folds given by the user: id lists (one utterance id per line) or a folds JSON from ``write_folds``.

    The seed is not used. The folds are checked like any other (speaker-independent, validation not equal to
    test), so a speaker-dependent list is refused.

    Args:
        train, val, test: text files with one utterance id per line; ``val`` may be omitted.
        folds_file: a folds JSON (``serkit corpus folds -o``) instead of the three lists.
    """
    known = {u.id for u in utterances}
    if folds_file:
        if train or val or test:
            raise ValueError("predefined: give either folds_file or train/val/test lists, not both.")
        folds = read_folds(folds_file)
        for fold in folds:
            unknown = [i for part in _PARTS for i in getattr(fold, part) if i not in known]
            if unknown:
                raise ProtocolError(f"predefined: {folds_file} fold {fold.name!r} has {len(unknown)} id(s) that "
                                    f"are not in the manifest, first: {', '.join(map(repr, unknown[:5]))}.")
        return folds
    if not train or not test:
        raise ValueError("predefined: set train=FILE and test=FILE (and optionally val=FILE), or folds_file=FILE.")
    val_ids = _read_id_list(val, known, "val") if val else []
    return [_make_fold("predefined", _read_id_list(train, known, "train"), val_ids,
                       _read_id_list(test, known, "test"))]


_CASE_LABELS = ("fearful", "disgust", "angry", "sad", "surprised", "happy")


@register_protocol(session_independent=True)
def case_session_split(utterances: list[Utterance], *, seed: int, train_sessions: int = 32,
                       balanced_labels: tuple[str, ...] = _CASE_LABELS, val_sessions: int = 4,
                       max_attempts: int = 10_000) -> list[Fold]:
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
    _require(utterances, "session", "case_session_split")
    groups = _group_utterances(utterances, lambda u: u.session, also_link=("speaker",))
    linked = [g.name for g in groups if len(g.members) > 1]
    if linked:
        raise ProtocolError(f"case_session_split: sessions {linked[0]} share a speaker or identical audio, so they "
                            "cannot be split independently; use leave_one_session_out or fix the manifest.")
    sessions = [g.name for g in groups]  # natural order, like the original's sorted data.csv
    if not 0 < train_sessions < len(sessions):
        raise ProtocolError(f"case_session_split: train_sessions={train_sessions} must be between 1 and "
                            f"{len(sessions) - 1} ({len(sessions)} sessions found).")
    if not 0 <= val_sessions < train_sessions:
        raise ProtocolError(f"case_session_split: val_sessions={val_sessions} must be between 0 and "
                            f"{train_sessions - 1}.")
    # Counts per (session, label), so that each attempt only sums a few numbers.
    per_session: dict[str, Counter] = defaultdict(Counter)
    for utt in utterances:
        per_session[utt.session][utt.emotion] += 1
    label_counts = sum(per_session.values(), Counter())
    absent = [label for label in balanced_labels if not label_counts[label]]
    if absent:
        raise ProtocolError(f"case_session_split: balanced label(s) {absent} have no utterances; present: "
                            f"{', '.join(sorted(k for k in label_counts if k))}. Set balanced_labels=...")

    target = train_sessions / len(sessions)
    rng = random.Random(seed)  # Python's generator, as the original, so that seed 0 reproduces it
    for attempt in range(max_attempts):
        order = list(sessions)  # the original reshuffles the unshuffled list every time
        rng.shuffle(order)
        tolerance = 0.001 * (1 + attempt // 100)
        in_train = sum((per_session[s] for s in order[:train_sessions]), Counter())
        if all(abs(in_train[label] / label_counts[label] - target) <= tolerance + 1e-12 for label in balanced_labels):
            break
    else:
        raise ProtocolError(f"case_session_split: no shuffle in {max_attempts} attempts put {target:.3f} of each of "
                            f"{list(balanced_labels)} in train; raise max_attempts or drop labels from "
                            "balanced_labels.")
    logger.info("case_session_split: accepted shuffle %d (tolerance %.3f)", attempt + 1, tolerance)
    train_side = set(order[:train_sessions])
    val_side = set(order[train_sessions - val_sessions:train_sessions])
    parts = defaultdict(list)
    for utt in utterances:
        part = "test" if utt.session not in train_side else "val" if utt.session in val_side else "train"
        parts[part].append(utt.id)
    held_out = sorted(order[train_sessions:], key=natural_key)
    return [_make_fold("case", parts["train"], parts["val"], parts["test"], held_out)]


def _parse_ratios(ratios: Sequence[Any]) -> tuple[float, float, float]:
    try:
        values = tuple(float(r) for r in ratios)
    except (TypeError, ValueError):
        raise ValueError(f"ratios={ratios!r}: expected three numbers train,val,test such as 0.8,0.1,0.1.") from None
    if len(values) != 3 or min(values) < 0 or values[0] == 0 or values[2] == 0 or abs(sum(values) - 1) > 1e-6:
        raise ValueError(f"ratios={ratios!r}: expected three non-negative fractions train,val,test summing to 1, "
                         "with train and test above 0 (GLAM: 0.8,0,0.2; README table: 0.8,0.1,0.1).")
    return values  # type: ignore[return-value]


@register_protocol(speaker_independent=False, selects_on_test=True)
def paper_random_split_speaker_dependent(utterances: list[Utterance], *, seed: int,
                                         ratios: tuple[float, ...] = (0.8, 0.0, 0.2)) -> list[Fold]:
    """GLAM's random utterance split: speakers on both sides; with no val ratio, selection on the test part.

    Reproduces GLAM's protocol (80 % train, 20 % used both to pick the best epoch and to report), which is why
    validation equals test by default; every report of it must say so. ``ratios=0.8,0.1,0.1`` gives the README's
    8:1:1 split with a separate validation part. Fractions count groups (utterances, with byte-identical files
    joined); the draw uses scikit-learn's GroupShuffleSplit with the seed, so each seed gives another split.

    Args:
        ratios: train, val, test fractions summing to 1.
    """
    train_ratio, val_ratio, test_ratio = _parse_ratios(ratios)
    groups = _group_utterances(utterances, lambda u: u.id)
    labels = _group_labels(groups, len(utterances))
    indices = np.arange(len(utterances))
    train_val, test = next(GroupShuffleSplit(n_splits=1, test_size=test_ratio, random_state=seed)
                           .split(indices, groups=labels))
    if val_ratio > 0:
        inner = GroupShuffleSplit(n_splits=1, test_size=val_ratio / (train_ratio + val_ratio), random_state=seed)
        train_pos, val_pos = next(inner.split(train_val, groups=labels[train_val]))
        train, val = train_val[train_pos], train_val[val_pos]
    else:
        train, val = train_val, test  # the original: the held-out part is also the selection set
    return [_make_fold("random", (utterances[i].id for i in train), (utterances[i].id for i in val),
                       (utterances[i].id for i in test))]


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
        raise ProtocolError("protocol auto: some utterances have no speaker; fill the speaker column (or name files "
                            "<speaker>_*.wav) so that no speaker is in train and test at once.")
    warnings = []
    if count >= KFOLD_FROM_SPEAKERS:
        name, options = "speaker_kfold", {"k": 5, "val_speakers": 2}
    elif count >= 3:
        name, options = "leave_one_speaker_out", {"val_speakers": 1}
    else:
        name, options = "paper_random_split_speaker_dependent", {"ratios": (0.7, 0.15, 0.15)}
        warnings.append(f"only {count} speaker(s) ({', '.join(speakers)}): the split is speaker-DEPENDENT (the same "
                        "voices in train and test), so the scores do not predict how the model does on new speakers; "
                        "record at least 3 speakers (5 or more for a stable estimate).")
    if 3 <= count < FEW_SPEAKERS:
        warnings.append(f"only {count} speakers: each test fold is one voice and the model trains on "
                        f"{count - 2}, so the scores vary a lot between folds; {FEW_SPEAKERS} or more speakers give "
                        "a more stable speaker-independent estimate.")
    return name, options, warnings


# --------------------------------------------------------------------------------------------------------------------
# Files and reports
# --------------------------------------------------------------------------------------------------------------------


def write_folds(folds: Sequence[Fold], path: str | os.PathLike, *, protocol: str, seed: int,
                manifest: str | os.PathLike | None = None, options: Mapping[str, Any] | None = None) -> Path:
    """Write folds as JSON (atomically) with the protocol, its guarantees, the seed and per-fold counts.

    Args:
        manifest: the manifest the folds were made from; its path and SHA-1 are recorded.
        options: the protocol options used (``null`` in the file when not given).
    """
    from serkit import __version__  # imported here: serkit/__init__ imports this module

    info = protocol_info(protocol)
    manifest_sha1 = file_digest(manifest) if manifest is not None and Path(manifest).is_file() else None
    document = {
        "serkit_version": __version__,
        "protocol": info.name,
        "info": info.to_dict(),
        "seed": seed,
        "options": None if options is None else {key: _jsonable(value) for key, value in options.items()},
        "manifest": None if manifest is None else str(manifest),
        "manifest_sha1": manifest_sha1,
        "folds": [{"name": f.name, "held_out": list(f.held_out), "selection": f.selection,
                   "counts": {part: len(getattr(f, part)) for part in _PARTS},
                   **{part: list(getattr(f, part)) for part in _PARTS}} for f in folds],
    }
    atomic_write_json(path, document)
    return Path(path)


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def read_folds(path: str | os.PathLike) -> list[Fold]:
    """Folds from a JSON file written by :func:`write_folds`.

    Raises:
        ManifestError: missing file, invalid JSON, no ``folds`` list, or a malformed fold — naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path}: folds file not found; write one with `serkit corpus folds MANIFEST -o {path}`.")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: not valid JSON ({exc}); regenerate it with `serkit corpus folds`.") from None
    if not isinstance(document, dict) or not isinstance(document.get("folds"), list) or not document["folds"]:
        raise ManifestError(f"{path}: expected a JSON object with a non-empty 'folds' list (as written by "
                            "`serkit corpus folds`).")
    folds = []
    for number, entry in enumerate(document["folds"], start=1):
        try:
            folds.append(Fold.from_dict(entry))
        except (TypeError, ValueError) as exc:
            raise ManifestError(f"{path}: fold {number}: {exc}") from None
    return folds


def _short_list(items: Sequence[str], limit: int = 3) -> str:
    if not items:
        return "-"
    shown = ", ".join(items[:limit])
    return shown + (f" +{len(items) - limit}" if len(items) > limit else "")


def describe_folds(folds: Sequence[Fold], utterances: Sequence[Utterance] | None = None) -> str:
    """A compact table: fold, held-out groups, utterance counts per part, and what selection uses.

    Args:
        utterances: when given, the number of speakers in each part is shown too (``1152 (18 spk)``).
    """
    speaker_of = {u.id: u.speaker for u in utterances} if utterances is not None else None

    def cell(ids: Sequence[str]) -> str:
        if speaker_of is None:
            return str(len(ids))
        speakers = {speaker_of.get(i, "") for i in ids} - {""}
        return f"{len(ids)} ({len(speakers)} spk)"

    rows = [[f.name, _short_list(list(f.held_out)), cell(f.train), cell(f.val), cell(f.test), f.selection]
            for f in folds]
    table = format_table(["fold", "held out", "train", "val", "test", "selection"], rows)
    notes = []
    if any(f.selection == "test" for f in folds):
        notes.append("NOTE: validation equals test in some folds: results are selected on the test data.")
    if any(f.selection == "none" for f in folds):
        notes.append("NOTE: some folds have no validation set: nothing may be selected on held-out data.")
    return "\n".join([table, *notes])
