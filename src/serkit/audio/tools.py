"""Tools that rewrite every audio file of a folder tree into a mirror tree: resampling and peak normalisation.

Both tools share one walk (:func:`_process_tree`) with the same guarantees:

* the source tree is only read: the destination may be neither the source, nor inside it (the scan would pick
  up its own outputs), nor contain it (a mirrored path could land on a source file);
* ``dst`` gets the same relative paths and formats as ``src`` (``a/b.flac`` -> ``DST/a/b.flac``); integer
  sample encodings (``PCM_16``, ``PCM_24``, ...) and float ones are kept, lossy codecs are re-encoded with the
  format's default codec;
* files are processed one at a time (only one file is ever in memory) and written atomically, so an existing
  output is always complete: a rerun skips it and resumes where an interrupted run stopped;
* a file that cannot be read or written is recorded in :attr:`TreeReport.failed` and the walk goes on;
* ``progress=True`` draws a bar only on a terminal (:func:`serkit.core.progress.progress_enabled`); otherwise (logs, CI)
  it logs a line every 30 s and one summary line at the end.

Example:
    >>> report = resample_tree("corpus", "corpus_16k", sample_rate=16000)  # doctest: +SKIP
    >>> report.done, report.skipped, report.failed  # doctest: +SKIP
    (1440, 0, [])
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from serkit.audio import io as audio_io
from serkit.core.errors import AudioError
from serkit.core.fileio import atomic_open
from serkit.core.progress import progress_enabled

__all__ = ["TreeReport", "normalize_tree", "resample_tree"]

logger = logging.getLogger(__name__)

#: Without a bar (not a terminal), a progress line at most this often, in seconds.
LOG_EVERY = 30.0


@dataclass
class TreeReport:
    """Outcome of a tree tool.

    Attributes:
        done: files written by this run.
        skipped: files whose output already existed (from an earlier run) and were left alone.
        failed: ``(source path, reason)`` for each file that could not be processed.
    """

    done: int = 0
    skipped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)


# A per-file step: read `source` (whose header is `header`) and write `target`.
FileStep = Callable[[Path, Path, audio_io.AudioInfo], None]


def _check_trees(src: str | os.PathLike, dst: str | os.PathLike) -> tuple[Path, Path]:
    """Resolved (src, dst); ValueError if src is not a folder or if the two trees overlap."""
    source, target = Path(src).expanduser().resolve(), Path(dst).expanduser().resolve()
    if not source.is_dir():
        raise ValueError(
            f"source {source} is not a folder; give the folder whose audio files should be processed."
        )
    if target == source:
        raise ValueError(
            f"destination {target} is the source folder; the source is never modified, so give a "
            "new folder for the output (e.g. a sibling folder)."
        )
    if target.is_relative_to(source):
        raise ValueError(
            f"destination {target} is inside the source {source}; outputs there would be picked up "
            "as inputs. Give a folder outside the source (e.g. a sibling folder)."
        )
    if source.is_relative_to(target):
        raise ValueError(
            f"destination {target} contains the source {source}; mirrored files could overwrite "
            "source files. Give a folder outside the source (e.g. a sibling folder)."
        )
    if target.exists() and not target.is_dir():
        raise ValueError(f"destination {target} exists and is not a folder.")
    return source, target


def _reason(exc: AudioError) -> str:
    """The message of ``exc`` without its leading ``path:`` (the report lists the path separately)."""
    return str(exc).removeprefix(f"{exc.path}: ")


def _process_tree(
    src: str | os.PathLike, dst: str | os.PathLike, step: FileStep, *, description: str, progress: bool
) -> TreeReport:
    """Apply ``step`` to every audio file under ``src``, mirroring paths into ``dst``."""
    source, target = _check_trees(src, dst)
    report = TreeReport()
    files = audio_io.find_audio(source)
    show_bar = progress_enabled(progress)
    log_lines = (
        progress and not show_bar
    )  # asked for progress, but stderr is a log: a few plain lines instead
    started = last_line = time.monotonic()
    with tqdm(files, desc=description, unit="file", disable=not show_bar) as bar:
        for position, path in enumerate(bar):
            if log_lines and time.monotonic() - last_line >= LOG_EVERY:
                last_line = time.monotonic()
                logger.info(
                    "%s: %d/%d files, %d failed so far", description, position, len(files), len(report.failed)
                )
            output = target / path.relative_to(source)
            if output.exists():  # outputs are written atomically, so an existing one is complete
                report.skipped += 1
                continue
            try:
                step(path, output, audio_io.info(path))
            except AudioError as exc:
                report.failed.append((str(path), _reason(exc)))
                bar.set_postfix(failed=len(report.failed))
                continue
            report.done += 1
    if log_lines:
        logger.info(
            "%s: %d/%d files in %.1f s: %d written, %d already done, %d failed",
            description,
            len(files),
            len(files),
            time.monotonic() - started,
            report.done,
            report.skipped,
            len(report.failed),
        )
    return report


def resample_tree(
    src: str | os.PathLike, dst: str | os.PathLike, *, sample_rate: int, progress: bool = True
) -> TreeReport:
    """Write every audio file under ``src`` to the same relative path under ``dst`` at ``sample_rate``.

    Channels are kept (a stereo file stays stereo); files already at ``sample_rate`` are re-encoded unchanged.
    Integer outputs clip the rare resampling overshoot beyond full scale rather than wrapping around.

    Args:
        src: folder to read (never modified).
        dst: folder to write; created if needed; must not overlap ``src``.
        sample_rate: target rate in Hz.
        progress: show a progress bar (on a terminal; elsewhere a few log lines).

    Returns:
        A :class:`TreeReport`.

    Raises:
        ValueError: ``src`` is not a folder, ``dst`` overlaps ``src``, or ``sample_rate`` is not positive.
    """
    if sample_rate <= 0:
        raise ValueError(f"sample_rate={sample_rate}: give a positive rate in Hz (e.g. 16000).")

    def step(source: Path, output: Path, header: audio_io.AudioInfo) -> None:
        waveform, rate = audio_io.load_multichannel(source, sample_rate)
        audio_io.save(output, waveform, rate, subtype=audio_io.output_subtype(output, header.subtype))

    return _process_tree(src, dst, step, description=f"resample to {sample_rate} Hz", progress=progress)


def normalize_tree(
    src: str | os.PathLike, dst: str | os.PathLike, *, peak: float = 1.0, progress: bool = True
) -> TreeReport:
    """Write every audio file under ``src`` to ``dst`` scaled so that its largest ``|sample|`` is ``peak``.

    One gain per file, over all channels (the stereo balance is kept), as ``librosa.util.normalize`` does for a
    whole signal. A silent (all-zero) file cannot be scaled and is copied byte for byte; it counts as done.

    Args:
        src: folder to read (never modified).
        dst: folder to write; created if needed; must not overlap ``src``.
        peak: target peak in (0, 1]; 1.0 is full scale (in 16-bit files the largest sample becomes +32767 or
            -32768, never wrapping around).
        progress: show a progress bar (on a terminal; elsewhere a few log lines).

    Returns:
        A :class:`TreeReport`.

    Raises:
        ValueError: ``src`` is not a folder, ``dst`` overlaps ``src``, or ``peak`` is outside (0, 1].
    """
    if not 0.0 < peak <= 1.0:
        raise ValueError(f"peak={peak}: give a value in (0, 1]; 1.0 is full scale.")

    def step(source: Path, output: Path, header: audio_io.AudioInfo) -> None:
        waveform, rate = audio_io.load_multichannel(source)
        current = float(np.max(np.abs(waveform)))
        if current == 0.0:
            with open(source, "rb") as reader, atomic_open(output, "wb") as writer:
                shutil.copyfileobj(reader, writer)
            return
        # Divide first: a correctly rounded |x| / max|x| never exceeds 1, so the result never exceeds peak and an
        # integer output cannot overflow; the clip is only a guard.
        scaled = np.clip(waveform / np.float32(current) * np.float32(peak), -peak, peak)
        audio_io.save(output, scaled, rate, subtype=audio_io.output_subtype(output, header.subtype))

    return _process_tree(src, dst, step, description=f"peak-normalise to {peak}", progress=progress)
