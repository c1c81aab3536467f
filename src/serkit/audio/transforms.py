"""Waveform and feature-matrix helpers: pre-emphasis, fixed length, peak normalisation, segmentation.

Every function takes either a numpy array or a torch tensor and returns the same kind, working on the
last axis (samples for waveforms, frames for feature matrices), so the same helper serves a single
``(samples,)`` waveform and a ``(batch, samples)`` batch.

Segmentation follows the seeds:

* GLAM cuts each utterance into complete windows of ``window`` samples every ``hop`` samples and keeps
  no partial tail window (:func:`segment`, :func:`window_and_hop`, :func:`num_segments`).
* DCNN-BLSTMwA cuts a (3, 64, frames) log-mel image into 64-frame windows every 32 frames
  (:func:`segment_frames`): 3 s (301 frames) -> 8 segments, 4 s (401 frames) -> 11.

An utterance shorter than one window is handled by an explicit ``short_policy`` (see :data:`SHORT_POLICIES`),
never dropped silently: ``"drop"`` returns zero segments, which the caller counts and logs.
"""

from __future__ import annotations

import math
from typing import TypeVar

import numpy as np
import torch

__all__ = [
    "SHORT_POLICIES",
    "num_segments",
    "pad_or_truncate",
    "peak_normalize",
    "pre_emphasis",
    "segment",
    "segment_frames",
    "window_and_hop",
]

Array = TypeVar("Array", np.ndarray, torch.Tensor)

#: What :func:`segment` does with an input shorter than one window:
#: ``pad``  zero-pad it to one window (one segment);
#: ``tile`` repeat it until it covers a window, then segment as usual (GLAM's ``--padding``);
#: ``drop`` return zero segments (GLAM's default; the caller must count and log the dropped utterances);
#: ``keep`` return the short input as a single segment shorter than ``window``.
SHORT_POLICIES = ("pad", "tile", "drop", "keep")


def _check_array(x: object, what: str) -> None:
    if not isinstance(x, (np.ndarray, torch.Tensor)):
        raise TypeError(f"{what} must be a numpy array or a torch tensor, got {type(x).__name__}.")
    if x.ndim == 0:
        raise ValueError(f"{what} must have at least one axis (samples or frames), got a scalar.")


def pre_emphasis(x: Array, coefficient: float = 0.97) -> Array:
    """First-order high-pass ``y[n] = x[n] - coefficient * x[n-1]`` along the last axis, first sample kept.

    Args:
        x: waveform (samples,) or waveforms (batch, samples), numpy or torch.
        coefficient: the filter coefficient; 0 returns an unchanged copy.

    Returns:
        array of the same shape, type and dtype as ``x``.

    Example:
        >>> pre_emphasis(np.array([1.0, 1.0, 2.0]), 0.5)
        array([1. , 0.5, 1.5])
    """
    _check_array(x, "pre_emphasis input")
    if isinstance(x, torch.Tensor):
        return torch.cat([x[..., :1], x[..., 1:] - coefficient * x[..., :-1]], dim=-1)
    out = x.copy()
    out[..., 1:] = x[..., 1:] - coefficient * x[..., :-1]
    return out


def pad_or_truncate(x: Array, num_samples: int) -> Array:
    """Cut the last axis to ``num_samples`` or zero-pad it at the end (DCNN's fixed ``max_sec`` length).

    Args:
        x: waveform (samples,) or waveforms (batch, samples), numpy or torch.
        num_samples: target length of the last axis (> 0).

    Returns:
        array of shape (..., num_samples), same type and dtype as ``x``.
    """
    _check_array(x, "pad_or_truncate input")
    if num_samples <= 0:
        raise ValueError(f"num_samples must be a positive integer, got {num_samples}.")
    length = x.shape[-1]
    if length >= num_samples:
        return x[..., :num_samples].copy() if isinstance(x, np.ndarray) else x[..., :num_samples].clone()
    if isinstance(x, torch.Tensor):
        return torch.nn.functional.pad(x, (0, num_samples - length))
    widths = [(0, 0)] * (x.ndim - 1) + [(0, num_samples - length)]
    return np.pad(x, widths)


def peak_normalize(x: Array, peak: float = 1.0) -> Array:
    """Scale each waveform (last axis) so that its largest absolute sample equals ``peak``.

    A silent waveform (all zeros) stays silent instead of becoming NaN. This is librosa's
    ``util.normalize`` as used by DCNN-BLSTMwA's ``amp_normalize.py``.

    Args:
        x: waveform (samples,) or waveforms (batch, samples), numpy or torch.
        peak: target peak (> 0).

    Returns:
        array of the same shape, type and dtype as ``x``.
    """
    _check_array(x, "peak_normalize input")
    if not peak > 0:
        raise ValueError(f"peak must be > 0, got {peak}.")
    if isinstance(x, torch.Tensor):
        current = x.abs().amax(dim=-1, keepdim=True)
        # Silent rows are divided by 1 (not 0), so they stay exactly zero.
        return x * (peak / torch.where(current > 0, current, torch.ones_like(current)))
    current = np.abs(x).max(axis=-1, keepdims=True)
    scale = peak / np.where(current > 0, current, 1.0)
    scaled = x * scale
    # Keep float32 waveforms float32 (scale is float64); integer input becomes float.
    return scaled.astype(x.dtype, copy=False) if np.issubdtype(x.dtype, np.floating) else scaled


def window_and_hop(sample_rate: int, *, segment_seconds: float, overlap_seconds: float) -> tuple[int, int]:
    """GLAM's segment length and overlap in seconds -> (window, hop) in samples.

    GLAM uses 1.8 s segments with 1.6 s overlap in training and at test, i.e. a 0.2 s hop:
    ``window_and_hop(16000, segment_seconds=1.8, overlap_seconds=1.6) == (28800, 3200)``.
    Values are rounded to the nearest sample (GLAM truncated ``(L - O) * sr``, which turns 0.4 s into
    6399 samples through floating-point error). GLAM silently reset a test overlap >= the segment length
    to half a segment; here that is an error instead.

    Raises:
        ValueError: non-positive segment, negative overlap, or overlap >= segment.
    """
    if segment_seconds <= 0:
        raise ValueError(f"segment_seconds must be > 0, got {segment_seconds}.")
    if not 0 <= overlap_seconds < segment_seconds:
        raise ValueError(
            f"overlap_seconds must be in [0, segment_seconds={segment_seconds}), got "
            f"{overlap_seconds}; the hop is segment_seconds - overlap_seconds and must be > 0."
        )
    window = round(segment_seconds * sample_rate)
    hop = round((segment_seconds - overlap_seconds) * sample_rate)
    return window, hop


def _check_window(window: int, hop: int, short_policy: str) -> None:
    if window <= 0 or hop <= 0:
        raise ValueError(f"window and hop must be positive integers, got window={window}, hop={hop}.")
    if short_policy not in SHORT_POLICIES:
        raise ValueError(f"short_policy={short_policy!r} is not one of {', '.join(SHORT_POLICIES)}.")


def num_segments(length: int, *, window: int, hop: int, short_policy: str = "pad") -> int:
    """How many segments :func:`segment` returns for an input of ``length`` samples (or frames).

    For ``length >= window`` this is ``(length - window) // hop + 1`` (complete windows only).
    Shorter inputs give 1 segment, except ``"drop"`` (0) and ``"tile"`` (the count of the tiled input).

    Example:
        >>> num_segments(48000, window=28800, hop=3200)  # 3 s at 16 kHz, GLAM 1.8 s / 0.2 s
        7
        >>> num_segments(301, window=64, hop=32)  # DCNN, 3 s of 10 ms frames
        8
    """
    _check_window(window, hop, short_policy)
    if length <= 0:
        raise ValueError(f"length must be a positive integer, got {length}.")
    if length >= window:
        return (length - window) // hop + 1
    if short_policy == "drop":
        return 0
    if short_policy == "tile":
        tiled = length * math.ceil(window / length)
        return (tiled - window) // hop + 1
    return 1


def _segment_last_axis(x: Array, window: int, hop: int, short_policy: str) -> Array:
    """(..., length) -> (..., num_segments, window) with the short-input policy applied."""
    _check_window(window, hop, short_policy)
    length = x.shape[-1]
    if length == 0:
        raise ValueError(
            "cannot segment an empty input (0 samples or frames); drop the utterance before segmenting it."
        )
    is_torch = isinstance(x, torch.Tensor)
    if length < window:
        if short_policy == "drop":
            shape = (*x.shape[:-1], 0, window)
            return x.new_zeros(shape) if is_torch else np.zeros(shape, dtype=x.dtype)
        if short_policy == "keep":
            return x.unsqueeze(-2).clone() if is_torch else x[..., None, :].copy()
        if short_policy == "pad":
            x = pad_or_truncate(x, window)
        else:  # tile: GLAM repeats the whole utterance ceil(window / length) times
            repeats = math.ceil(window / length)
            x = torch.cat([x] * repeats, dim=-1) if is_torch else np.concatenate([x] * repeats, axis=-1)
    if is_torch:
        return x.unfold(-1, window, hop).contiguous()  # (..., num_segments, window)
    windows = np.lib.stride_tricks.sliding_window_view(x, window, axis=-1)[..., ::hop, :]
    return np.ascontiguousarray(windows)  # (..., num_segments, window)


def segment(waveform: Array, *, window: int, hop: int, short_policy: str = "pad") -> Array:
    """Cut a waveform into complete windows every ``hop`` samples (GLAM segmentation); the tail is dropped.

    Args:
        waveform: (samples,), numpy or torch.
        window: segment length in samples (GLAM: 1.8 s = 28800 at 16 kHz; see :func:`window_and_hop`).
        hop: step between segment starts in samples (GLAM: 0.2 s = 3200).
        short_policy: what to do when ``samples < window``; one of :data:`SHORT_POLICIES`.
            With ``"drop"`` the result has zero rows: count those utterances and log them.

    Returns:
        segments: (num_segments, window), a copy (not a view) of the same type and dtype;
        ``num_segments`` is :func:`num_segments`. With ``"keep"`` a short input gives (1, samples).

    Example:
        >>> segment(np.arange(5.0), window=2, hop=2).tolist()
        [[0.0, 1.0], [2.0, 3.0]]
        >>> segment(np.arange(3.0), window=4, hop=2, short_policy="tile").tolist()
        [[0.0, 1.0, 2.0, 0.0], [2.0, 0.0, 1.0, 2.0]]
        >>> segment(np.arange(3.0), window=4, hop=2, short_policy="drop").shape
        (0, 4)
    """
    _check_array(waveform, "segment input")
    if waveform.ndim != 1:
        raise ValueError(
            f"segment expects one waveform of shape (samples,), got shape {tuple(waveform.shape)}; "
            "segment the utterances one by one (their lengths differ)."
        )
    return _segment_last_axis(waveform, window, hop, short_policy)


def segment_frames(features: Array, *, window: int = 64, hop: int = 32, short_policy: str = "pad") -> Array:
    """Cut a feature matrix into complete ``window``-frame blocks every ``hop`` frames (DCNN segmentation).

    Args:
        features: (..., frames), e.g. a (3, n_mels, frames) three-channel log-mel image, numpy or torch.
        window: frames per segment.
        hop: frames between segment starts.
        short_policy: what to do when ``frames < window``; one of :data:`SHORT_POLICIES`.

    Returns:
        segments: (num_segments, ..., window), segments first so that one utterance's (3, 64, 301)
        image becomes the (8, 3, 64, 64) stack of images the DCNN classifies.
    """
    _check_array(features, "segment_frames input")
    segments = _segment_last_axis(features, window, hop, short_policy)  # (..., num_segments, window)
    if isinstance(segments, torch.Tensor):
        return segments.movedim(-2, 0).contiguous()
    return np.ascontiguousarray(np.moveaxis(segments, -2, 0))
