"""Pure signal-processing functions behind the spectral features: STFT, mel filterbank, dB, DCT, MFCC.

Every function runs on whatever device and floating dtype its input has (float32 or float64; anything else is
computed in float32) and matches librosa 0.11 where the seeds used librosa: the tests compare against it. In
float64 the MFCCs agree to ~1e-6 dB. In float32 they agree to ~1e-3 dB, up to ~0.02 dB in bands just above the
top_db floor: librosa runs its FFT in float64 even for float32 audio (its window is float64), ours stays in float32,
which is 5x faster in torch.

Shapes: waveforms ``(batch, samples)``, or ``(samples,)`` for an output without the batch axis; spectrograms and
features ``(batch, num_features, frames)``, librosa's ``(n_features, frames)`` with a batch axis in front.
Building blocks: :func:`stft_power` (+ :func:`stft_frames`), :func:`mel_filterbank` (+ :func:`hz_to_mel`,
:func:`mel_to_hz`), :func:`power_to_db`, :func:`dct_matrix`, composed into :func:`mel_spectrogram` and
:func:`mfcc`; deltas are in :mod:`serkit.features.deltas`, the registered features built on these in
:mod:`serkit.features.spectral`. Input handling and option checks are in
:mod:`serkit.features.validation`.

Example:
    >>> import torch
    >>> tuple(mfcc(torch.zeros(16000), sample_rate=16000, n_mfcc=13, n_fft=400, hop_length=160, n_mels=40).shape)
    (13, 101)
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from serkit.features.validation import as_waveform_batch, check_choice, check_mel_range, check_positive_int

__all__ = [
    "PAD_MODES",
    "WINDOWS",
    "apply_matrix",
    "cached_dct_matrix",
    "cached_mel_filterbank",
    "dct_matrix",
    "hz_to_mel",
    "mel_filterbank",
    "mel_frequencies",
    "mel_spectrogram",
    "mel_to_hz",
    "mfcc",
    "power_to_db",
    "stft_frames",
    "stft_power",
]

#: Analysis windows by name. Periodic (``fftbins=True`` in scipy), as librosa and torchaudio use them.
WINDOWS: dict[str, Callable[..., torch.Tensor]] = {
    "hann": functools.partial(torch.hann_window, periodic=True),
    "hamming": functools.partial(torch.hamming_window, periodic=True),
    "rectangular": torch.ones,
}

#: Padding modes of ``center=True`` framing: librosa >= 0.10 pads with zeros ("constant"),
#: librosa < 0.10 (used by the GLAM seed) and torchaudio pad by reflection ("reflect").
PAD_MODES = ("constant", "reflect")


# --------------------------------------------------------------------------------------------------------------
# STFT
# --------------------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=32)
def _cached_window(window: str, win_length: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    return WINDOWS[window](win_length, dtype=dtype, device=device)


def _center_pad(x: torch.Tensor, amount: int, pad_mode: str) -> torch.Tensor:
    """(batch, samples) -> (batch, samples + 2 * amount), as torch.stft(center=True) pads.

    Done here rather than inside torch.stft because F.pad's reflect mode is slow on long 1-D signals
    (measured: a third of the STFT time for 3 s clips); slicing and flipping gives identical values.
    """
    if pad_mode == "constant":
        return F.pad(x, (amount, amount))
    left = x[..., 1 : amount + 1].flip(-1)
    right = x[..., -amount - 1 : -1].flip(-1)
    return torch.cat([left, x, right], dim=-1)


def stft_power(
    waveforms: torch.Tensor,
    *,
    n_fft: int,
    hop_length: int,
    win_length: int | None = None,
    window: str = "hann",
    center: bool = True,
    pad_mode: str = "constant",
    power: float = 2.0,
) -> torch.Tensor:
    """Magnitude spectrogram ``|STFT|**power`` (librosa ``np.abs(librosa.stft(...)) ** power``).

    Args:
        waveforms: (batch, samples) or (samples,).
        n_fft: FFT size; gives ``n_fft // 2 + 1`` frequency bins.
        hop_length: samples between frame starts.
        win_length: window length (<= n_fft), zero-padded on both sides to ``n_fft``; ``None`` means ``n_fft``.
        window: a name in :data:`WINDOWS`.
        center: pad ``n_fft // 2`` samples on each side so that frame ``t`` is centred on sample
            ``t * hop_length`` (then ``frames = 1 + samples // hop_length``).
        pad_mode: padding for ``center``, one of :data:`PAD_MODES`.
        power: 2 for power, 1 for magnitude.

    Returns:
        spectrogram: (batch, n_fft // 2 + 1, frames), or (n_fft // 2 + 1, frames) for a single waveform.
    """
    x, single = as_waveform_batch(waveforms)
    check_positive_int("n_fft", n_fft)
    check_positive_int("hop_length", hop_length)
    win_length = n_fft if win_length is None else win_length
    check_positive_int("win_length", win_length)
    if win_length > n_fft:
        raise ValueError(f"win_length={win_length} must be <= n_fft={n_fft}.")
    check_choice("window", window, WINDOWS)
    check_choice("pad_mode", pad_mode, PAD_MODES)
    if not power > 0:
        raise ValueError(f"power must be > 0, got {power}.")
    samples = x.shape[-1]
    if center and pad_mode == "reflect" and samples <= n_fft // 2:
        raise ValueError(
            f"pad_mode='reflect' needs more than n_fft // 2 = {n_fft // 2} samples, got {samples}; "
            "use pad_mode='constant' or longer audio."
        )
    if not center and samples < n_fft:
        raise ValueError(f"center=False needs at least n_fft={n_fft} samples, got {samples}.")
    if center:
        x = _center_pad(x, n_fft // 2, pad_mode)
    spec = torch.stft(
        x,
        n_fft=n_fft,
        hop_length=hop_length,
        win_length=win_length,
        window=_cached_window(window, win_length, x.dtype, x.device),
        center=False,
        normalized=False,
        onesided=True,
        return_complex=True,
    )  # (batch, freq_bins, frames)
    squared = (spec * spec.conj()).real  # |X|^2 without the square root of abs()
    result = squared if power == 2.0 else squared.pow(power / 2.0)
    return result[0] if single else result


def stft_frames(num_samples: int, *, n_fft: int, hop_length: int, center: bool) -> int:
    """Frames :func:`stft_power` gives for ``num_samples`` samples (0 when ``center=False`` and too short)."""
    if center:
        return 1 + num_samples // hop_length
    return 1 + (num_samples - n_fft) // hop_length if num_samples >= n_fft else 0


# --------------------------------------------------------------------------------------------------------------
# Mel scale and filterbank (librosa.filters.mel)
# --------------------------------------------------------------------------------------------------------------

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
def _mel_filterbank_numpy(
    sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None, htk: bool, norm: str | None
) -> np.ndarray:
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


def mel_filterbank(
    sample_rate: int,
    *,
    n_fft: int,
    n_mels: int,
    fmin: float = 0.0,
    fmax: float | None = None,
    htk: bool = False,
    norm: str | None = "slaney",
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Triangular mel filterbank, equal to ``librosa.filters.mel`` (computed in float64, then cast).

    Args:
        sample_rate: audio sample rate in Hz.
        n_fft: FFT size of the spectrogram it multiplies.
        n_mels: number of bands.
        fmin: lowest band edge in Hz.
        fmax: highest band edge in Hz; ``None`` means ``sample_rate / 2``.
        htk: HTK mel scale instead of Slaney's.
        norm: ``"slaney"`` divides each triangle by its width (area normalisation); ``None`` leaves peaks at 1.
        dtype: dtype of the returned tensor.
        device: device of the returned tensor.

    Returns:
        weights: (n_mels, n_fft // 2 + 1); ``weights @ power_spectrogram`` gives mel power.
    """
    check_positive_int("sample_rate", sample_rate)
    check_positive_int("n_fft", n_fft)
    check_positive_int("n_mels", n_mels)
    check_choice("norm", norm, ("slaney", None))
    check_mel_range(sample_rate, fmin, fmax)
    weights = _mel_filterbank_numpy(
        int(sample_rate),
        int(n_fft),
        int(n_mels),
        float(fmin),
        None if fmax is None else float(fmax),
        bool(htk),
        norm,
    )
    return torch.tensor(weights, dtype=dtype, device=device)


def apply_matrix(matrix: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
    """``matrix @ features`` for matrix (out, in) and features (batch, in, frames) -> (batch, out, frames).

    Written as one (batch * frames, in) @ (in, out) product: torch.stft returns frames-major memory, so this is a
    single large GEMM instead of a broadcast batch of small ones (measured ~1.7x faster for 32 clips on CPU). The result is a view
    with the same frames-major memory, which the following element-wise steps keep.
    """
    return torch.matmul(features.transpose(-1, -2), matrix.transpose(0, 1)).transpose(-1, -2)


@functools.lru_cache(maxsize=32)
def cached_mel_filterbank(
    sample_rate: int,
    n_fft: int,
    n_mels: int,
    fmin: float,
    fmax: float | None,
    htk: bool,
    norm: str | None,
    dtype: torch.dtype,
    device: torch.device,
) -> torch.Tensor:
    return mel_filterbank(
        sample_rate,
        n_fft=n_fft,
        n_mels=n_mels,
        fmin=fmin,
        fmax=fmax,
        htk=htk,
        norm=norm,
        dtype=dtype,
        device=device,
    )


# --------------------------------------------------------------------------------------------------------------
# Decibels and DCT
# --------------------------------------------------------------------------------------------------------------


def power_to_db(
    power: torch.Tensor,
    *,
    ref: float | str = 1.0,
    amin: float = 1e-10,
    top_db: float | None = 80.0,
) -> torch.Tensor:
    """``10 log10(max(power, amin) / ref)``, floored at ``top_db`` below the maximum (librosa.power_to_db).

    The reference for ``ref="max"`` and the ``top_db`` floor are taken **per example**, i.e. over the last two
    axes (num_features, frames); any axes in front are batch axes. librosa takes them over the whole array it is
    given, which for one clip is the same thing; for a batch, ours keeps every clip independent of the others.

    Args:
        power: (..., num_features, frames) non-negative power values.
        ref: a positive number, or ``"max"`` for each example's maximum (then the maximum maps to 0 dB).
        amin: smallest power considered (> 0), avoids log of zero.
        top_db: floor the result at each example's maximum minus ``top_db`` dB; ``None`` disables it.

    Returns:
        decibels: same shape as ``power``.
    """
    if not amin > 0:
        raise ValueError(f"amin must be > 0, got {amin}.")
    if top_db is not None and top_db < 0:
        raise ValueError(f"top_db must be >= 0 or None, got {top_db}.")
    per_example = tuple(range(-min(power.ndim, 2), 0))  # the last two axes (fewer for a 1-D input)
    db = 10.0 * torch.log10(power.clamp(min=amin))
    if isinstance(ref, str):
        check_choice("ref", ref, ("max",))
        ref_value = power.amax(dim=per_example, keepdim=True).clamp(min=amin)
        db = db - 10.0 * torch.log10(ref_value)
    else:
        db = db - 10.0 * math.log10(max(amin, abs(ref)))
    if top_db is not None:
        db = torch.maximum(db, db.amax(dim=per_example, keepdim=True) - top_db)
    return db


def dct_matrix(
    n_out: int, n_in: int, *, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None
) -> torch.Tensor:
    """The first ``n_out`` rows of the orthonormal DCT-II of size ``n_in`` (scipy ``dct(type=2, norm='ortho')``).

    Returns:
        basis: (n_out, n_in); ``basis @ x`` transforms along the first axis of ``x`` (e.g. mel bands -> MFCC).
    """
    check_positive_int("n_in", n_in)
    check_positive_int("n_out", n_out)
    if n_out > n_in:
        raise ValueError(f"cannot take {n_out} DCT coefficients from {n_in} inputs; use n_out <= {n_in}.")
    k = np.arange(n_out, dtype=np.float64)[:, None]
    n = np.arange(n_in, dtype=np.float64)[None, :]
    basis = np.sqrt(2.0 / n_in) * np.cos(np.pi / n_in * (n + 0.5) * k)
    basis[0] /= np.sqrt(2.0)
    return torch.tensor(basis, dtype=dtype, device=device)


@functools.lru_cache(maxsize=16)
def cached_dct_matrix(n_out: int, n_in: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    return dct_matrix(n_out, n_in, dtype=dtype, device=device)


# --------------------------------------------------------------------------------------------------------------
# Mel spectrogram and MFCC
# --------------------------------------------------------------------------------------------------------------


def mel_spectrogram(
    waveforms: np.ndarray | torch.Tensor,
    *,
    sample_rate: int,
    n_fft: int,
    hop_length: int,
    n_mels: int,
    win_length: int | None = None,
    window: str = "hann",
    center: bool = True,
    pad_mode: str = "constant",
    power: float = 2.0,
    fmin: float = 0.0,
    fmax: float | None = None,
    htk: bool = False,
    norm: str | None = "slaney",
) -> torch.Tensor:
    """Mel power ``mel_basis @ |STFT|**power`` (librosa.feature.melspectrogram); options as in :func:`stft_power`
    and :func:`mel_filterbank`.

    Args:
        waveforms: (batch, samples) or (samples,).

    Returns:
        mel: (batch, n_mels, frames), or (n_mels, frames) for a single waveform.
    """
    spectrogram = stft_power(
        waveforms,
        n_fft=n_fft,
        hop_length=hop_length,
        win_length=win_length,
        window=window,
        center=center,
        pad_mode=pad_mode,
        power=power,
    )  # (batch, n_fft // 2 + 1, frames)
    mel_basis = cached_mel_filterbank(
        sample_rate, n_fft, n_mels, fmin, fmax, htk, norm, spectrogram.dtype, spectrogram.device
    )
    return apply_matrix(mel_basis, spectrogram)  # (batch, n_mels, frames)


def mfcc(
    waveforms: np.ndarray | torch.Tensor,
    *,
    sample_rate: int,
    n_mfcc: int,
    n_fft: int,
    hop_length: int,
    n_mels: int,
    win_length: int | None = None,
    window: str = "hann",
    center: bool = True,
    pad_mode: str = "constant",
    fmin: float = 0.0,
    fmax: float | None = None,
    htk: bool = False,
    norm: str | None = "slaney",
    amin: float = 1e-10,
    top_db: float | None = 80.0,
) -> torch.Tensor:
    """MFCC, equal to ``librosa.feature.mfcc`` (librosa 0.11): power :func:`mel_spectrogram` ->
    :func:`power_to_db` (ref 1, per example) -> the first ``n_mfcc`` rows of the orthonormal DCT-II.

    Args:
        waveforms: (batch, samples) or (samples,).

    Returns:
        coefficients: (batch, n_mfcc, frames), or (n_mfcc, frames) for a single waveform.
    """
    mel = mel_spectrogram(
        waveforms,
        sample_rate=sample_rate,
        n_fft=n_fft,
        hop_length=hop_length,
        n_mels=n_mels,
        win_length=win_length,
        window=window,
        center=center,
        pad_mode=pad_mode,
        fmin=fmin,
        fmax=fmax,
        htk=htk,
        norm=norm,
    )  # (batch, n_mels, frames)
    mel_db = power_to_db(mel, ref=1.0, amin=amin, top_db=top_db)
    dct = cached_dct_matrix(n_mfcc, n_mels, mel_db.dtype, mel_db.device)
    return apply_matrix(dct, mel_db).contiguous()  # (batch, n_mfcc, frames)
