"""Helpers shared by the corpus-loader tests that build fake corpus trees (generated audio, invented text)."""

from __future__ import annotations

from pathlib import Path

from conftest import tree_state, write_tone  # tree_state is re-exported for the loader tests

__all__ = ["tree_state", "write_bytes", "write_silence"]


def write_silence(path: Path, seconds: float = 0.05, sample_rate: int = 16000) -> Path:
    """A tiny tone file (any format soundfile writes, chosen by the suffix; an upper-case suffix is fine)."""
    if path.suffix != path.suffix.lower():  # soundfile picks the format from the suffix, lower-case only
        written = write_tone(path.with_suffix(path.suffix.lower()), seconds=seconds, sample_rate=sample_rate)
        return written.rename(path)
    return write_tone(path, seconds=seconds, sample_rate=sample_rate)


def write_bytes(path: Path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` in ``encoding`` (creating folders): transcripts and label files in legacy encodings."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path
