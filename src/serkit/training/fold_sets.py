"""A fold's training, validation and test chunk sets, normalised as ``input.normalize`` says.

``global`` uses statistics of the training part, ``utterance`` each utterance's own, ``speaker`` each speaker's
(for the validation and test speakers their unlabelled audio: transductive; see :mod:`serkit.features.normalize`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from serkit.core.errors import SerkitError
from serkit.data.protocols import Fold
from serkit.data.task import TaskSpec
from serkit.features.normalize import Normalizer
from serkit.training.data import ChunkSet
from serkit.training.strategies import FoldSets

if TYPE_CHECKING:  # stages.py imports this module
    from serkit.training.stages import ExperimentData, Prepared, Stage

__all__ = ["chunk_set", "fold_sets"]


def chunk_set(
    ids: tuple[str, ...],
    chunks: dict[str, np.ndarray],
    targets: dict[str, int | np.ndarray],
    texts: dict[str, np.ndarray] | None = None,
    task: TaskSpec | None = None,
) -> ChunkSet:
    ids = tuple(i for i in ids if i in chunks)
    pieces, owner = [], []
    for index, utt_id in enumerate(ids):
        for chunk in chunks[utt_id]:
            pieces.append(chunk)
            owner.append(index)
    extras = [{"text": texts[i]} for i in ids] if texts is not None else []
    values = [targets[i] for i in ids]
    labels = (
        np.stack(values).astype(np.float32)
        if values and np.ndim(values[0]) == 1  # multi-label indicators, dimension values (serkit.data.task)
        else np.asarray(values, dtype=np.int64)
    )
    return ChunkSet(pieces, np.asarray(owner, dtype=np.int64), labels, ids, extras, task or TaskSpec())


def fold_sets(
    stage: Stage, fold: Fold, data: ExperimentData, encoded: dict[str, np.ndarray] | None
) -> tuple[FoldSets, Normalizer]:
    """The fold's chunk sets, normalised as ``input.normalize`` says (:mod:`serkit.features.normalize`):
    ``global`` with statistics of the training part, ``utterance`` with each utterance's own, ``speaker`` with
    each speaker's (for the validation and test speakers their unlabelled audio: transductive)."""
    prepared = stage.prepared
    mode = stage.recipe.config.input.normalize
    train_ids = tuple(i for i in fold.train if i in prepared.train_chunks)
    if not train_ids or not any(len(prepared.train_chunks[i]) for i in train_ids):
        raise SerkitError(
            f"fold {fold.name}: the training part has no chunks (all utterances unreadable or "
            "dropped as too short); check input.short_policy and the corpus."
        )
    if mode == "global":
        normalizer = Normalizer.fit([prepared.train_chunks[i] for i in train_ids])
    elif mode == "speaker":
        normalizer = _speaker_normalizer(fold, prepared, data)
    else:
        normalizer = Normalizer(mode)

    def normalized(ids: tuple[str, ...], chunks: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        try:
            return {i: normalizer.utterance(chunks[i], data.by_id[i].speaker) for i in ids if i in chunks}
        except ValueError as exc:  # e.g. per-utterance statistics of one-frame functionals
            raise SerkitError(f"fold {fold.name}: {exc}") from None

    train_set = chunk_set(
        fold.train, normalized(fold.train, prepared.train_chunks), data.targets, encoded, data.task
    )
    val_set = chunk_set(
        fold.val, normalized(fold.val, prepared.eval_chunks), data.targets, encoded, data.task
    )
    test_set = chunk_set(
        fold.test, normalized(fold.test, prepared.eval_chunks), data.targets, encoded, data.task
    )
    if test_set.num_utterances == 0:
        raise SerkitError(
            f"fold {fold.name}: the test part is empty after skipping unreadable or too-short audio."
        )
    return FoldSets(train_set, val_set, test_set), normalizer


def _speaker_normalizer(fold: Fold, prepared: Prepared, data: ExperimentData) -> Normalizer:
    """Per-speaker statistics over the evaluation chunks of every utterance of the fold (train, validation and
    test), grouped by speaker: the same audio whichever part a speaker is in."""
    by_speaker: dict[str, list[np.ndarray]] = {}
    for utt_id in (*fold.train, *fold.val, *fold.test):
        if utt_id in prepared.eval_chunks and len(prepared.eval_chunks[utt_id]):
            by_speaker.setdefault(data.by_id[utt_id].speaker, []).append(prepared.eval_chunks[utt_id])
    return Normalizer.fit_speakers(by_speaker)
