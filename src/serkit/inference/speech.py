"""The energy gate, re-exported from :mod:`serkit.audio.speech` (where it lives so that the torch-free ONNX runtime,
:mod:`serkit.runtime`, applies the same gate)."""

from serkit.audio.speech import (
    NO_SPEECH,
    SPEECH_FRAME_SECONDS,
    SPEECH_LEVEL_DBFS,
    SPEECH_MIN_FRACTION,
    speech_activity,
)

__all__ = ["NO_SPEECH", "SPEECH_FRAME_SECONDS", "SPEECH_LEVEL_DBFS", "SPEECH_MIN_FRACTION", "speech_activity"]
