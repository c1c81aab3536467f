"""Splits as a paper or a corpus gives them: GLAM's random split, the corpus's official split, user lists."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import GroupShuffleSplit

from serkit.core.errors import ProtocolError
from serkit.data.protocols.base import PARTS, Fold, build_fold, register_protocol
from serkit.data.protocols.files import read_folds
from serkit.data.protocols.grouping import group_labels, group_utterances
from serkit.data.utterance import Utterance

__all__ = ["official", "paper_random_split_speaker_dependent", "predefined"]


def _parse_ratios(ratios: Sequence[Any]) -> tuple[float, float, float]:
    try:
        values = tuple(float(r) for r in ratios)
    except (TypeError, ValueError):
        raise ValueError(
            f"ratios={ratios!r}: expected three numbers train,val,test such as 0.8,0.1,0.1."
        ) from None
    if len(values) != 3 or min(values) < 0 or values[0] == 0 or values[2] == 0 or abs(sum(values) - 1) > 1e-6:
        raise ValueError(
            f"ratios={ratios!r}: expected three non-negative fractions train,val,test summing to 1, "
            "with train and test above 0 (GLAM: 0.8,0,0.2; README table: 0.8,0.1,0.1)."
        )
    return values  # type: ignore[return-value]


@register_protocol(speaker_independent=False, selects_on_test=True)
def paper_random_split_speaker_dependent(
    utterances: list[Utterance], *, seed: int, ratios: tuple[float, ...] = (0.8, 0.0, 0.2)
) -> list[Fold]:
    """GLAM's random utterance split: speakers on both sides; with no val ratio, selection on the test part.

    Reproduces GLAM's protocol (80 % train, 20 % used both to pick the best epoch and to report), which is why
    validation equals test by default; every report of it must say so. ``ratios=0.8,0.1,0.1`` gives the README's
    8:1:1 split with a separate validation part. Fractions count groups (utterances, with byte-identical files
    joined); the draw uses scikit-learn's GroupShuffleSplit with the seed, so each seed gives another split.

    Args:
        ratios: train, val, test fractions summing to 1.
    """
    train_ratio, val_ratio, test_ratio = _parse_ratios(ratios)
    groups = group_utterances(utterances, lambda u: u.id)
    labels = group_labels(groups, len(utterances))
    indices = np.arange(len(utterances))
    train_val, test = next(
        GroupShuffleSplit(n_splits=1, test_size=test_ratio, random_state=seed).split(indices, groups=labels)
    )
    if val_ratio > 0:
        inner = GroupShuffleSplit(
            n_splits=1, test_size=val_ratio / (train_ratio + val_ratio), random_state=seed
        )
        train_pos, val_pos = next(inner.split(train_val, groups=labels[train_val]))
        train, val = train_val[train_pos], train_val[val_pos]
    else:
        train, val = train_val, test  # the original: the held-out part is also the selection set
    return [
        build_fold(
            "random",
            (utterances[i].id for i in train),
            (utterances[i].id for i in val),
            (utterances[i].id for i in test),
        )
    ]


_OFFICIAL_PARTS = {
    "train": "train",
    "training": "train",
    "dev": "val",
    "valid": "val",
    "val": "val",
    "validation": "val",
    "test": "test",
}


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
            raise ProtocolError(
                f"official: utterance {utt.id!r} has no {split_field!r} value; the official "
                f"protocol needs a {split_field!r} column on every row (or use another protocol)."
            )
        part = _OFFICIAL_PARTS.get(value.lower())
        if part is None:
            raise ProtocolError(
                f"official: utterance {utt.id!r} has {split_field}={value!r}; expected one of "
                f"{', '.join(sorted(_OFFICIAL_PARTS))}."
            )
        parts[part].append(utt.id)
    return [build_fold("official", parts["train"], parts["val"], parts["test"], ("test",))]


def _read_id_list(path: str | os.PathLike, known: set[str], option: str) -> list[str]:
    """Ids from a text file, one per line (blank lines and ``#`` comments skipped), all checked against ``known``."""
    path = Path(path)
    if not path.is_file():
        raise ProtocolError(f"predefined: {option} list {path} not found.")
    ids = [line.strip() for line in path.read_text(encoding="utf-8-sig").splitlines()]
    ids = [i for i in ids if i and not i.startswith("#")]
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise ProtocolError(
            f"predefined: {path} ({option}) lists {len(unknown)} id(s) that are not in the manifest, "
            f"first: {', '.join(map(repr, unknown[:5]))}. Ids are utterance ids (the manifest's "
            "utt_id column), one per line."
        )
    return ids


@register_protocol()
def predefined(
    utterances: list[Utterance],
    *,
    seed: int,
    train: str = "",
    val: str = "",
    test: str = "",
    folds_file: str = "",
) -> list[Fold]:
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
            unknown = [i for part in PARTS for i in getattr(fold, part) if i not in known]
            if unknown:
                raise ProtocolError(
                    f"predefined: {folds_file} fold {fold.name!r} has {len(unknown)} id(s) that "
                    f"are not in the manifest, first: {', '.join(map(repr, unknown[:5]))}."
                )
        return folds
    if not train or not test:
        raise ValueError(
            "predefined: set train=FILE and test=FILE (and optionally val=FILE), or folds_file=FILE."
        )
    val_ids = _read_id_list(val, known, "val") if val else []
    return [
        build_fold(
            "predefined", _read_id_list(train, known, "train"), val_ids, _read_id_list(test, known, "test")
        )
    ]
