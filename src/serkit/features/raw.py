"""Inputs that are not spectral features: the waveform itself, and no audio at all.

* ``waveform``: the samples at ``sample_rate``, for models with their own front end (HuBERT, wav2vec2). One frame per
  sample and no feature axis: an utterance is a chunk ``(samples,)`` and a batch ``(batch, samples)`` with
  ``lengths`` in samples.
* ``none``: reads no audio; every utterance is one zero chunk ``(1, 1)``. For text-only models on corpora whose audio
  is absent (MELD transcripts alone): the model ignores the acoustic input.

Use ``input.normalize: none`` with both (standardising raw samples or a constant is meaningless).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from serkit.features.base import FEATURES, FeatureConfig

__all__ = ["NoAudioConfig", "WaveformConfig"]


@FEATURES.register("waveform")
@dataclass(frozen=True)
class WaveformConfig(FeatureConfig):
    """The waveform, unchanged: ``(batch, samples)`` -> ``(batch, samples)`` (``feature_shape == ()``)."""

    name: ClassVar[str] = "waveform"

    sample_rate: int = 16000

    def validate(self) -> None:
        if self.sample_rate <= 0:
            raise ValueError(f"sample_rate must be > 0, got {self.sample_rate}.")

    @property
    def feature_shape(self) -> tuple[int, ...]:
        return ()

    @property
    def num_features(self) -> int:
        return 1

    def num_frames(self, num_samples: int) -> int:
        return num_samples

    def _compute_batch(self, waveforms: torch.Tensor) -> torch.Tensor:
        return waveforms.contiguous()


@FEATURES.register("none")
@dataclass(frozen=True)
class NoAudioConfig(FeatureConfig):
    """No acoustic input (text-only models): the pipeline reads no file and gives one zero chunk ``(1, 1)``."""

    name: ClassVar[str] = "none"
    reads_audio: ClassVar[bool] = False

    @property
    def feature_shape(self) -> tuple[int, ...]:
        return (1,)

    def num_frames(self, num_samples: int) -> int:
        return 1

    def _compute_batch(self, waveforms: torch.Tensor) -> torch.Tensor:
        return waveforms.new_zeros((waveforms.shape[0], 1, 1))
