"""Using a trained model on new audio: files, folders and long recordings.

The entry point that runs predictions (``serkit predict``, a user's script) calls :func:`configure_torch` once;
the library sets no global torch state itself.
"""

from serkit.core.torch_settings import configure_torch
from serkit.inference.recognizer import (
    NO_SPEECH,
    Recognizer,
    TimelineEntry,
    expand_audio_paths,
    speech_activity,
)

__all__ = [
    "NO_SPEECH",
    "Recognizer",
    "TimelineEntry",
    "configure_torch",
    "expand_audio_paths",
    "speech_activity",
]
