"""Audio I/O (the only code touching the audio backend), waveform transforms and tree tools."""

from serkit.audio.io import (
    AUDIO_EXTENSIONS,
    AudioInfo,
    duration,
    find_audio,
    info,
    load,
    load_multichannel,
    output_subtype,
    resample,
    save,
)

__all__ = [
    "AUDIO_EXTENSIONS",
    "AudioInfo",
    "duration",
    "find_audio",
    "info",
    "load",
    "load_multichannel",
    "output_subtype",
    "resample",
    "save",
]
