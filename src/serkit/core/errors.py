"""User-facing error types. Every message names the file, key or value at fault and says how to fix it."""

from __future__ import annotations

__all__ = [
    "AudioDecodeError",
    "AudioError",
    "AudioFileNotFoundError",
    "ConfigEditError",
    "ConfigError",
    "CorpusLayoutError",
    "EmptyAudioError",
    "ExportError",
    "ManifestError",
    "ModelFileError",
    "NoAudioFilesError",
    "NonFiniteAudioError",
    "OutputOverwritesInputError",
    "ProtocolError",
    "SerkitError",
    "UnsupportedAudioFormatError",
]


class SerkitError(Exception):
    """Base class of every error serkit raises on bad input; the CLI prints these without a traceback."""


class AudioError(SerkitError):
    """An audio file could not be used. ``path`` is the offending file."""

    def __init__(self, path: object, message: str) -> None:
        self.path = str(path)
        super().__init__(f"{self.path}: {message}")


class AudioFileNotFoundError(AudioError, FileNotFoundError):
    pass


class AudioDecodeError(AudioError):
    """The file exists but is unreadable, truncated or corrupt."""


class UnsupportedAudioFormatError(AudioError):
    """The container/codec is not one the backend reads (or the file is not audio at all)."""


class EmptyAudioError(AudioError):
    """The file decodes to zero samples."""


class NonFiniteAudioError(AudioError):
    """The decoded samples contain NaN or infinity."""


class ConfigError(SerkitError, ValueError):
    """A recipe, override or value is invalid; the message names the dotted key and the fix."""


class ConfigEditError(SerkitError, ValueError):
    """A file, key or value given to ``serkit config get/set`` is unusable; the message names it and the fix."""


class CorpusLayoutError(SerkitError):
    """A corpus folder does not have the layout its loader documents."""


class ManifestError(SerkitError, ValueError):
    """A manifest or list file is malformed (missing column, bad row, duplicate id, ...)."""


class ProtocolError(SerkitError, ValueError):
    """A split protocol cannot be built from the given utterances and options."""


class OutputOverwritesInputError(SerkitError, ValueError):
    """An output path is one of the command's inputs, or lies inside a corpus folder it reads."""


class NoAudioFilesError(SerkitError, ValueError):
    """A folder (or the list of inputs) holds no audio file with a known extension."""


class ModelFileError(SerkitError, ValueError):
    """An exported model file (ONNX) is missing, unreadable, or lacks the metadata serkit needs to use it."""


class ExportError(SerkitError, ValueError):
    """A model cannot be exported (its family, feature or input mode has no exportable graph), naming which and why."""
