"""DCNN-BLSTMwA's input: an utterance as a stack of 3-channel log-mel images (SEEDS.md 4.3).

``dcnn_segments`` (:class:`DCNNSegmentsConfig`) reproduces ``preprocess.extract_resized_segments_from_file`` of
tkhrtnk/DCNN-LSTMWA step by step:

1. zero-pad or truncate the waveform to ``max_seconds`` (ESD 3 s, JTES / RAVDESS 4 s);
2. pre-emphasis 0.97 (``y[n] - 0.97 y[n-1]``, first sample kept);
3. torchaudio ``MelSpectrogram`` of ``waveform + 1e-8``: 400-point FFT, 400-sample Hann window, hop 160, centred
   with reflect padding, power 2, 64 HTK-scale bands from 20 Hz to sample_rate / 2 with Slaney area normalisation;
   natural log (3 s -> 301 frames, 4 s -> 401);
4. delta and delta-delta (``torchaudio.functional.compute_deltas``, window 5, replicated edges; see
   :func:`~serkit.features.deltas.regression_delta`) stacked with the static log-mel as 3 channels;
5. per-channel min-max scaling to [0, 1] over the utterance, then ImageNet normalisation
   (mean 0.485 / 0.456 / 0.406, std 0.229 / 0.224 / 0.225);
6. 64-frame windows every 32 frames, the incomplete tail dropped (3 s -> 8 segments, 4 s -> 11);
7. each (3, 64, 64) segment resized to (3, 227, 227), bilinear with antialiasing
   (``torchvision.transforms.functional.resize`` on tensors is exactly this ``F.interpolate`` call).

The original did all of this on the fly in every epoch; here it runs once per file and the input pipeline caches the
result. An utterance is ``(segments, 3, image_size, image_size)``: ``frame_axis = 1``, each segment is one frame, so
``input.mode: frames`` trains on single segments (stage 1) and ``input.mode: utterance`` feeds the whole stack to
DCNN-BLSTMwA (stage 2).

Log of zero. The original has no floor under the log: the ``+1e-8`` offset leaves only floating-point noise of the
FFT in zero-padded regions (about ``exp(-66)`` in float32), which the default ``floor: 0`` keeps; an exact zero is
clamped to the smallest normal float instead of giving ``-inf``. Those very negative padded frames dominate the
min-max range and squeeze speech into the top of [0, 1] (SEEDS.md 4.8, pitfall 8); ``floor: 1.0e-10`` is the fix,
offered as an option only.

Memory. At 227 x 227 one 4 s utterance is 11 x 3 x 227 x 227 float32 = 6.8 MB (RAVDESS' 384 four-class normal
utterances: 2.6 GB). Since the resize is the last step, ``image_size: 64`` (no resize, 12.6x
smaller) with the model option ``resize_to: 227`` gives the same network input; use it for ESD and JTES.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from serkit.audio.transforms import pad_or_truncate
from serkit.features.base import FEATURES, FeatureConfig
from serkit.features.deltas import regression_delta
from serkit.features.spectral import LogMelConfig
from serkit.features.validation import check_positive_int

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "DCNNSegmentsConfig", "resize_images"]

#: ImageNet channel statistics of torchvision's pretrained models (static, delta, delta-delta take R, G, B).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def resize_images(images: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear, antialiased resize to ``size x size`` (torchvision ``resize`` on tensors).

    Args:
        images: (..., channels, height, width).

    Returns:
        (..., channels, size, size); the input itself when it already has that size.
    """
    if images.shape[-2:] == (size, size):
        return images
    leading = images.shape[:-3]
    flat = images.reshape(-1, *images.shape[-3:])  # (images, channels, height, width)
    resized = F.interpolate(flat, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return resized.reshape(*leading, *resized.shape[-3:])


@functools.lru_cache(maxsize=8)
def _imagenet_stats(dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    mean = torch.tensor(IMAGENET_MEAN, dtype=dtype, device=device).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=dtype, device=device).view(3, 1, 1)
    return mean, std


@FEATURES.register("dcnn_segments")
@dataclass(frozen=True)
class DCNNSegmentsConfig(FeatureConfig):
    """Segments of the 3-channel log-mel image of DCNN-BLSTMwA, resized for AlexNet (see the module docstring).

    ``compute`` returns ``(batch, segments, 3, image_size, image_size)``; every utterance has the same number of
    segments, fixed by ``max_seconds``: ``1 + (frames - segment_frames) // segment_hop`` with
    ``frames = 1 + max_seconds * sample_rate // hop_length``.
    """

    name: ClassVar[str] = "dcnn_segments"
    frame_axis: ClassVar[int] = 1

    sample_rate: int = 16000
    max_seconds: float = 4.0
    n_fft: int = 400
    win_length: int | None = None
    hop_length: int = 160
    window: str = "hann"
    pad_mode: str = "reflect"
    n_mels: int = 64
    fmin: float = 20.0
    fmax: float | None = None
    htk: bool = True
    mel_norm: str | None = "slaney"
    pre_emphasis: float = 0.97
    waveform_offset: float = 1e-8
    floor: float = 0.0
    delta_win_length: int = 5
    minmax_normalize: bool = True
    imagenet_normalize: bool = True
    segment_frames: int = 64
    segment_hop: int = 32
    image_size: int = 227

    def validate(self) -> None:
        for option in ("segment_frames", "segment_hop", "image_size"):
            check_positive_int(option, getattr(self, option))
        if not self.max_seconds > 0:
            raise ValueError(f"max_seconds must be > 0 (ESD 3, JTES/RAVDESS 4), got {self.max_seconds}.")
        if self.delta_win_length < 3:
            raise ValueError(f"delta_win_length must be >= 3, got {self.delta_win_length}.")
        self._log_mel()  # validates the spectral options
        frames = self._mel_frames()
        if frames < self.segment_frames:
            raise ValueError(
                f"max_seconds={self.max_seconds} gives {frames} frames, fewer than one segment of "
                f"segment_frames={self.segment_frames}; raise max_seconds."
            )

    def _log_mel(self) -> LogMelConfig:
        return LogMelConfig(
            sample_rate=self.sample_rate,
            n_fft=self.n_fft,
            win_length=self.win_length,
            hop_length=self.hop_length,
            window=self.window,
            center=True,
            pad_mode=self.pad_mode,
            power=2.0,
            n_mels=self.n_mels,
            fmin=self.fmin,
            fmax=self.fmax,
            htk=self.htk,
            mel_norm=self.mel_norm,
            pre_emphasis=self.pre_emphasis,
            waveform_offset=self.waveform_offset,
            log_scale="natural",
            floor=self.floor,
        )

    @property
    def num_samples(self) -> int:
        """Samples every waveform is padded or truncated to."""
        return round(self.max_seconds * self.sample_rate)

    def _mel_frames(self) -> int:
        return 1 + self.num_samples // self.hop_length

    @property
    def feature_shape(self) -> tuple[int, ...]:
        return (3, self.image_size, self.image_size)

    def num_frames(self, num_samples: int) -> int:
        """Segments per utterance: the same for every length, since waveforms are padded to ``max_seconds``."""
        return 1 + (self._mel_frames() - self.segment_frames) // self.segment_hop

    def log_mel_image(self, waveforms: torch.Tensor) -> torch.Tensor:
        """(batch, num_samples) already padded -> (batch, 3, n_mels, frames): log-mel, delta, delta-delta."""
        mel = self._log_mel().mel_power(waveforms)  # (batch, n_mels, frames)
        if self.floor:
            mel = mel + self.floor
        else:  # an exact zero would give -inf (NaN after min-max); nonzero values are untouched
            mel = mel.clamp_min(torch.finfo(mel.dtype).tiny)
        static = torch.log(mel)
        delta = regression_delta(static, win_length=self.delta_win_length)
        delta_delta = regression_delta(delta, win_length=self.delta_win_length)
        return torch.stack([static, delta, delta_delta], dim=1)  # (batch, 3, n_mels, frames)

    def _compute_batch(self, waveforms: torch.Tensor) -> torch.Tensor:
        waveforms = pad_or_truncate(waveforms, self.num_samples)  # (batch, num_samples)
        image = self.log_mel_image(waveforms)  # (batch, 3, n_mels, frames)
        if self.minmax_normalize:
            low = image.amin(dim=(-2, -1), keepdim=True)
            span = image.amax(dim=(-2, -1), keepdim=True) - low
            # A constant channel has no range: map it to 0 instead of dividing by 0.
            image = (image - low) / torch.where(span > 0, span, torch.ones_like(span))
        if self.imagenet_normalize:
            mean, std = _imagenet_stats(image.dtype, image.device)
            image = (image - mean) / std
        segments = image.unfold(
            -1, self.segment_frames, self.segment_hop
        )  # (batch, 3, n_mels, segments, window)
        segments = segments.permute(0, 3, 1, 2, 4)  # (batch, segments, 3, n_mels, segment_frames)
        return resize_images(segments, self.image_size).contiguous()  # (batch, segments, 3, size, size)

    def compute(
        self,
        waveforms: np.ndarray | torch.Tensor,
        lengths: np.ndarray | torch.Tensor | list[int] | None = None,
    ) -> torch.Tensor:
        """Segments of a batch of waveforms.

        Args:
            waveforms: (batch, samples) or (samples,) at ``sample_rate``.
            lengths: (batch,) valid samples of each zero-padded waveform; each example is cut to its length and
                then padded to ``max_seconds`` itself, exactly as if it were alone.

        Returns:
            segments: (batch, segments, 3, image_size, image_size), no batch axis for a single waveform.
        """
        if lengths is None:
            return super().compute(waveforms)
        x = (
            torch.as_tensor(waveforms)
            if not isinstance(waveforms, np.ndarray)
            else torch.from_numpy(np.ascontiguousarray(waveforms))
        )
        if x.ndim != 2:
            raise ValueError("lengths are for a (batch, samples) batch; a single waveform needs none.")
        lengths = self._check_lengths(lengths, x)
        rows = [
            pad_or_truncate(x[index, :length], self.num_samples)
            for index, length in enumerate(lengths.tolist())
        ]
        return super().compute(torch.stack(rows))
