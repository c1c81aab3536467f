"""Reading and writing audio. This is the only module that touches the audio backend (soundfile).

Everything else in serkit calls :func:`load` / :func:`load_multichannel`, :func:`info` / :func:`duration` and
:func:`save`, so swapping the backend is a change in this one file. Errors are typed (see :mod:`serkit.core.errors`)
and always name the file.

Damaged files are reported, not papered over: libsndfile quietly shortens a truncated WAV (it trusts the bytes on
disk over the header) and can decode fewer MP3 frames than the header promised, so :func:`info` compares the
WAV ``data`` chunk size with the bytes present and :func:`load` compares the frames decoded with the frames the
header promised; either shortfall raises :class:`~serkit.core.errors.AudioDecodeError`.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from serkit.core.errors import (
    AudioDecodeError,
    AudioError,
    AudioFileNotFoundError,
    EmptyAudioError,
    NoAudioFilesError,
    NonFiniteAudioError,
    UnsupportedAudioFormatError,
)
from serkit.core.fileio import atomic_open

__all__ = [
    "AUDIO_EXTENSIONS",
    "AudioInfo",
    "block_reader",
    "duration",
    "expand_audio_paths",
    "find_audio",
    "info",
    "load",
    "load_multichannel",
    "output_subtype",
    "resample",
    "save",
]

#: File extensions treated as audio when scanning folders.
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")

# Codec subtypes that are not carried over when re-writing a file: re-encoding a lossy stream with the format's
# default codec is always possible, whereas e.g. Opus only takes five sample rates and MPEG layers I/II cannot be
# encoded by libsndfile at all.
_LOSSY_SUBTYPES = {"VORBIS", "OPUS", "MPEG_LAYER_I", "MPEG_LAYER_II", "MPEG_LAYER_III"}

# MP3 headers without a Xing/Info tag only *estimate* the length from the file size, so a small shortfall on
# decode is normal there; a larger one means the file is cut short.
_MP3_LENGTH_TOLERANCE = 0.05

# libsndfile's header log line for a WAV whose data chunk claims more bytes than the file holds.
_WAV_DATA_SHORT = re.compile(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)
_WAV_BLOCK_ALIGN = re.compile(r"Block Align\s*:\s*(\d+)")
_WAV_SIZE_UNKNOWN = (0, 0xFFFFFFFF)  # placeholders written by streaming tools; not truncation


@dataclass(frozen=True)
class AudioInfo:
    """Header facts of an audio file (no samples decoded)."""

    path: str
    sample_rate: int
    frames: int
    channels: int
    format: str
    subtype: str

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def find_audio(
    root: str | os.PathLike, pattern: str = "**/*", extensions: Iterable[str] = AUDIO_EXTENSIONS
) -> list[Path]:
    """Audio files under ``root`` matching the glob ``pattern``, sorted, hidden files (``._x.wav``) skipped."""
    extensions = tuple(ext.lower() for ext in extensions)
    return sorted(
        p
        for p in Path(root).glob(pattern)
        if p.is_file() and p.suffix.lower() in extensions and not p.name.startswith(".")
    )


def expand_audio_paths(
    paths: str | os.PathLike | Iterable[str | os.PathLike], *, must_exist: bool = True
) -> list[Path]:
    """Files as given, and the audio files inside folders (recursively, sorted).

    Args:
        paths: one path or several; folders are searched for :data:`serkit.audio.io.AUDIO_EXTENSIONS`.
        must_exist: refuse a path that does not exist (turn off for models that read no audio, such as text-only
            models, whose "audio" paths are only keys of the transcripts).

    Raises:
        AudioFileNotFoundError: a path that does not exist (named).
        NoAudioFilesError: a folder without any audio file (named, with the extensions looked for).
    """
    result = []
    for path in map(Path, [paths] if isinstance(paths, (str, os.PathLike)) else paths):
        if path.is_dir():
            found = find_audio(path)
            if not found:
                raise NoAudioFilesError(
                    f"{path}: no audio files in this folder (searched recursively for "
                    f"{', '.join(AUDIO_EXTENSIONS)}; hidden files are skipped). "
                    "Convert other formats first, e.g. `ffmpeg -i in.m4a out.wav`."
                )
            result += found
        elif must_exist and not path.exists():
            raise AudioFileNotFoundError(path, "no such file or folder; check the path.")
        else:
            result.append(path)
    return result


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise AudioFileNotFoundError(
            path,
            "no such file; check the path (relative paths in a manifest are "
            "resolved against the manifest's folder).",
        )
    if path.is_dir():
        raise AudioFileNotFoundError(path, "is a folder, not an audio file.")
    if path.stat().st_size == 0:
        raise EmptyAudioError(
            path, "file is empty (0 bytes); re-copy or re-export it, or drop it from the list."
        )


def _backend_error(path: Path, exc: Exception) -> AudioError:
    """Turn a soundfile/libsndfile error into one of ours, distinguishing 'not audio' from 'broken audio'."""
    text = str(exc)
    lowered = text.lower()
    if "format not recognised" in lowered or "unknown format" in lowered or "not supported" in lowered:
        return UnsupportedAudioFormatError(
            path,
            f"not a readable audio file ({text.strip()}). Supported: WAV, FLAC, OGG, MP3; convert other "
            "formats first (e.g. `ffmpeg -i in.m4a out.wav`).",
        )
    return AudioDecodeError(
        path,
        f"cannot be decoded ({text.strip()}); the file is probably truncated or "
        "corrupt: re-copy it or remove it from the corpus list.",
    )


def _check_wav_complete(path: Path, fmt: str, header_log: str) -> None:
    """Raise AudioDecodeError if a WAV's data chunk promises more bytes than the file holds (a cut-off copy).

    ``header_log`` is libsndfile's description of the header it parsed (``extra_info``).
    """
    if fmt not in ("WAV", "WAVEX"):
        return
    match = _WAV_DATA_SHORT.search(header_log)
    if match is None:
        return
    declared, present = int(match[1]), int(match[2])
    block = _WAV_BLOCK_ALIGN.search(header_log)
    block_align = int(block[1]) if block else 1
    # A one-byte difference is the pad byte of an odd-sized chunk, which many writers get wrong harmlessly.
    if declared not in _WAV_SIZE_UNKNOWN and declared - present >= max(block_align, 2):
        raise AudioDecodeError(
            path,
            f"truncated: the WAV header declares {declared} bytes of audio but only "
            f"{present} are in the file; re-copy it or remove it from the corpus list.",
        )


def info(path: str | os.PathLike) -> AudioInfo:
    """Read the header of ``path`` without decoding samples.

    Raises:
        AudioFileNotFoundError: missing file or a folder.
        EmptyAudioError: 0-byte file.
        UnsupportedAudioFormatError: not an audio format the backend reads.
        AudioDecodeError: corrupt header, or a WAV whose data chunk is cut short.
    """
    path = Path(path)
    _check_exists(path)
    try:
        header = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise _backend_error(path, exc) from None
    _check_wav_complete(path, header.format, header.extra_info)
    return AudioInfo(
        str(path),
        int(header.samplerate),
        int(header.frames),
        int(header.channels),
        header.format,
        header.subtype,
    )


def duration(path: str | os.PathLike) -> float:
    """Duration of ``path`` in seconds, from the header."""
    return info(path).duration


def resample(waveform: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample with soxr (high quality).

    Args:
        waveform: (samples,) or (samples, channels).
        orig_sr: rate of ``waveform`` in Hz.
        target_sr: wanted rate in Hz.

    Returns:
        float32 array of the same rank, with ``round(samples * target_sr / orig_sr)`` samples.
    """
    if orig_sr == target_sr:
        return waveform
    import soxr

    return soxr.resample(waveform, orig_sr, target_sr, quality="HQ").astype(np.float32, copy=False)


def _read(path: Path, offset: float, max_duration: float | None) -> tuple[np.ndarray, int]:
    """Decode ``path`` (all channels) with every check; returns ((samples, channels) float32, file rate)."""
    if offset < 0:
        raise ValueError(f"{path}: offset={offset} must be >= 0 seconds.")
    if max_duration is not None and max_duration <= 0:
        raise ValueError(
            f"{path}: max_duration={max_duration} must be > 0 seconds (or None for the whole file)."
        )
    header = info(path)
    start = round(offset * header.sample_rate)
    stop = (
        header.frames
        if max_duration is None
        else min(header.frames, start + round(max_duration * header.sample_rate))
    )
    try:
        data, file_sr = sf.read(str(path), start=start, stop=stop, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise _backend_error(path, exc) from None
    if data.shape[0] == 0:
        where = f" after offset {offset} s (the file lasts {header.duration:.3f} s)" if start else ""
        raise EmptyAudioError(
            path, f"contains no audio samples{where}; drop it from the list or check the offset."
        )
    expected = max(stop - start, 0)
    tolerance = int(_MP3_LENGTH_TOLERANCE * header.frames) if header.format == "MP3" else 0
    if data.shape[0] < expected - tolerance:
        raise AudioDecodeError(
            path,
            f"truncated: the header promises {header.frames} frames but decoding stopped "
            f"after {start + data.shape[0]}; re-copy it or remove it from the corpus list.",
        )
    if not np.isfinite(data).all():
        bad = int((~np.isfinite(data)).sum())
        raise NonFiniteAudioError(
            path, f"{bad} sample(s) are NaN or infinite; the file is damaged, re-export it from its source."
        )
    return data, int(file_sr)


def load(
    path: str | os.PathLike,
    sample_rate: int | None = 16000,
    *,
    channel: int | None = None,
    offset: float = 0.0,
    max_duration: float | None = None,
) -> np.ndarray:
    """Load an audio file as a float32 mono waveform.

    Args:
        path: WAV, FLAC, OGG or MP3 file.
        sample_rate: resample to this rate (Hz); ``None`` keeps the file's own rate.
        channel: take this channel (0-based) instead of mixing all channels down to mono (their mean).
        offset: start reading this many seconds into the file.
        max_duration: read at most this many seconds (for long files).

    Returns:
        waveform: (samples,) float32 at ``sample_rate``, in [-1, 1] for integer files.

    Raises:
        AudioFileNotFoundError: missing file or a folder.
        EmptyAudioError: 0-byte file, or no samples in the requested range.
        UnsupportedAudioFormatError: not an audio format the backend reads (e.g. a text file named .wav).
        AudioDecodeError: truncated or corrupt data.
        NonFiniteAudioError: NaN or infinite samples (float files).
        ValueError: ``channel`` out of range, negative ``offset`` or non-positive ``max_duration``.
    """
    path = Path(path)
    data, file_sr = _read(path, offset, max_duration)
    if channel is not None:
        if not 0 <= channel < data.shape[1]:
            raise ValueError(
                f"{path}: channel={channel} requested but the file has {data.shape[1]} "
                f"channel(s); use 0..{data.shape[1] - 1} or omit channel to mix down."
            )
        waveform = data[:, channel]
    else:
        waveform = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if sample_rate is not None and file_sr != sample_rate:
        waveform = resample(waveform, file_sr, sample_rate)
    return np.ascontiguousarray(waveform, dtype=np.float32)


# Blocks of a file whose rate differs from the wanted one are read with this much extra audio on each side, which is
# cut after resampling, so the resampler's edge effects stay outside the block.
_RESAMPLE_MARGIN_SECONDS = 0.1


def block_reader(path: str | os.PathLike, sample_rate: int) -> tuple[Callable[[int, int], np.ndarray], int]:
    """A reader of any range of ``path`` at ``sample_rate``, without decoding anything yet: for long recordings,
    read block by block in bounded memory.

    Returns:
        (read, total): ``read(start, stop)`` gives samples [start, stop) as (samples,) float32 mono at
        ``sample_rate`` (as :func:`load` would cut them from the whole file, up to resampling at the block edges,
        kept outside the block by a margin); ``total``: the file's length in samples at ``sample_rate``.

    Raises:
        The typed errors of :func:`info` (now) and :func:`load` (when reading).
    """
    path = Path(path)
    header = info(path)
    rate, file_rate = sample_rate, header.sample_rate
    total = header.frames if file_rate == rate else round(header.frames * rate / file_rate)
    # block edges are taken on a grid that is whole in both rates; resampled blocks get a margin, cut after
    grid = math.gcd(rate, file_rate)
    unit, file_unit = rate // grid, file_rate // grid
    margin = 0 if file_rate == rate else round(_RESAMPLE_MARGIN_SECONDS * rate)

    def read(start: int, stop: int) -> np.ndarray:
        first = max(0, start - margin) // unit * unit
        last = -(-(stop + margin) // unit) * unit
        offset = first // unit * file_unit / file_rate
        seconds = None if last >= total else (last - first) // unit * file_unit / file_rate
        return load(path, rate, offset=offset, max_duration=seconds)[start - first : stop - first]

    return read, total


def load_multichannel(
    path: str | os.PathLike,
    sample_rate: int | None = None,
    *,
    offset: float = 0.0,
    max_duration: float | None = None,
) -> tuple[np.ndarray, int]:
    """Load every channel of an audio file (for tools that must keep the channel layout, e.g. resampling a tree).

    Args:
        path: WAV, FLAC, OGG or MP3 file.
        sample_rate: resample to this rate (Hz); ``None`` keeps the file's own rate.
        offset: start reading this many seconds into the file.
        max_duration: read at most this many seconds.

    Returns:
        (waveform, rate): waveform (samples, channels) float32 — 2-D even for mono files — and its sample rate.

    Raises:
        The same typed errors as :func:`load`.
    """
    path = Path(path)
    data, file_sr = _read(path, offset, max_duration)
    if sample_rate is not None and file_sr != sample_rate:
        data = resample(data, file_sr, sample_rate)
        file_sr = sample_rate
    return np.ascontiguousarray(data, dtype=np.float32), file_sr


def output_subtype(path: str | os.PathLike, source_subtype: str | None) -> str | None:
    """The subtype to pass to :func:`save` when re-encoding a file that had ``source_subtype`` into ``path``.

    Sample encodings (``PCM_16``, ``PCM_24``, ``FLOAT``, ...) are kept when ``path``'s format can hold them; lossy
    codecs, and anything the format cannot hold, map to ``None`` (the format's default), because a lossy stream
    cannot always be re-encoded as it was (Opus takes five sample rates, MPEG layers I/II cannot be encoded).
    """
    fmt = Path(path).suffix.lstrip(".").upper()
    if source_subtype is None or source_subtype in _LOSSY_SUBTYPES or fmt not in sf.available_formats():
        return None
    return source_subtype if sf.check_format(fmt, source_subtype) else None


def save(
    path: str | os.PathLike, waveform: np.ndarray, sample_rate: int, *, subtype: str | None = None
) -> None:
    """Write ``waveform`` atomically: a killed or disk-full write never leaves a half file under ``path`` (it writes
    a temporary file in the same folder, then renames). An existing ``path`` is replaced.

    Args:
        path: output file; the format follows the extension (.wav, .flac, .ogg, .mp3).
        waveform: (samples,) or (samples, channels); float samples beyond [-1, 1] are clipped by integer subtypes.
        sample_rate: Hz.
        subtype: sample encoding (``PCM_16``, ``PCM_24``, ``FLOAT``, ...); ``None`` is the format's default.

    Raises:
        ValueError: an extension or subtype the backend cannot write.
        AudioError: the backend refused the data (e.g. a sample rate the codec does not support).
    """
    path = Path(path)
    fmt = path.suffix.lstrip(".").upper()
    if fmt not in sf.available_formats():
        raise ValueError(f"{path}: cannot write format {fmt!r}; use one of .wav, .flac, .ogg, .mp3.")
    if subtype is not None and not sf.check_format(fmt, subtype):
        raise ValueError(
            f"{path}: subtype {subtype!r} cannot be written as {fmt}; use one of "
            f"{', '.join(sf.available_subtypes(fmt))} or None for the default."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_open(path, "wb") as handle:
            sf.write(handle, waveform, sample_rate, format=fmt, subtype=subtype)
    except sf.LibsndfileError as exc:
        reason = exc.error_string.strip()
        raise AudioError(path, f"cannot be written as {fmt} at {sample_rate} Hz ({reason}).") from None
