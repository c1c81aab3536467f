"""The spectral features, built on :mod:`serkit.features.dsp` and registered in :data:`~serkit.features.base.FEATURES`.

* ``mfcc`` (:class:`MFCCConfig`): librosa.feature.mfcc, GLAM's 26 coefficients;
* ``log_mel`` (:class:`LogMelConfig`): log mel power, generic (MAT/MNT's 80 bands by default);
* ``three_channel_logmel`` (:class:`ThreeChannelLogMelConfig`): static, delta, delta-delta (DCNN-BLSTMwA);
* ``apcnn_spectrogram`` (:class:`APCNNSpectrogramConfig`): python_speech_features log power (GLAM's APCNN).

Each returns ``(batch, num_features, frames)`` (``(batch, 3, n_mels, frames)`` for the three-channel log-mel) from
``(batch, samples)`` waveforms, see :mod:`serkit.features.base` for the layout and the config contract.

Example:
    >>> import numpy as np
    >>> tuple(MFCCConfig(n_mfcc=26).compute(np.zeros(28800, dtype=np.float32)).shape)  # 1.8 s at 16 kHz
    (26, 57)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from serkit.features.banded import batch_chunks
from serkit.features.base import FEATURES, FeatureConfig
from serkit.features.deltas import regression_delta_into
from serkit.features.dsp import PAD_MODES, WINDOWS, mel_spectrogram, mfcc, stft_frames
from serkit.features.validation import check_choice, check_mel_range, check_positive_int

__all__ = [
    "LOG_SCALES",
    "APCNNSpectrogramConfig",
    "LogMelConfig",
    "MFCCConfig",
    "ThreeChannelLogMelConfig",
]


@FEATURES.register("mfcc")
@dataclass(frozen=True)
class MFCCConfig(FeatureConfig):
    """MFCC exactly as ``librosa.feature.mfcc(y=y, sr=sample_rate, n_mfcc=n_mfcc)`` in librosa 0.11.

    :func:`~serkit.features.dsp.mfcc`: power STFT -> Slaney (or HTK) mel filterbank -> dB (ref 1, ``amin``,
    ``top_db`` per example) -> orthonormal DCT-II, first ``n_mfcc`` rows. The defaults are GLAM's (26 coefficients at 16 kHz,
    otherwise librosa's defaults): 1.8 s -> (26, 57), 2.0 s -> (26, 63). librosa 0.10 changed the default
    ``pad_mode`` from ``"reflect"`` to ``"constant"``; the GLAM seed ran librosa < 0.10, so
    ``pad_mode: reflect`` reproduces it exactly (only the first and last frames differ).
    """

    name: ClassVar[str] = "mfcc"

    sample_rate: int = 16000
    n_mfcc: int = 26
    n_fft: int = 2048
    hop_length: int = 512
    win_length: int | None = None
    window: str = "hann"
    center: bool = True
    pad_mode: str = "constant"
    n_mels: int = 128
    fmin: float = 0.0
    fmax: float | None = None
    htk: bool = False
    mel_norm: str | None = "slaney"
    amin: float = 1e-10
    top_db: float | None = 80.0

    def validate(self) -> None:
        for option in ("sample_rate", "n_mfcc", "n_fft", "hop_length", "n_mels"):
            check_positive_int(option, getattr(self, option))
        if self.win_length is not None and not 0 < self.win_length <= self.n_fft:
            raise ValueError(f"win_length={self.win_length} must be in [1, n_fft={self.n_fft}] or null.")
        if self.n_mfcc > self.n_mels:
            raise ValueError(f"n_mfcc={self.n_mfcc} cannot exceed n_mels={self.n_mels}.")
        check_choice("window", self.window, WINDOWS)
        check_choice("pad_mode", self.pad_mode, PAD_MODES)
        check_choice("mel_norm", self.mel_norm, ("slaney", None))
        check_mel_range(self.sample_rate, self.fmin, self.fmax)
        if not self.amin > 0:
            raise ValueError(f"amin must be > 0, got {self.amin}.")
        if self.top_db is not None and self.top_db < 0:
            raise ValueError(f"top_db must be >= 0 or null, got {self.top_db}.")

    @property
    def feature_shape(self) -> tuple[int, ...]:
        return (self.n_mfcc,)

    def num_frames(self, num_samples: int) -> int:
        return stft_frames(num_samples, n_fft=self.n_fft, hop_length=self.hop_length, center=self.center)

    def _compute_batch(self, waveforms: torch.Tensor) -> torch.Tensor:
        return mfcc(
            waveforms,
            sample_rate=self.sample_rate,
            n_mfcc=self.n_mfcc,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            n_mels=self.n_mels,
            win_length=self.win_length,
            window=self.window,
            center=self.center,
            pad_mode=self.pad_mode,
            fmin=self.fmin,
            fmax=self.fmax,
            htk=self.htk,
            norm=self.mel_norm,
            amin=self.amin,
            top_db=self.top_db,
        )  # (batch, n_mfcc, frames)


#: Log scales of :class:`LogMelConfig`: natural log (DCNN), log10 (GLAM ``melspectrogram``), decibels.
LOG_SCALES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "natural": torch.log,
    "log10": torch.log10,
    "db": lambda power: 10.0 * torch.log10(power),
}

# The same, in place on a fresh tensor.
_LOG_SCALES_INPLACE: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "natural": torch.Tensor.log_,
    "log10": torch.Tensor.log10_,
    "db": lambda power: power.log10_().mul_(10.0),
}


def _prepare_signal(
    waveforms: torch.Tensor, coefficient: float, offset: float, pad: int, pad_mode: str
) -> torch.Tensor:
    """``pre_emphasis(waveforms, coefficient) + offset`` (serkit.audio.transforms), then ``pad`` samples of centre
    padding at each end as torch.stft(center=True) adds them (``pad_mode`` "constant" or "reflect"), written into one
    new (..., samples + 2 * pad) buffer: no separate passes for the offset and the padding."""
    samples = waveforms.shape[-1]
    if pad_mode == "reflect" and pad and samples <= pad:
        raise ValueError(
            f"pad_mode='reflect' needs more than n_fft // 2 = {pad} samples, got {samples}; "
            "use pad_mode='constant' or longer audio."
        )
    out = waveforms.new_empty(*waveforms.shape[:-1], samples + 2 * pad)
    signal = out[..., pad : pad + samples]
    if (
        coefficient
    ):  # y[0] = x[0], y[n] = x[n] - coefficient * x[n - 1] (the same two roundings as pre_emphasis)
        signal[..., :1] = waveforms[..., :1]
        torch.mul(waveforms[..., :-1], coefficient, out=signal[..., 1:])
        torch.sub(waveforms[..., 1:], signal[..., 1:], out=signal[..., 1:])
    else:
        signal.copy_(waveforms)
    if offset:
        signal.add_(offset)
    if pad and pad_mode == "reflect":  # slicing and flipping: F.pad's reflect mode is slow on long signals
        out[..., :pad] = out[..., pad + 1 : 2 * pad + 1].flip(-1)
        out[..., pad + samples :] = out[..., samples - 1 : pad + samples - 1].flip(-1)
    elif pad:
        out[..., :pad] = 0.0
        out[..., pad + samples :] = 0.0
    return out


def _chunked(
    compute: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    waveforms: torch.Tensor,
    shape: tuple[int, ...],
    bytes_per_example: int,
) -> torch.Tensor:
    """``compute(waveforms, out)`` into a new (batch, *shape) tensor, a few examples at a time (:func:`batch_chunks`:
    the temporaries of a whole batch would not stay in the CPU cache)."""
    out = waveforms.new_empty(waveforms.shape[0], *shape)
    for chunk in batch_chunks(waveforms.shape[0], bytes_per_example):
        compute(waveforms[chunk], out[chunk])
    return out


@FEATURES.register("log_mel")
@dataclass(frozen=True)
class LogMelConfig(FeatureConfig):
    """Log mel power spectrogram: ``log(mel_basis @ |STFT(x)|**power + floor)``.

    Optional pre-emphasis (``y[n] = x[n] - pre_emphasis * x[n-1]``) and a constant ``waveform_offset`` added to
    the samples after it (DCNN-BLSTMwA adds 1e-8) come first. ``floor`` is added to the mel power before the
    log (``log_scale``: ``natural``, ``log10`` or ``db``) so that digital silence gives a finite value.
    Defaults: 25 ms Hann windows every 10 ms at 16 kHz, 80 Slaney bands (the size MAT/MNT used; the seed's
    exact extraction settings are not published).
    """

    name: ClassVar[str] = "log_mel"

    sample_rate: int = 16000
    n_fft: int = 400
    win_length: int | None = None
    hop_length: int = 160
    window: str = "hann"
    center: bool = True
    pad_mode: str = "constant"
    power: float = 2.0
    n_mels: int = 80
    fmin: float = 0.0
    fmax: float | None = None
    htk: bool = False
    mel_norm: str | None = "slaney"
    pre_emphasis: float = 0.0
    waveform_offset: float = 0.0
    log_scale: str = "natural"
    floor: float = 1e-6

    def validate(self) -> None:
        for option in ("sample_rate", "n_fft", "hop_length", "n_mels"):
            check_positive_int(option, getattr(self, option))
        if self.win_length is not None and not 0 < self.win_length <= self.n_fft:
            raise ValueError(f"win_length={self.win_length} must be in [1, n_fft={self.n_fft}] or null.")
        check_choice("window", self.window, WINDOWS)
        check_choice("pad_mode", self.pad_mode, PAD_MODES)
        check_choice("mel_norm", self.mel_norm, ("slaney", None))
        check_choice("log_scale", self.log_scale, LOG_SCALES)
        check_mel_range(self.sample_rate, self.fmin, self.fmax)
        if not self.power > 0:
            raise ValueError(f"power must be > 0, got {self.power}.")
        if not 0.0 <= self.pre_emphasis < 1.0:
            raise ValueError(
                f"pre_emphasis must be in [0, 1) (0 disables it; DCNN uses 0.97), got {self.pre_emphasis}."
            )
        if self.floor < 0:
            raise ValueError(f"floor must be >= 0, got {self.floor}.")

    @property
    def feature_shape(self) -> tuple[int, ...]:
        return (self.n_mels,)

    def num_frames(self, num_samples: int) -> int:
        return stft_frames(num_samples, n_fft=self.n_fft, hop_length=self.hop_length, center=self.center)

    def mel_power(self, waveforms: torch.Tensor) -> torch.Tensor:
        """(batch, samples) -> (batch, n_mels, frames) mel power before the log."""
        pad = self.n_fft // 2 if self.center else 0
        if self.pre_emphasis or self.waveform_offset or pad:
            waveforms = _prepare_signal(
                waveforms, self.pre_emphasis, self.waveform_offset, pad, self.pad_mode
            )
        return mel_spectrogram(  # the centre padding is done: center=False frames the padded signal alike
            waveforms,
            sample_rate=self.sample_rate,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            n_mels=self.n_mels,
            win_length=self.win_length,
            window=self.window,
            center=False,
            power=self.power,
            fmin=self.fmin,
            fmax=self.fmax,
            htk=self.htk,
            norm=self.mel_norm,
        )  # (batch, n_mels, frames)

    def _log_mel_power(self, waveforms: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """(batch, samples) -> (batch, n_mels, frames) log mel power, into ``out`` when given."""
        mel = self.mel_power(waveforms)  # a frames-major view
        if out is None:
            out = torch.empty_like(mel, memory_format=torch.contiguous_format)
        if self.floor:
            torch.add(mel, self.floor, out=out)  # transposing in the same pass
        else:
            out.copy_(mel)
        return _LOG_SCALES_INPLACE[self.log_scale](out)

    def _chunk_bytes(self, waveforms: torch.Tensor) -> int:
        """Working set of one example (frames and spectrum), for :func:`batch_chunks`."""
        return 2 * self.num_frames(waveforms.shape[-1]) * (self.n_fft + 2) * waveforms.element_size()

    def _compute_batch(self, waveforms: torch.Tensor) -> torch.Tensor:
        shape = (self.n_mels, self.num_frames(waveforms.shape[-1]))
        return _chunked(self._log_mel_power, waveforms, shape, self._chunk_bytes(waveforms))


@FEATURES.register("three_channel_logmel")
@dataclass(frozen=True)
class ThreeChannelLogMelConfig(LogMelConfig):
    """DCNN-BLSTMwA's image: natural-log mel power, its delta and delta-delta stacked as 3 channels.

    The defaults reproduce the seed's torchaudio ``MelSpectrogram``: pre-emphasis 0.97, waveform + 1e-8,
    400-point FFT and Hann window (25 ms) every 160 samples (10 ms) with reflect padding, 64 HTK-scale bands from
    20 Hz to sample_rate / 2 with Slaney area normalisation, natural log; deltas by :func:`regression_delta`
    (``win_length=5``, edges replicated), the delta-delta being the delta of the delta. 3 s -> (3, 64, 301),
    4 s -> (3, 64, 401). Two deliberate differences, both options: ``floor`` 1e-10 under the log (the seed had
    none, so digital silence gave -inf/NaN; set ``floor: 0`` for the original), and the seed's per-channel
    min-max scaling to [0, 1] over the utterance is off unless ``minmax_normalize: true``.
    """

    name: ClassVar[str] = "three_channel_logmel"

    n_fft: int = 400
    hop_length: int = 160
    pad_mode: str = "reflect"
    n_mels: int = 64
    fmin: float = 20.0
    htk: bool = True
    pre_emphasis: float = 0.97
    waveform_offset: float = 1e-8
    floor: float = 1e-10
    delta_win_length: int = 5
    minmax_normalize: bool = False

    def validate(self) -> None:
        super().validate()
        if self.delta_win_length < 3:
            raise ValueError(f"delta_win_length must be >= 3, got {self.delta_win_length}.")

    @property
    def feature_shape(self) -> tuple[int, ...]:
        return (3, self.n_mels)

    def _image(self, waveforms: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """(batch, samples) -> (batch, 3, n_mels, frames), into ``out`` when given.

        Each channel is written straight into its slab of ``out``: the deltas read the previous channel in place
        (:func:`regression_delta_into`), so no padded copy of the image is made.
        """
        frames = self.num_frames(waveforms.shape[-1])
        if out is None:
            out = waveforms.new_empty(waveforms.shape[0], 3, self.n_mels, frames)
        self._log_mel_power(waveforms, out=out[:, 0])
        regression_delta_into(out[:, 0], self.delta_win_length, out=out[:, 1])
        regression_delta_into(out[:, 1], self.delta_win_length, out=out[:, 2])
        if self.minmax_normalize:
            low = out.amin(dim=(-2, -1), keepdim=True)
            span = out.amax(dim=(-2, -1), keepdim=True) - low
            # A constant channel has no range: map it to 0 instead of dividing by 0.
            out.sub_(low).div_(torch.where(span > 0, span, torch.ones_like(span)))
        return out

    def _compute_batch(self, waveforms: torch.Tensor) -> torch.Tensor:
        shape = (3, self.n_mels, self.num_frames(waveforms.shape[-1]))
        return _chunked(self._image, waveforms, shape, self._chunk_bytes(waveforms))


@FEATURES.register("apcnn_spectrogram")
@dataclass(frozen=True)
class APCNNSpectrogramConfig(FeatureConfig):
    """GLAM's ``spectrogram`` feature for APCNN (python_speech_features ``framesig`` + ``logpowspec``).

    Rectangular frames of ``frame_length`` samples every ``frame_step`` (the tail zero-padded to a whole frame,
    at least one frame), power spectrum ``|rfft(frame, n_fft)|**2 / n_fft`` floored at 1e-30, ``10 log10``,
    minus each example's maximum over all ``n_fft // 2 + 1`` bins and frames (max = 0 dB), then the first
    ``num_bins`` bins (0-4 kHz at 16 kHz): 2 s -> (400, 197).
    """

    name: ClassVar[str] = "apcnn_spectrogram"

    sample_rate: int = 16000
    frame_length: int = 640
    frame_step: int = 160
    n_fft: int = 3198
    num_bins: int = 400

    def validate(self) -> None:
        for option in ("sample_rate", "frame_length", "frame_step", "n_fft", "num_bins"):
            check_positive_int(option, getattr(self, option))
        if self.frame_length > self.n_fft:
            raise ValueError(f"frame_length={self.frame_length} must be <= n_fft={self.n_fft}.")
        if self.num_bins > self.n_fft // 2 + 1:
            raise ValueError(
                f"num_bins={self.num_bins} exceeds the {self.n_fft // 2 + 1} bins of n_fft={self.n_fft}."
            )

    @property
    def feature_shape(self) -> tuple[int, ...]:
        return (self.num_bins,)

    def num_frames(self, num_samples: int) -> int:
        if num_samples <= self.frame_length:
            return 1
        return 1 + math.ceil((num_samples - self.frame_length) / self.frame_step)

    def _compute_batch(self, waveforms: torch.Tensor) -> torch.Tensor:
        samples = waveforms.shape[-1]
        frames = self.num_frames(samples)
        padded = F.pad(waveforms, (0, (frames - 1) * self.frame_step + self.frame_length - samples))
        framed = padded.unfold(-1, self.frame_length, self.frame_step)  # (batch, frames, frame_length)
        spectrum = torch.fft.rfft(framed, n=self.n_fft)  # (batch, frames, n_fft // 2 + 1)
        power = (spectrum.real.square() + spectrum.imag.square()) / self.n_fft
        db = 10.0 * torch.log10(power.clamp(min=1e-30))
        db = db - db.amax(dim=(-2, -1), keepdim=True)
        return db[..., : self.num_bins].transpose(-1, -2).contiguous()  # (batch, num_bins, frames)
