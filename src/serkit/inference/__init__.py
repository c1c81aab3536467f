"""Using a trained model on new audio: files, folders and long recordings.

The entry point that runs predictions (``serkit predict``, a user's script) calls :func:`configure_torch` once;
the library sets no global torch state itself.

The names below are imported lazily, so that the torch-free parts (:mod:`~serkit.inference.export`'s writers, used
by ``serkit predict model.onnx`` with :class:`serkit.runtime.OnnxRecognizer`) import no torch.
"""

from __future__ import annotations

from serkit.core.lazy import lazy_names
from serkit.core.torch_settings import configure_torch

_API = {
    "NO_SPEECH": "serkit.audio.speech",
    "speech_activity": "serkit.audio.speech",
    "expand_audio_paths": "serkit.audio.io",
    "Recognizer": "serkit.inference.recognizer",
    "HFAudioRecognizer": "serkit.inference.hf_audio",
    "TimelineEntry": "serkit.runtime.recordings",
    "ModelTask": "serkit.runtime.task",
}

__all__ = ["configure_torch", *_API]


__getattr__, __dir__ = lazy_names(__name__, _API, __all__)
