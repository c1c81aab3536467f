"""In-memory chunk datasets shared by training, evaluation and prediction.

Every utterance becomes one or more *chunks*: fixed segments (``input.mode: segments``), the whole utterance
(``mode: utterance``) or single feature frames (``mode: frames``). A chunk is an array whose axis 0 is the
variable-length one: ``(frames, num_features)`` for spectral features, ``(samples,)`` for waveforms,
``(segments, 3, height, width)`` for DCNN images. The model sees batches padded along that axis with their
``lengths``, and an utterance's logits are the mean of its chunks' logits (GLAM's rule; with one chunk per utterance
it is the plain utterance prediction).

Utterance-level *extras* (a fusion model's transcript: ``text``, ``(tokens,)`` ids or ``(tokens, dim)``
embeddings) travel with every chunk of their utterance and are padded the same way, as ``text (batch, tokens, ...)``
and ``text_lengths (batch,)``; the model receives them as keyword arguments (:func:`model_inputs`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler

from serkit.data.task import TaskSpec
from serkit.models.base import SERModel
from serkit.training.accelerator import eval_autocast

__all__ = [
    "EVAL_CACHE_BYTES",
    "ChunkSet",
    "collate_chunks",
    "eval_batches",
    "make_loader",
    "model_inputs",
    "pad_along_first",
    "utterance_logits",
]

#: Batch keys that are not model inputs.
_BOOKKEEPING = ("features", "lengths", "targets", "utterance")


@dataclass
class ChunkSet(Dataset):
    """Chunks of a list of utterances.

    Attributes:
        chunks: list of float32 arrays, each (frames, *feature_shape).
        chunk_utterance: (num_chunks,) index of the utterance each chunk belongs to.
        targets: (num_utterances,) class index per utterance (-1 = unlabelled), or for multi-label targets
            (num_utterances, num_classes) float 0/1 indicators.
            Regression: (num_utterances, num_dimensions) float values on [0, 1], NaN = not rated; multitask:
            (num_utterances, 1 + num_dimensions), the class index then the values (:mod:`serkit.data.task`).
        utterance_ids: ids, in utterance-index order.
        extras: per utterance, named arrays whose axis 0 varies (``{"text": (tokens,) ids}``); empty = none.
        task: what the targets are (classification by default).
    """

    chunks: list[np.ndarray]
    chunk_utterance: np.ndarray
    targets: np.ndarray
    utterance_ids: Sequence[str]
    extras: list[dict[str, np.ndarray]] = field(default_factory=list)
    task: TaskSpec = field(default_factory=TaskSpec)

    def __len__(self) -> int:
        return len(self.chunks)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int, int, dict[str, np.ndarray]]:
        utterance = int(self.chunk_utterance[index])
        extras = self.extras[utterance] if self.extras else {}
        return self.chunks[index], self.targets[utterance], utterance, extras

    @property
    def num_utterances(self) -> int:
        return len(self.utterance_ids)

    def set_epoch(self, epoch: int) -> None:
        """Called by the training loop before every epoch; fixed chunks stay as they are (an augmented set makes
        the epoch's chunks, :mod:`serkit.training.augmented_data`)."""

    def chunk_targets(self) -> np.ndarray:
        return self.targets[self.chunk_utterance]

    def chunk_classes(self) -> np.ndarray:
        """(num_chunks,) class index of each chunk (single-label classification and multitask)."""
        classes, _ = self.task.split_targets(self.targets)
        return np.asarray(classes, dtype=np.int64)[self.chunk_utterance]

    @property
    def multi_label(self) -> bool:
        return self.task.kind == "classification" and self.targets.ndim == 2


def pad_along_first(arrays: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Arrays (length_i, *trailing) -> zero-padded (batch, max_length, *trailing) tensor and lengths (batch,)."""
    lengths = torch.tensor([array.shape[0] for array in arrays], dtype=torch.long)
    if bool((lengths == lengths[0]).all()):  # fixed-length segments: one stack, no padding loop
        return torch.from_numpy(np.stack(arrays)), lengths
    first = arrays[0]
    padded = torch.zeros(
        (len(arrays), int(lengths.max()), *first.shape[1:]), dtype=torch.from_numpy(first[:0]).dtype
    )
    for row, array in enumerate(arrays):
        padded[row, : array.shape[0]] = torch.from_numpy(array)
    return padded, lengths


def collate_chunks(
    items: list[tuple[np.ndarray, int, int, dict[str, np.ndarray]]],
) -> dict[str, torch.Tensor]:
    """Pad chunks to the longest: features (batch, frames, *feature_shape), lengths, targets, utterance (batch,),
    and for each extra ``name`` the padded ``name`` (batch, tokens, ...) and ``name_lengths`` (batch,)."""
    features, lengths = pad_along_first([item[0] for item in items])
    batch = {
        "features": features,
        "lengths": lengths,
        "targets": torch.from_numpy(
            np.asarray([item[1] for item in items])
        ),  # int64, or float 0/1 multi-label
        "utterance": torch.tensor([item[2] for item in items], dtype=torch.long),
    }
    for name in items[0][3]:
        batch[name], batch[f"{name}_lengths"] = pad_along_first([item[3][name] for item in items])
    return batch


def model_inputs(batch: dict[str, torch.Tensor], device: torch.device | str | None = None) -> dict[str, Any]:
    """The keyword inputs of a model beyond ``(features, lengths)``: the extras of a batch (``text``, ...)."""
    return {
        key: value if device is None else value.to(device)
        for key, value in batch.items()
        if key not in _BOOKKEEPING
    }


def make_loader(
    dataset: ChunkSet,
    *,
    batch_size: int,
    shuffle: bool,
    seed: int = 0,
    num_workers: int = 0,
    epoch: int = 0,
    balanced: bool = False,
) -> DataLoader:
    """A DataLoader whose order depends only on (seed, epoch), so a resumed run sees the same order.

    ``balanced`` draws chunks with replacement, each class equally likely (CPT-HuBERT's class-balanced sampler);
    an epoch then has as many draws as the set has chunks.
    """
    generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
    sampler = None
    if balanced and (dataset.multi_label or dataset.task.kind == "regression"):
        raise ValueError(
            "train.sampler=balanced needs one class per utterance; multi-label targets have several and "
            "regression (task: regression) has none."
        )
    if balanced:
        chunk_targets = dataset.chunk_classes()
        counts = np.bincount(chunk_targets[chunk_targets >= 0], minlength=1).astype(np.float64)
        weights = np.where(chunk_targets >= 0, 1.0 / np.maximum(counts[np.maximum(chunk_targets, 0)], 1), 0.0)
        sampler = WeightedRandomSampler(
            torch.from_numpy(weights), num_samples=len(dataset), replacement=True, generator=generator
        )
        shuffle = False
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        sampler=sampler,
        collate_fn=collate_chunks,
        num_workers=num_workers,
        generator=generator,
        drop_last=False,
        persistent_workers=False,
    )


#: Padded evaluation batches kept between epochs (:func:`eval_batches`) up to this many bytes; a larger set is padded
#: again at every pass rather than held twice in memory.
EVAL_CACHE_BYTES = 1 << 30


def eval_batches(dataset: ChunkSet, batch_size: int) -> list[dict[str, torch.Tensor]] | None:
    """The evaluation batches of a set, in the order :func:`utterance_logits` uses, padded once to be reused at
    every epoch (a validation set does not change); None when they would exceed :data:`EVAL_CACHE_BYTES`."""
    size = 0
    for start in range(0, len(dataset), batch_size):
        chunks = dataset.chunks[start : start + batch_size]
        longest = max(chunk.shape[0] for chunk in chunks)
        size += len(chunks) * longest * chunks[0][:1].nbytes
        if size > EVAL_CACHE_BYTES:
            return None
    return list(make_loader(dataset, batch_size=batch_size, shuffle=False))


@torch.no_grad()
def utterance_logits(
    model: torch.nn.Module,
    dataset: ChunkSet,
    *,
    batch_size: int,
    device: torch.device | str = "cpu",
    with_embeddings: bool = False,
    precision: str = "no",
    batches: Iterable[dict[str, torch.Tensor]] | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Mean chunk logits per utterance.

    Args:
        precision: a resolved mixed precision (``no``, ``bf16``, ``fp16``;
            :func:`serkit.training.accelerator.resolve_precision`): the model runs under that autocast, as in
            training. Logits and embeddings come back in float32.
        batches: the set's batches from :func:`eval_batches` (same ``batch_size``), or None to pad them here.

    Returns:
        logits: (num_utterances, num_classes); embeddings: (num_utterances, hidden_dim) mean of chunk embeddings,
        or None.
    """
    model.eval()
    model = model.for_inference() if isinstance(model, SERModel) else model  # e.g. GLAM's batch norms folded
    if batches is None:
        batches = make_loader(dataset, batch_size=batch_size, shuffle=False)
    logit_sum = emb_sum = None
    counts = torch.zeros(dataset.num_utterances)
    with eval_autocast(precision, device):
        for batch in batches:
            features, lengths = batch["features"].to(device), batch["lengths"].to(device)
            embedding = model.forward_features(features, lengths, **model_inputs(batch, device))
            logits = model.forward_head(embedding).float().cpu()
            if logit_sum is None:
                logit_sum = torch.zeros(dataset.num_utterances, logits.shape[1])
                emb_sum = torch.zeros(dataset.num_utterances, embedding.shape[1]) if with_embeddings else None
            logit_sum.index_add_(0, batch["utterance"], logits)
            if emb_sum is not None:
                emb_sum.index_add_(0, batch["utterance"], embedding.float().cpu())
            counts.index_add_(0, batch["utterance"], torch.ones(len(logits)))
    if logit_sum is None:
        raise ValueError("cannot evaluate an empty set of utterances.")
    denominator = counts.clamp_min(1).unsqueeze(1)
    return logit_sum / denominator, (emb_sum / denominator if emb_sum is not None else None)
