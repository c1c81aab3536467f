"""Delta (derivative) features along the time axis, pure functions on tensors of shape ``(..., frames)``.

* :func:`savgol_delta`: Savitzky-Golay derivative, equal to ``librosa.feature.delta`` (GLAM-style MFCC deltas);
* :func:`regression_delta`: the HTK regression formula with replicated edges, equal to
  ``torchaudio.functional.compute_deltas`` (what DCNN-BLSTMwA stacks as its 2nd and 3rd channel);
  :func:`replicate_edges_` and :func:`regression_delta_padded` are the same in two steps on a caller's buffer
  (the fast path of the three-channel log-mel: no padding copies, the result written into an output slice).

Both run on the input's device and dtype and keep its shape.

Example:
    >>> import torch
    >>> regression_delta(torch.arange(6.0, dtype=torch.float64)).tolist()  # slope 1, damped at the replicated edges
    [0.5, 0.8, 1.0, 1.0, 0.8, 0.5]
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from serkit.features.validation import check_choice

__all__ = [
    "regression_delta",
    "regression_delta_into",
    "regression_delta_padded",
    "replicate_edges_",
    "savgol_delta",
]

# scipy.ndimage/savgol_filter boundary mode -> torch padding mode.
_SAVGOL_PADDING = {"nearest": "replicate", "mirror": "reflect", "constant": "constant", "wrap": "circular"}


def _pad_along(features: torch.Tensor, amount: int, axis: int, mode: str) -> torch.Tensor:
    """Extend ``features`` by ``amount`` frames at both ends of ``axis`` (torch padding ``mode``)."""
    moved = features.movedim(axis, -1)
    frames = moved.shape[-1]
    lines = F.pad(moved.reshape(1, -1, frames), (amount, amount), mode=mode)  # F.pad wants (N, C, W)
    return lines.reshape(*moved.shape[:-1], frames + 2 * amount).movedim(-1, axis)


def _filter_along(features: torch.Tensor, weights: np.ndarray, axis: int) -> torch.Tensor:
    """Correlate every 1-D line along ``axis`` with ``weights``; only fully covered frames are returned."""
    moved = features.movedim(axis, -1)
    length = moved.shape[-1] - len(weights) + 1
    # A weighted sum of shifted slices (one fused multiply-add per tap): for these 3-9 tap kernels it is
    # faster than conv1d.
    out = torch.zeros_like(moved[..., :length])
    for offset, weight in enumerate(weights.tolist()):
        if weight != 0.0:
            out.add_(moved[..., offset : offset + length], alpha=weight)
    return out.movedim(-1, axis)


def savgol_delta(
    features: torch.Tensor,
    *,
    width: int = 9,
    order: int = 1,
    axis: int = -1,
    mode: str = "interp",
) -> torch.Tensor:
    """Savitzky-Golay derivative of ``order`` along ``axis``, equal to ``librosa.feature.delta``.

    librosa fits a polynomial of degree ``order`` over ``width`` frames and takes its ``order``-th derivative.
    With ``mode="interp"`` (librosa's default) the edge frames get the fit over the first / last ``width``
    frames; since the derivative of that fit is constant, this equals repeating the first / last fully covered
    value. Other modes pad the input like scipy: ``nearest``, ``mirror``, ``constant`` (zeros), ``wrap``.

    Args:
        features: (..., frames) for the default ``axis=-1``, e.g. (batch, num_features, frames).
        width: odd number of frames (>= 3, > order); with ``interp`` at most the length of ``axis``.
        order: derivative order (1 = delta, 2 = delta-delta fitted directly).
        axis: the time axis.
        mode: ``"interp"`` or a key of scipy's padding modes listed above.

    Returns:
        deltas: same shape as ``features``.
    """
    if width < 3 or width % 2 != 1:
        raise ValueError(f"width must be an odd integer >= 3, got {width}.")
    if not (isinstance(order, int) and 1 <= order < width):
        raise ValueError(f"order must be an integer in [1, width={width}), got {order!r}.")
    check_choice("mode", mode, ("interp", *_SAVGOL_PADDING))
    length = features.shape[axis]
    if mode == "interp" and width > length:
        raise ValueError(
            f"mode='interp' needs width={width} <= the {length} frames along axis {axis}; "
            "use a smaller width or mode='nearest'."
        )
    half = width // 2
    # Least-squares polynomial fit over positions -half..half: row `order` of the pseudo-inverse, times
    # order!, gives the weights of the order-th derivative at the centre.
    positions = np.arange(-half, half + 1, dtype=np.float64)
    vandermonde = positions[:, None] ** np.arange(order + 1)[None, :]  # (width, order + 1)
    weights = np.linalg.pinv(vandermonde)[order] * math.factorial(order)
    if mode == "interp":
        valid = _filter_along(features, weights, axis)  # (..., frames - 2 * half)
        return _pad_along(valid, half, axis, "replicate")
    return _filter_along(_pad_along(features, half, axis, _SAVGOL_PADDING[mode]), weights, axis)


def regression_delta(features: torch.Tensor, *, win_length: int = 5, axis: int = -1) -> torch.Tensor:
    """Regression deltas with replicated edges, equal to ``torchaudio.functional.compute_deltas``.

    ``d[t] = sum_{k=1..N} k (c[t+k] - c[t-k]) / (2 sum_{k=1..N} k^2)`` with ``N = (win_length - 1) // 2``
    (the HTK formula; the denominator is ``N (N + 1) (2N + 1) / 3``), the input extended at both ends by
    repeating its edge frames. This is what DCNN-BLSTMwA stacks; it also equals
    ``librosa.feature.delta(width=win_length, mode="nearest")`` for odd ``win_length``.

    Args:
        features: (..., frames) for the default ``axis=-1``.
        win_length: window in frames (>= 3).
        axis: the time axis.

    Returns:
        deltas: same shape as ``features``.
    """
    if win_length < 3:
        raise ValueError(f"win_length must be >= 3, got {win_length}.")
    half = (win_length - 1) // 2
    denominator = half * (half + 1) * (2 * half + 1) / 3.0
    weights = np.arange(-half, half + 1, dtype=np.float64) / denominator
    return _filter_along(_pad_along(features, half, axis, "replicate"), weights, axis)


def replicate_edges_(padded: torch.Tensor, half: int) -> torch.Tensor:
    """Fill the first and last ``half`` frames of ``padded`` (..., frames + 2 * half) in place with copies of its
    first and last interior frame (``frames >= 1``): the replicate padding of :func:`regression_delta`."""
    if half:
        padded[..., :half] = padded[..., half : half + 1]
        padded[..., -half:] = padded[..., -half - 1 : -half]
    return padded


def regression_delta_padded(padded: torch.Tensor, win_length: int, *, out: torch.Tensor) -> torch.Tensor:
    """:func:`regression_delta` of the interior of ``padded`` (..., frames + 2 * half), whose ``half =
    (win_length - 1) // 2`` frames at each end already hold the padding (:func:`replicate_edges_`), written into
    ``out`` (..., frames), which may be a strided view; returns ``out``.

    A weighted sum of shifted slices: ``(c[t + N] - c[t - N]) * N / D``, then ``+/- k / D`` times ``c[t +/- k]``
    for ``k < N`` (``D = N (N + 1) (2N + 1) / 3``), which for these short windows is several times faster than
    conv1d.
    """
    if win_length < 3:
        raise ValueError(f"win_length must be >= 3, got {win_length}.")
    half = (win_length - 1) // 2
    frames = padded.shape[-1] - 2 * half
    if tuple(out.shape) != (*padded.shape[:-1], frames):
        raise ValueError(f"out must have shape {(*padded.shape[:-1], frames)}, got {tuple(out.shape)}.")
    denominator = half * (half + 1) * (2 * half + 1) / 3.0
    torch.sub(padded[..., 2 * half :], padded[..., :frames], out=out).mul_(half / denominator)
    for k in range(1, half):
        out.add_(padded[..., half + k : half + k + frames], alpha=k / denominator)
        out.sub_(padded[..., half - k : half - k + frames], alpha=k / denominator)
    return out


def regression_delta_into(features: torch.Tensor, win_length: int, *, out: torch.Tensor) -> torch.Tensor:
    """:func:`regression_delta` of ``features`` (..., frames) written into ``out`` (same shape, may be a strided
    view), without padding a copy of the whole input: the interior frames read their neighbours in place, and
    only the ``half`` frames at each end go through a small edge-padded buffer. Returns ``out``."""
    half = (win_length - 1) // 2
    frames = features.shape[-1]
    if frames <= 2 * half:  # too short for an interior: pad it all
        padded = features.new_empty(*features.shape[:-1], frames + 2 * half)
        padded[..., half : half + frames] = features
        return regression_delta_padded(replicate_edges_(padded, half), win_length, out=out)
    regression_delta_padded(features, win_length, out=out[..., half : frames - half])
    left = features.new_empty(*features.shape[:-1], 3 * half)  # [first frame x half, first 2 * half frames]
    left[..., :half] = features[..., :1]
    left[..., half:] = features[..., : 2 * half]
    regression_delta_padded(left, win_length, out=out[..., :half])
    right = features.new_empty(*features.shape[:-1], 3 * half)  # [last 2 * half frames, last frame x half]
    right[..., : 2 * half] = features[..., frames - 2 * half :]
    right[..., 2 * half :] = features[..., -1:]
    return regression_delta_padded(right, win_length, out=out[..., frames - half :])
