"""Blocks shared by more than one model family."""

from __future__ import annotations

import torch

__all__ = ["lengths_to_mask", "masked_mean"]


def lengths_to_mask(lengths: torch.Tensor, max_length: int | None = None) -> torch.Tensor:
    """Boolean mask of valid positions.

    Args:
        lengths: (batch,) int64 numbers of valid frames.
        max_length: mask width; default ``lengths.max()``.

    Returns:
        mask: (batch, max_length), True where ``position < length``.
    """
    max_length = int(lengths.max()) if max_length is None else max_length
    positions = torch.arange(max_length, device=lengths.device)
    return positions.unsqueeze(0) < lengths.unsqueeze(1)


def masked_mean(values: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Mean over the time axis counting only valid frames.

    Args:
        values: (batch, frames, hidden_dim).
        lengths: (batch,) valid frames per example (>= 1).

    Returns:
        (batch, hidden_dim)
    """
    mask = lengths_to_mask(lengths, values.shape[1]).unsqueeze(-1).to(values.dtype)  # (batch, frames, 1)
    return (values * mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1.0)
