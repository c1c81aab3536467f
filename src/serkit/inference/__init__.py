"""Using a trained model on new audio: files, folders and long recordings."""

from serkit.inference.recognizer import Recognizer, TimelineEntry

__all__ = ["Recognizer", "TimelineEntry"]
