"""SpecAugment (Park et al. 2019) on training batches: zeroed bands of frames and of frequency bins.

``train.spec_time_masks`` masks, each of a width drawn uniformly from 0 to ``spec_time_width`` x the example's
valid frames (its ``lengths``, so padding is never counted nor masked into), and ``train.spec_freq_masks`` masks of
0 to ``spec_freq_width`` bins, the same bins over every frame and channel of the example. Masks are filled with 0:
features are standardised (``input.normalize``), so 0 is the training mean; DCNN's ImageNet-normalised images are
near 0 at their mean too. The masks are drawn from a generator seeded by (seed, epoch) in the loop, so a run stays
reproducible and resumable. The loop masks before mixup: each example is masked on its own, then mixed.

Where time and frequency are depends on the batch layout, given by its rank (:data:`LAYOUTS`): a chunk's axis 0 is
its frames (:mod:`serkit.training.data`), and the last axis holds the bins, except in DCNN's image segments, where
each segment is an image whose height is the mel bins and width the frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from serkit.config import TrainConfig

__all__ = ["LAYOUTS", "BatchLayout", "SpecAugment"]


@dataclass(frozen=True)
class BatchLayout:
    """Where a feature batch keeps time and frequency; ``lengths_on_time``: ``lengths`` count the time axis."""

    time_axis: int
    freq_axis: int
    lengths_on_time: bool
    example: str


#: Feature batch rank -> its layout.
LAYOUTS: dict[int, BatchLayout] = {
    3: BatchLayout(1, 2, True, "(batch, frames, num_features): MFCC or log-mel segments and utterances"),
    4: BatchLayout(
        1, 3, True, "(batch, frames, channels, num_features): 3-channel log-mel, SSL layer stacks"
    ),
    # each segment is a (channels, n_mels, frames) image of full width: lengths count segments, not its frames
    5: BatchLayout(4, 3, False, "(batch, segments, channels, n_mels, frames): DCNN image segments"),
}


def _bands(generator: torch.Generator, valid: torch.Tensor, size: int, count: int, widest: torch.Tensor):
    """``count`` bands per example, each of width ~ U{0..widest} starting ~ U{0..valid - width}.

    Args:
        valid: (batch,) valid positions per example. size: positions of the axis (>= valid).
        widest: (batch,) largest width per example (<= valid).

    Returns:
        (batch, size) bool, True where a band lies.
    """
    batch = len(valid)
    width = (torch.rand(batch, count, generator=generator) * (widest[:, None] + 1)).floor().long()
    start = (torch.rand(batch, count, generator=generator) * (valid[:, None] - width + 1)).floor().long()
    positions = torch.arange(size)
    inside = (positions >= start[..., None]) & (
        positions < (start + width)[..., None]
    )  # (batch, count, size)
    return inside.any(dim=1)


def _along(mask: torch.Tensor, axis: int, ndim: int) -> torch.Tensor:
    """(batch, size) -> broadcastable (batch, 1, .., size at ``axis``, .., 1)."""
    shape = [mask.shape[0]] + [mask.shape[1] if dim == axis else 1 for dim in range(1, ndim)]
    return mask.reshape(shape)


@dataclass(frozen=True)
class SpecAugment:
    """Time and frequency masks; with no mask configured the call returns the batch itself (no draw)."""

    time_masks: int = 0
    time_width: float = 0.1
    freq_masks: int = 0
    freq_width: int = 8

    @classmethod
    def from_config(cls, config: TrainConfig) -> SpecAugment:
        return cls(
            config.spec_time_masks, config.spec_time_width, config.spec_freq_masks, config.spec_freq_width
        )

    @property
    def active(self) -> bool:
        return bool(self.time_masks or self.freq_masks)

    def describe(self) -> str:
        """``SpecAugment 2x10% time / 2x8 bins`` (the report's wording)."""
        parts = [f"{self.time_masks}x{self.time_width * 100:g}% time"] if self.time_masks else []
        parts += [f"{self.freq_masks}x{self.freq_width} bins"] if self.freq_masks else []
        return "SpecAugment " + " / ".join(parts)

    def __call__(
        self, features: torch.Tensor, lengths: torch.Tensor, generator: torch.Generator
    ) -> torch.Tensor:
        """Masked copy of a training batch.

        Args:
            features: a batch in one of the :data:`LAYOUTS`, e.g. (batch, frames, num_features).
            lengths: (batch,) valid frames. generator: seeded CPU generator (one per epoch).

        Returns:
            features' shape, with the masked frames and bins set to 0.
        """
        if not self.active:
            return features
        layout = LAYOUTS.get(features.ndim)
        if layout is None:
            raise ValueError(
                f"train.spec_time_masks / spec_freq_masks need spectral features, but the batch is "
                f"{tuple(features.shape)} (waveforms or no audio); layouts with masks: "
                f"{'; '.join(lay.example for lay in LAYOUTS.values())}. Set both to 0 for this recipe."
            )
        batch, ndim = features.shape[0], features.ndim
        masked = torch.zeros((batch,) + (1,) * (ndim - 1), dtype=torch.bool)
        if self.time_masks:
            frames = features.shape[layout.time_axis]
            valid = lengths.cpu().long() if layout.lengths_on_time else torch.full((batch,), frames)
            widest = (valid.double() * self.time_width).floor().long()
            time = _bands(generator, valid, frames, self.time_masks, widest)
            masked = masked | _along(time, layout.time_axis, ndim)
        if self.freq_masks:
            bins = features.shape[layout.freq_axis]
            valid = torch.full((batch,), bins)
            freq = _bands(generator, valid, bins, self.freq_masks, valid.clamp_max(self.freq_width))
            masked = masked | _along(freq, layout.freq_axis, ndim)
        return features.masked_fill(masked.to(features.device), 0.0)
