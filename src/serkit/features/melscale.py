"""The mel scale (HTK or Slaney, as librosa) and the weights of a triangular mel filterbank, in numpy float64.

The torch-facing functions, with argument checks, are in :mod:`serkit.features.dsp`, which re-exports these.

Example:
    >>> float(mel_to_hz(hz_to_mel(440.0)))
    440.0
"""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np

__all__ = ["hz_to_mel", "mel_frequencies", "mel_to_hz", "mel_weights"]

# Slaney's Auditory Toolbox scale: linear below 1 kHz, logarithmic above.
_SLANEY_F_SP = 200.0 / 3.0
_SLANEY_MIN_LOG_HZ = 1000.0
_SLANEY_MIN_LOG_MEL = _SLANEY_MIN_LOG_HZ / _SLANEY_F_SP
_SLANEY_LOGSTEP = math.log(6.4) / 27.0


def hz_to_mel(frequencies: float | np.ndarray, *, htk: bool = False) -> np.ndarray:
    """Hz -> mel, HTK (``2595 log10(1 + f / 700)``) or Slaney scale (librosa.hz_to_mel), as float64."""
    f = np.asarray(frequencies, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + f / 700.0)
    mels = f / _SLANEY_F_SP
    log_region = f >= _SLANEY_MIN_LOG_HZ
    return np.where(
        log_region,
        _SLANEY_MIN_LOG_MEL
        + np.log(np.maximum(f, _SLANEY_MIN_LOG_HZ) / _SLANEY_MIN_LOG_HZ) / _SLANEY_LOGSTEP,
        mels,
    )


def mel_to_hz(mels: float | np.ndarray, *, htk: bool = False) -> np.ndarray:
    """Mel -> Hz, the inverse of :func:`hz_to_mel` (librosa.mel_to_hz), as float64."""
    m = np.asarray(mels, dtype=np.float64)
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    freqs = _SLANEY_F_SP * m
    log_region = m >= _SLANEY_MIN_LOG_MEL
    return np.where(
        log_region, _SLANEY_MIN_LOG_HZ * np.exp(_SLANEY_LOGSTEP * (m - _SLANEY_MIN_LOG_MEL)), freqs
    )


def mel_frequencies(n_mels: int, *, fmin: float, fmax: float, htk: bool = False) -> np.ndarray:
    """``n_mels`` frequencies (Hz) equally spaced on the mel scale from ``fmin`` to ``fmax`` inclusive."""
    mels = np.linspace(hz_to_mel(fmin, htk=htk), hz_to_mel(fmax, htk=htk), n_mels)
    return mel_to_hz(mels, htk=htk)


@functools.lru_cache(maxsize=16)
def mel_weights(
    sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None, htk: bool, norm: str | None
) -> np.ndarray:
    """librosa.filters.mel as a read-only float64 (n_mels, n_fft // 2 + 1) array (arguments not checked here)."""
    fmax = sample_rate / 2.0 if fmax is None else fmax
    fft_freqs = np.fft.rfftfreq(n_fft, d=1.0 / sample_rate)  # (freq_bins,)
    # n_mels triangles need n_mels + 2 edges: triangle i rises from edge i to i + 1 and falls to i + 2.
    edges = mel_frequencies(n_mels + 2, fmin=fmin, fmax=fmax, htk=htk)
    widths = np.diff(edges)
    distance = edges[:, None] - fft_freqs[None, :]  # (n_mels + 2, freq_bins)
    rising = -distance[:-2] / widths[:-1, None]
    falling = distance[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))  # (n_mels, freq_bins)
    if norm == "slaney":
        # Divide each triangle by its width in Hz so every band has (roughly) constant energy.
        weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    empty = int((weights.max(axis=1) == 0).sum())
    if empty:
        warnings.warn(
            f"mel filterbank: {empty} of {n_mels} bands are empty (no FFT bin falls inside them); "
            f"lower n_mels={n_mels} or raise n_fft={n_fft}.",
            stacklevel=3,
        )
    weights.setflags(write=False)
    return weights
