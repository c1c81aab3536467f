"""Waveform input handling and option checks shared by the DSP functions and every feature.

Errors are ``ValueError`` naming the option, what is allowed and what was received (``TypeError`` for a waveform
that is neither numpy nor torch).

Example:
    >>> import numpy as np
    >>> batch, single = as_waveform_batch(np.zeros(400, dtype=np.int16))
    >>> tuple(batch.shape), batch.dtype, single
    ((1, 400), torch.float32, True)
"""

from __future__ import annotations

import typing

import numpy as np
import torch

__all__ = ["as_waveform_batch", "check_choice", "check_mel_range", "check_positive_int"]


def as_waveform_batch(waveforms: np.ndarray | torch.Tensor) -> tuple[torch.Tensor, bool]:
    """(samples,) or (batch, samples), numpy or torch -> ((batch, samples) float tensor, was_single)."""
    if isinstance(waveforms, np.ndarray):
        waveforms = np.ascontiguousarray(waveforms)
        if not waveforms.flags.writeable:  # e.g. a strided segment view; torch wants writable memory
            waveforms = waveforms.copy()
        waveforms = torch.from_numpy(waveforms)
    if not isinstance(waveforms, torch.Tensor):
        raise TypeError(f"waveforms must be a numpy array or a torch tensor, got {type(waveforms).__name__}.")
    if waveforms.ndim not in (1, 2):
        raise ValueError(
            f"waveforms must have shape (samples,) or (batch, samples), got {tuple(waveforms.shape)}; "
            "mix multi-channel audio down to mono first (serkit.audio.load does)."
        )
    if waveforms.shape[-1] == 0:
        raise ValueError("waveforms have 0 samples; drop empty utterances before computing features.")
    if waveforms.dtype not in (torch.float32, torch.float64):
        waveforms = waveforms.to(torch.float32)
    single = waveforms.ndim == 1
    return (waveforms.unsqueeze(0) if single else waveforms), single


def check_positive_int(name: str, value: int) -> None:
    """Raise ValueError naming ``name`` unless ``value`` is an int > 0 (bools are not ints here)."""
    if not (isinstance(value, int) and not isinstance(value, bool) and value > 0):
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")


def check_choice(name: str, value: object, choices: typing.Iterable[object]) -> None:
    """Raise ValueError naming ``name`` and the allowed ``choices`` unless ``value`` is one of them."""
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not one of {', '.join(map(repr, choices))}.")


def check_mel_range(sample_rate: int, fmin: float, fmax: float | None) -> None:
    """Raise ValueError unless ``0 <= fmin < fmax <= sample_rate / 2`` (``fmax`` None means ``sample_rate / 2``)."""
    nyquist = sample_rate / 2.0
    top = nyquist if fmax is None else fmax
    if not 0.0 <= fmin < top <= nyquist:
        raise ValueError(
            f"need 0 <= fmin < fmax <= sample_rate / 2 = {nyquist}, got fmin={fmin}, fmax={fmax}."
        )
