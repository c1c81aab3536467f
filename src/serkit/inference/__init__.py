"""Using a trained model on new audio: files, folders and long recordings."""

from serkit.inference.recognizer import NO_SPEECH, Recognizer, TimelineEntry, speech_activity

__all__ = ["NO_SPEECH", "Recognizer", "TimelineEntry", "speech_activity"]
