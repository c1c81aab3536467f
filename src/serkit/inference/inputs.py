"""What a user hands to a recogniser: audio paths (files and folders) and in-memory waveforms."""

from __future__ import annotations

import logging

import numpy as np
import torch

from serkit.audio.io import expand_audio_paths
from serkit.core.errors import EmptyAudioError, NonFiniteAudioError

__all__ = ["as_waveform", "expand_audio_paths"]

logger = logging.getLogger(__name__)


def as_waveform(waveform: np.ndarray | torch.Tensor, name: str = "waveform") -> np.ndarray:
    """Any accepted waveform (see :meth:`serkit.inference.Recognizer.predict_waveform`) -> (samples,) float32 mono."""
    if isinstance(waveform, torch.Tensor):
        waveform = waveform.detach().cpu().numpy()
    array = np.asarray(waveform)
    if array.dtype.kind not in "iuf":
        raise TypeError(
            f"{name}: samples of dtype {array.dtype} are not audio; pass float samples in [-1, 1] or "
            "integer PCM (int16, int32, uint8)."
        )
    if array.ndim == 2 and array.shape[1] > array.shape[0]:
        raise ValueError(
            f"{name}: shape {array.shape} looks like (channels, samples); 2-D waveforms are "
            "(samples, channels), as soundfile and serkit.audio.io give them: pass waveform.T."
        )
    if array.ndim not in (1, 2):
        raise ValueError(f"{name}: expected shape (samples,) or (samples, channels), got {array.shape}.")
    if array.shape[0] == 0:
        raise EmptyAudioError(name, "has no samples; nothing to classify.")
    bits = array.dtype.itemsize * 8
    if array.dtype.kind == "i":  # int16 PCM: -32768..32767 -> [-1, 1)
        array = array.astype(np.float64 if bits > 16 else np.float32) / 2.0 ** (bits - 1)
    elif array.dtype.kind == "u":  # unsigned PCM (8-bit WAV): 128 is silence
        array = (array.astype(np.float64) - 2.0 ** (bits - 1)) / 2.0 ** (bits - 1)
    elif not np.isfinite(array).all():
        bad = int((~np.isfinite(array)).sum())
        raise NonFiniteAudioError(
            name,
            f"{bad} sample(s) are NaN or infinite; fix the signal before predicting "
            "(np.nan_to_num, or find the step that produced them).",
        )
    else:
        peak = float(np.abs(array).max())
        if peak > 1.0:  # e.g. int16 samples cast to float without scaling: features will be off
            logger.warning(
                "%s: float samples reach %.4g, beyond [-1, 1]; integer PCM converted with astype(float) "
                "must also be divided by 32768 (int16).",
                name,
                peak,
            )
    if array.ndim == 2:
        array = array.mean(axis=1)  # (samples, channels) -> (samples,), as audio_io.load mixes down
    return np.ascontiguousarray(array, dtype=np.float32)
