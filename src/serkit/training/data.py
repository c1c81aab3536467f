"""In-memory chunk datasets shared by training, evaluation and prediction.

Every utterance becomes one or more *chunks*: fixed segments (``input.mode: segments``) or the whole utterance
(``mode: utterance``). Each chunk is a feature matrix ``(frames, num_features)``; the model sees padded batches of
chunks with their lengths, and an utterance's logits are the mean of its chunks' logits (GLAM's rule; with one
chunk per utterance it is the plain utterance prediction).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

__all__ = ["ChunkSet", "collate_chunks", "make_loader", "utterance_logits"]


@dataclass
class ChunkSet(Dataset):
    """Chunks of a list of utterances.

    Attributes:
        chunks: list of float32 arrays, each (frames, num_features).
        chunk_utterance: (num_chunks,) index of the utterance each chunk belongs to.
        targets: (num_utterances,) class index per utterance (-1 = unlabelled).
        utterance_ids: ids, in utterance-index order.
    """

    chunks: list[np.ndarray]
    chunk_utterance: np.ndarray
    targets: np.ndarray
    utterance_ids: Sequence[str]

    def __len__(self) -> int:
        return len(self.chunks)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int, int]:
        utterance = int(self.chunk_utterance[index])
        return self.chunks[index], int(self.targets[utterance]), utterance

    @property
    def num_utterances(self) -> int:
        return len(self.utterance_ids)

    def chunk_targets(self) -> np.ndarray:
        return self.targets[self.chunk_utterance]


def collate_chunks(items: list[tuple[np.ndarray, int, int]]) -> dict[str, torch.Tensor]:
    """Pad chunks to the longest: features (batch, frames, num_features), lengths, targets, utterance (batch,)."""
    lengths = torch.tensor([item[0].shape[0] for item in items], dtype=torch.long)
    if bool((lengths == lengths[0]).all()):  # fixed-length segments: one stack, no padding loop
        features = torch.from_numpy(np.stack([item[0] for item in items]))
    else:
        features = torch.zeros(len(items), int(lengths.max()), items[0][0].shape[1])
        for row, (chunk, _, _) in enumerate(items):
            features[row, : chunk.shape[0]] = torch.from_numpy(chunk)
    return {
        "features": features,
        "lengths": lengths,
        "targets": torch.tensor([item[1] for item in items], dtype=torch.long),
        "utterance": torch.tensor([item[2] for item in items], dtype=torch.long),
    }


def make_loader(dataset: ChunkSet, *, batch_size: int, shuffle: bool, seed: int = 0, num_workers: int = 0,
                epoch: int = 0) -> DataLoader:
    """A DataLoader whose shuffling depends only on (seed, epoch), so a resumed run sees the same order."""
    generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, collate_fn=collate_chunks,
                      num_workers=num_workers, generator=generator, drop_last=False,
                      persistent_workers=False)


@torch.no_grad()
def utterance_logits(model: torch.nn.Module, dataset: ChunkSet, *, batch_size: int,
                     device: torch.device | str = "cpu", with_embeddings: bool = False
                     ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Mean chunk logits per utterance.

    Returns:
        logits: (num_utterances, num_classes); embeddings: (num_utterances, hidden_dim) mean of chunk embeddings,
        or None.
    """
    model.eval()
    loader = make_loader(dataset, batch_size=batch_size, shuffle=False)
    logit_sum = emb_sum = None
    counts = torch.zeros(dataset.num_utterances)
    for batch in loader:
        features, lengths = batch["features"].to(device), batch["lengths"].to(device)
        embedding = model.forward_features(features, lengths)
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
