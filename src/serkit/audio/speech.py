"""The energy gate: silence is not an emotion.

:func:`speech_activity` counts the 25 ms frames of an input that are loud enough; an input with too few of them is
labelled :data:`NO_SPEECH` by :meth:`serkit.inference.Recognizer.predict` (and the ONNX runtime,
:class:`serkit.runtime.OnnxRecognizer`) instead of a confident emotion. The
gate finds silence and near-silence only; music or loud noise count as "speech" for it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["NO_SPEECH", "SPEECH_FRAME_SECONDS", "SPEECH_LEVEL_DBFS", "SPEECH_MIN_FRACTION", "speech_activity"]

#: The label of an input in which the energy gate finds no speech (silence, a very quiet recording).
NO_SPEECH = "no_speech"
#: Length of the gate's frames, in seconds (non-overlapping).
SPEECH_FRAME_SECONDS = 0.025
#: A frame is *active* if its RMS, after removing the frame's mean (a DC offset is not sound), exceeds this level
#: in dBFS: 0 dBFS is an RMS of 1.0 (full-scale square wave; a full-scale sine is -3 dBFS). Speech recorded at a
#: normal level has an RMS around -20 to -30 dBFS; a quiet room with a decent microphone stays below -50.
SPEECH_LEVEL_DBFS = -50.0
#: An input counts as speech if at least this fraction of its frames is active (a 0.3 s word in a 6 s clip).
SPEECH_MIN_FRACTION = 0.05


def speech_activity(
    waveform: np.ndarray, sample_rate: int, *, level_dbfs: float = SPEECH_LEVEL_DBFS
) -> tuple[int, int]:
    """Count the gate's active frames.

    Args:
        waveform: (samples,) float mono in [-1, 1].
        sample_rate: Hz.
        level_dbfs: a frame is active if its mean-removed RMS is above this level (see :data:`SPEECH_LEVEL_DBFS`).

    Returns:
        (active, total): active frames and all frames, of :data:`SPEECH_FRAME_SECONDS` each; a tail shorter than
        one frame is ignored, and an input shorter than one frame is one frame.
    """
    if len(waveform) == 0:
        return 0, 0
    length = max(1, round(SPEECH_FRAME_SECONDS * sample_rate))
    count = max(1, len(waveform) // length)
    frames = waveform[: count * length].reshape(count, -1).astype(np.float64)  # (frames, samples)
    rms = np.sqrt(np.mean((frames - frames.mean(axis=1, keepdims=True)) ** 2, axis=1))
    return int((rms > 10 ** (level_dbfs / 20)).sum()), count
