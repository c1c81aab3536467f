"""Spectral features as plain ``nn.Module`` graphs, for export (ONNX): waveforms in, frames-first features out.

The registered features (:mod:`serkit.features.spectral`) are tuned for speed in eager torch: in-place ops,
``out=`` buffers, ``torch.fft.rfft`` and banded filterbank products, none of which an ONNX exporter takes. The
modules here compute the same values from the same building blocks of :mod:`serkit.features.dsp` (window, mel
filterbank, dB, DCT matrix) with operations every exporter and runtime has: the STFT is a product of the windowed
frames with a DFT matrix (one cosine and one sine column per bin, folded to half the products for an even FFT
size), the filterbank and the DCT are matrix products.

In float32 they agree with the eager features to float rounding (the DFT sums in another order than the FFT):
MFCCs to ~1e-3 dB, well below what changes a model's output beyond 1e-4 in probability.

Supported: ``mfcc`` (:class:`MFCCGraph`), ``log_mel`` (:class:`LogMelGraph`) and ``apcnn_spectrogram``
(:class:`APCNNSpectrogramGraph`); :func:`feature_graph` names the others and why they have no graph.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from serkit.features.base import FeatureConfig
from serkit.features.dsp import WINDOWS, dct_matrix, mel_filterbank, power_to_db
from serkit.features.spectral import APCNNSpectrogramConfig, LogMelConfig, MFCCConfig

__all__ = [
    "EXPORTABLE_FEATURES",
    "APCNNSpectrogramGraph",
    "LogMelGraph",
    "MFCCGraph",
    "UnsupportedFeatureGraph",
    "feature_graph",
]

#: The features with a graph here.
EXPORTABLE_FEATURES = ("mfcc", "log_mel", "apcnn_spectrogram")


class UnsupportedFeatureGraph(ValueError):
    """A feature that has no exportable graph (the message says which and why)."""


def _dft_kernel(n_fft: int, window: torch.Tensor) -> torch.Tensor:
    """The windowed real DFT of size ``n_fft`` as conv1d weights (2 * bins, 1, taps): cosine rows, then (negative)
    sine rows, ``taps = len(window) <= n_fft`` (a frame zero-padded at its end to ``n_fft``).

    Built in float64 and cast to float32: ``conv1d(signal, kernel, stride=hop)`` gives the real and imaginary parts
    of ``rfft(frame * window, n_fft)`` of every frame.
    """
    bins = torch.arange(n_fft // 2 + 1, dtype=torch.float64)[:, None]
    phase = 2.0 * math.pi * bins * torch.arange(len(window), dtype=torch.float64)[None, :] / n_fft
    kernel = torch.cat([torch.cos(phase), -torch.sin(phase)]) * window.double()  # (2 * bins, taps)
    return kernel[:, None, :].float()


def _stft_window(n_fft: int, win_length: int | None, window: str) -> torch.Tensor:
    """The analysis window zero-padded on both sides to ``n_fft`` samples, as torch.stft and librosa pad it."""
    win_length = n_fft if win_length is None else win_length
    values = WINDOWS[window](win_length, dtype=torch.float64)
    left = (n_fft - win_length) // 2
    return F.pad(values, (left, n_fft - win_length - left))  # (n_fft,)


def _folded_dft(n_fft: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The real DFT of an even ``n_fft`` with the frame folded on itself, half the products of the full matrix.

    Sample ``n`` and ``n_fft - n`` meet the same cosine and opposite sines, so with ``s = x[n] + x[n_fft - n]`` and
    ``d = x[n] - x[n_fft - n]`` (n = 1 .. n_fft / 2 - 1): ``real = [x[0], x[n_fft / 2], s] @ cosines`` and
    ``imag = d @ sines``.

    Returns:
        cosines (n_fft / 2 + 1, bins) with the rows of samples 0 and n_fft / 2 first; sines (n_fft / 2 - 1, bins).
    """
    half = n_fft // 2
    bins = torch.arange(half + 1, dtype=torch.float64)[None, :]
    samples = torch.cat(
        [torch.tensor([0.0, half], dtype=torch.float64), torch.arange(1, half, dtype=torch.float64)]
    )
    phase = 2.0 * math.pi * samples[:, None] * bins / n_fft  # (half + 1, bins)
    return torch.cos(phase).float(), -torch.sin(phase[2:]).float()


class _PowerSpectrum(nn.Module):
    """waveforms (batch, samples) -> |STFT|**power (batch, bins, frames), librosa/torch.stft framing.

    Frames by ``unfold``, the window, then the real DFT as matrix products: folded (:func:`_folded_dft`) for an
    even ``n_fft``, the full windowed matrix (:func:`_dft_kernel`) otherwise. (A further radix-2 step halves the
    products again but was slower on onnxruntime, whose time here goes to the framing and element-wise steps.)
    """

    def __init__(self, feature: MFCCConfig | LogMelConfig) -> None:
        super().__init__()
        n_fft = self.n_fft = feature.n_fft
        self.hop_length, self.center, self.pad_mode = feature.hop_length, feature.center, feature.pad_mode
        self.folded = n_fft % 2 == 0 and n_fft >= 4
        window_values = _stft_window(n_fft, feature.win_length, feature.window)
        if self.folded:
            cosines, sines = _folded_dft(n_fft)
            self.register_buffer("window", window_values.float(), persistent=False)
            self.register_buffer("cosines", cosines, persistent=False)
            self.register_buffer("sines", sines, persistent=False)
        else:
            kernel = _dft_kernel(n_fft, window_values)[:, 0, :].t().contiguous()  # (n_fft, 2 * bins)
            self.register_buffer("kernel", kernel, persistent=False)

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, samples) -> (batch, samples + 2 * (n_fft // 2)) centre padding, or unchanged."""
        if not self.center:
            return x
        amount = self.n_fft // 2
        if self.pad_mode == "constant":
            return F.pad(x, (amount, amount))
        left = x[:, 1 : amount + 1].flip(-1)
        right = x[:, -amount - 1 : -1].flip(-1)
        return torch.cat([left, x, right], dim=-1)

    def forward(self, x: torch.Tensor, power: float = 2.0) -> torch.Tensor:
        frames = self.pad(x).unfold(-1, self.n_fft, self.hop_length)  # (batch, frames, n_fft)
        if self.folded:
            frames = frames * self.window
            half = self.n_fft // 2
            head, tail = frames[..., 1:half], frames[..., half + 1 :].flip(-1)  # samples n and n_fft - n
            ends = torch.cat([frames[..., :1], frames[..., half : half + 1], head + tail], dim=-1)
            real, imag = torch.matmul(ends, self.cosines), torch.matmul(head - tail, self.sines)
            squared = real.square() + imag.square()  # (batch, frames, bins)
        else:
            parts = torch.matmul(frames, self.kernel)  # (batch, frames, 2 * bins)
            bins = parts.shape[-1] // 2
            squared = parts[..., :bins].square() + parts[..., bins:].square()
        squared = squared.transpose(1, 2)  # (batch, bins, frames)
        return squared if power == 2.0 else squared.pow(power / 2.0)


class _MelGraph(nn.Module):
    """What the mel features share: the power spectrum and the (n_mels, bins) float32 filterbank of the config."""

    def __init__(self, feature: MFCCConfig | LogMelConfig) -> None:
        super().__init__()
        self.feature = feature
        self.spectrum = _PowerSpectrum(feature)
        mel = mel_filterbank(
            feature.sample_rate,
            n_fft=feature.n_fft,
            n_mels=feature.n_mels,
            fmin=feature.fmin,
            fmax=feature.fmax,
            htk=feature.htk,
            norm=feature.mel_norm,
        )
        self.register_buffer("mel", mel.float(), persistent=False)  # (n_mels, bins)


class MFCCGraph(_MelGraph):
    """:class:`~serkit.features.spectral.MFCCConfig` as a graph: waveforms (batch, samples) -> MFCC (batch, frames,
    n_mfcc)."""

    def __init__(self, feature: MFCCConfig) -> None:
        super().__init__(feature)
        dct = dct_matrix(feature.n_mfcc, feature.n_mels, dtype=torch.float32)  # (n_mfcc, n_mels)
        self.register_buffer("dct", dct, persistent=False)

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        mel = torch.matmul(self.mel, self.spectrum(waveforms))  # (batch, n_mels, frames)
        db = power_to_db(mel, ref=1.0, amin=self.feature.amin, top_db=self.feature.top_db)
        return torch.matmul(db.transpose(1, 2), self.dct.t())  # (batch, frames, n_mfcc)


class LogMelGraph(_MelGraph):
    """:class:`~serkit.features.spectral.LogMelConfig` as a graph: waveforms (batch, samples) -> log mel (batch,
    frames, n_mels)."""

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        coefficient, offset = self.feature.pre_emphasis, self.feature.waveform_offset
        if (
            coefficient
        ):  # y[0] = x[0], y[n] = x[n] - coefficient * x[n - 1] (serkit.audio.transforms.pre_emphasis)
            waveforms = torch.cat(
                [waveforms[:, :1], waveforms[:, 1:] - coefficient * waveforms[:, :-1]], dim=-1
            )
        if offset:
            waveforms = waveforms + offset
        mel = torch.matmul(self.mel, self.spectrum(waveforms, self.feature.power)) + self.feature.floor
        scale = self.feature.log_scale
        logged = torch.log(mel) if scale == "natural" else torch.log10(mel) * (10.0 if scale == "db" else 1.0)
        return logged.transpose(1, 2)  # (batch, frames, n_mels)


class APCNNSpectrogramGraph(nn.Module):
    """:class:`~serkit.features.spectral.APCNNSpectrogramConfig` as a graph: waveforms (batch, samples) -> log
    power (batch, frames, num_bins). The padding depends on the number of samples, which is fixed in an export
    (one window)."""

    def __init__(self, feature: APCNNSpectrogramConfig) -> None:
        super().__init__()
        self.feature = feature
        kernel = _dft_kernel(
            feature.n_fft, torch.ones(feature.frame_length, dtype=torch.float64)
        )  # rectangular
        self.register_buffer("kernel", kernel, persistent=False)

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        feature, samples = self.feature, waveforms.shape[-1]
        pad = (feature.num_frames(samples) - 1) * feature.frame_step + feature.frame_length - samples
        parts = F.conv1d(F.pad(waveforms, (0, pad))[:, None, :], self.kernel, stride=feature.frame_step)
        bins = parts.shape[1] // 2
        power = (parts[:, :bins].square() + parts[:, bins:].square()) / feature.n_fft  # (batch, bins, frames)
        db = 10.0 * torch.log10(power.clamp(min=1e-30))
        db = db - db.amax(dim=(-2, -1), keepdim=True)
        return db[:, : feature.num_bins].transpose(1, 2)  # (batch, frames, num_bins)


#: Config class -> its graph.
_GRAPHS = {MFCCConfig: MFCCGraph, LogMelConfig: LogMelGraph, APCNNSpectrogramConfig: APCNNSpectrogramGraph}


def feature_graph(feature: FeatureConfig) -> nn.Module:
    """The graph of a feature config: waveforms (batch, samples) -> features (batch, frames, num_features).

    Raises:
        UnsupportedFeatureGraph: a feature without a graph, naming it and why.
    """
    if type(feature) in _GRAPHS:
        return _GRAPHS[type(feature)](feature)
    name = feature.to_dict().get("name", type(feature).__name__)
    why = {
        "three_channel_logmel": "its model (DCNN-BLSTMwA) classifies image segments cut from whole-utterance "
        "features, whose per-utterance frame split has no fixed-window graph",
        "dcnn_segments": "DCNN-BLSTMwA's image segments are cut from whole-utterance features and resized",
        "ssl": "the features are a pretrained encoder's states (HuBERT/wav2vec2), not a signal transform",
        "none": "text-only models read no audio",
    }.get(name, "its computation has no graph here yet")
    raise UnsupportedFeatureGraph(
        f"feature {name!r} cannot be exported: {why}; exportable features: {', '.join(EXPORTABLE_FEATURES)}."
    )
