"""The fold record, the protocol registry, :func:`make_folds` and the central check :func:`check_folds`.

Every protocol module registers its functions with :func:`register_protocol`; :func:`make_folds` is the one way
in: it looks the protocol up, converts ``--opt key=value`` strings by the option annotations and checks every fold
(see :mod:`serkit.data.protocols` for the guarantees).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from serkit.core.errors import ProtocolError
from serkit.core.options import call_with_options
from serkit.core.registry import Registry
from serkit.data.utterance import Utterance

__all__ = [
    "PARTS",
    "PROTOCOLS",
    "Fold",
    "ProtocolInfo",
    "build_fold",
    "check_folds",
    "list_protocols",
    "make_folds",
    "protocol_info",
    "register_protocol",
]

#: The parts of a fold, in file order.
PARTS = ("train", "val", "test")


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
        return {
            "name": self.name,
            "held_out": list(self.held_out),
            "train": list(self.train),
            "val": list(self.val),
            "test": list(self.test),
        }

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
        for key in (*PARTS, "held_out"):
            values = data.get(key, [])
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise ValueError(f"fold {data['name']!r}: {key!r} must be a list of strings.")
            parts[key] = tuple(values)
        return cls(name=str(data["name"]), **parts)


def build_fold(
    name: str, train: Iterable[str], val: Iterable[str], test: Iterable[str], held_out: Iterable[str] = ()
) -> Fold:
    """A Fold with every part sorted, so the same split always serialises the same way."""
    return Fold(
        name=name,
        train=tuple(sorted(train)),
        val=tuple(sorted(val)),
        test=tuple(sorted(test)),
        held_out=tuple(held_out),
    )


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


def register_protocol(
    *, speaker_independent: bool = True, session_independent: bool = False, selects_on_test: bool = False
) -> Callable:
    """Decorator: register a protocol function under its own name, with its guarantees.

    The description is the first line of the function's docstring.
    """

    def decorator(function: Callable[..., list[Fold]]) -> Callable[..., list[Fold]]:
        PROTOCOLS.register()(function)
        name = function.__name__.lower()
        doc = (function.__doc__ or "").strip()
        _INFO[name] = ProtocolInfo(
            name,
            speaker_independent,
            session_independent,
            selects_on_test,
            doc.splitlines()[0] if doc else "",
        )
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


def make_folds(
    utterances: Sequence[Utterance], protocol: str, *, seed: int = 0, options: Mapping[str, Any] | None = None
) -> list[Fold]:
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
        raise ProtocolError(
            f"protocol {info.name!r}: no utterances to split; check the manifest and label filter."
        )
    seen: set[str] = set()
    for utt in utterances:
        if utt.id in seen:
            raise ProtocolError(f"utterance id {utt.id!r} occurs twice; ids must be unique before splitting.")
        seen.add(utt.id)
    # Sorting makes the folds independent of the manifest's row order.
    ordered = sorted(utterances, key=lambda u: u.id)
    folds = call_with_options(
        function,
        ordered,
        options=options,
        fixed={"seed": int(seed)},
        what=f"option of protocol {info.name!r}",
    )
    if not folds:
        raise ProtocolError(f"protocol {info.name!r} produced no folds from {len(ordered)} utterances.")
    check_folds(
        folds,
        ordered,
        speaker_independent=info.speaker_independent,
        session_independent=info.session_independent,
        selects_on_test=info.selects_on_test,
    )
    return folds


def _overlap_message(fold: Fold, what: str, first: str, second: str, shared: set[str], why: str) -> str:
    examples = ", ".join(repr(x) for x in sorted(shared)[:5]) + (" ..." if len(shared) > 5 else "")
    return f"fold {fold.name!r}: {len(shared)} {what} on both {first} and {second} ({examples}); {why}"


def check_folds(
    folds: Sequence[Fold],
    utterances: Sequence[Utterance],
    *,
    speaker_independent: bool = True,
    session_independent: bool = False,
    selects_on_test: bool = False,
) -> None:
    """Raise ProtocolError if a fold breaks a guarantee (the list is in :mod:`serkit.data.protocols`).

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
                raise ProtocolError(
                    f"fold {fold.name!r}: {len(unknown)} {part} id(s) are not in the manifest "
                    f"({', '.join(map(repr, unknown[:5]))})."
                )
            if len(set(ids)) != len(ids):
                raise ProtocolError(f"fold {fold.name!r}: the {part} part lists an id twice.")
        for part in ("train", "test"):
            if not parts[part]:
                raise ProtocolError(
                    f"fold {fold.name!r}: the {part} part is empty; check the protocol options."
                )
        val_is_test = fold.selection == "test"
        if val_is_test and not selects_on_test:
            raise ProtocolError(
                f"fold {fold.name!r}: validation equals test, i.e. the model would be selected on "
                "the test data; only protocols registered as selecting on test may do that."
            )
        pairs = [("train", "val"), ("train", "test")]
        if not (val_is_test and selects_on_test):
            pairs.append(("val", "test"))
        for first, second in pairs:
            a = [by_id[i] for i in parts[first]]
            b = [by_id[i] for i in parts[second]]
            shared = {u.id for u in a} & {u.id for u in b}
            if shared:
                raise ProtocolError(
                    _overlap_message(
                        fold,
                        "utterance id(s)",
                        first,
                        second,
                        shared,
                        "an utterance may be on one side only.",
                    )
                )
            shared = {u.content_hash for u in a if u.content_hash} & {u.content_hash for u in b}
            if shared:
                ids = sorted(u.id for u in (*a, *b) if u.content_hash in shared)
                raise ProtocolError(
                    _overlap_message(
                        fold,
                        "identical audio file(s)",
                        first,
                        second,
                        set(ids),
                        "byte-identical files must stay on one side; remove the duplicate or keep them together.",
                    )
                )
            if speaker_independent:
                shared = {u.speaker for u in a if u.speaker} & {u.speaker for u in b}
                if shared:
                    raise ProtocolError(
                        _overlap_message(
                            fold,
                            "speaker(s)",
                            first,
                            second,
                            shared,
                            "a speaker-independent protocol keeps each speaker on one side.",
                        )
                    )
            if session_independent:
                shared = {u.session for u in a if u.session} & {u.session for u in b}
                if shared:
                    raise ProtocolError(
                        _overlap_message(
                            fold,
                            "session(s)",
                            first,
                            second,
                            shared,
                            "a session-independent protocol keeps each session on one side.",
                        )
                    )
