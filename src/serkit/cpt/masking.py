"""HuBERT-style time masking: random spans of frames, drawn with torch's random number generator.

transformers draws its SpecAugment spans inside the model with NumPy's global generator (a private helper); serkit
draws them here and passes them as ``mask_time_indices``, so the spans depend only on torch seeds (a resumed run
masks the same frames as an uninterrupted one) and the same code serves pre-training (``mask_prob`` 0.8) and
fine-tuning (0.08).
"""

from __future__ import annotations

import torch

__all__ = ["span_mask"]


def span_mask(frame_lengths: torch.Tensor, *, max_frames: int, mask_prob: float, mask_length: int,
              min_masks: int = 2, generator: torch.Generator | None = None) -> torch.Tensor:
    """Spans to mask, as in HuBERT / fairseq ``compute_mask_indices`` (spans may overlap).

    Each utterance of ``L`` valid frames gets ``max(min_masks, floor(mask_prob * L / mask_length + u))`` spans
    (``u ~ U(0, 1)``) of ``mask_length`` frames, at distinct random starts in ``[0, L - mask_length]``, clipped
    at ``L``; fewer when there are not that many starts. Padded frames are never masked.

    Args:
        frame_lengths: (batch,) valid frames per utterance.
        max_frames: width of the mask (the padded number of frames).
        mask_prob: fraction of frames covered by spans before overlaps, 0 <= p <= 1.
        mask_length: frames per span (HuBERT: 10).
        min_masks: spans per utterance at least.
        generator: torch generator (None: the global one).

    Returns:
        (batch, max_frames) bool, True where the frame is masked.
    """
    if not 0.0 <= mask_prob <= 1.0:
        raise ValueError(f"mask_prob={mask_prob} must be between 0 and 1.")
    if mask_length < 1:
        raise ValueError(f"mask_length={mask_length} must be at least 1 frame.")
    lengths = frame_lengths.detach().cpu().long()
    mask = torch.zeros(len(lengths), max_frames, dtype=torch.bool)
    if mask_prob == 0.0:
        return mask.to(frame_lengths.device)
    for row, length in enumerate(lengths.tolist()):
        length = min(length, max_frames)
        if length <= 0:
            continue
        jitter = float(torch.rand((), generator=generator))
        wanted = max(min_masks, int(mask_prob * length / mask_length + jitter))
        starts_available = max(1, length - mask_length + 1)
        count = min(wanted, starts_available)
        starts = torch.randperm(starts_available, generator=generator)[:count]
        for start in starts.tolist():
            mask[row, start: min(start + mask_length, length)] = True
    return mask.to(frame_lengths.device)
