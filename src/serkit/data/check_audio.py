"""The audio pass of ``serkit corpus check``: every file read once, measured, and fingerprinted.

:func:`scan_audio` decodes each file once (all channels, at its own rate) and keeps a few numbers per file: rate,
channels, duration, the share of samples at full scale (clipping), the RMS level and the share of frames with
speech energy, and a small fingerprint. :func:`near_duplicates` compares the fingerprints, and
:func:`audio_findings` / :func:`format_findings` turn the numbers into :class:`Finding` records (the record type of
every corpus check, defined here so that :mod:`serkit.data.check` can import it).

The fingerprint is a coarse log spectrogram at 8 kHz (12 log-spaced bands from 100 Hz to 3.8 kHz, 10 ms frames, 50 dB range),
which does not change when a file is re-encoded, resampled (to any rate of 8 kHz or more) or made louder. Each
band's mean is removed (so a gain change cancels) and it is cut from the speech onset (first frame within 30 dB of the
loudest), so trimming a little silence does not move it. Pairs are compared only within a block of similar
speech-span durations (sorted, so the work grows with the block sizes, not with the square of the corpus), first
by one matrix product of the onset-aligned descriptors at a few lags, then, for the candidates, by the best
correlation of the whole spectrograms over lags of up to 0.3 s around the onset difference. On RAVDESS a copy
made louder, resampled or trimmed scores above 0.996, while two takes of one sentence by one actor stay below 0.975:
the default threshold is 0.99.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from serkit.audio import io as audio_io
from serkit.core.errors import AudioError
from serkit.core.progress import progress_enabled
from serkit.data.utterance import Utterance

__all__ = [
    "LEVELS",
    "AudioStats",
    "CorpusCheck",
    "Finding",
    "audio_findings",
    "format_findings",
    "link_groups",
    "near_duplicates",
    "read_headers",
    "scan_audio",
]

logger = logging.getLogger(__name__)

_RATE = 8000  # fingerprints are computed at this rate
_HOP = 80  # 10 ms frames at 8 kHz
_FFT = 256
_BANDS = np.geomspace(100.0, 3800.0, 13)  # edges of 12 log-spaced bands
_FULL_SCALE = 0.999  # |sample| at or above this counts as clipped (int16 full scale is 0.99997)
_SPEECH_FLOOR_DB = -65.0  # frames quieter than this (dBFS) are never speech
_SPEECH_RANGE_DB = 35.0  # ... nor frames more than this below the loudest frame
_DESCRIPTOR_FRAMES = 128  # 1.28 s from the speech onset
_LAGS = (-8, -4, 0, 4, 8)  # frame lags of the first (matrix product) stage
_MAX_LAG = 30  # frames (0.3 s) around the onset difference searched by the second stage

#: Finding levels, from least to most severe; the exit code of ``serkit corpus check`` is the index of the worst.
LEVELS = ("info", "warning", "error")

#: Files listed per finding, at most.
MAX_EXAMPLES = 10
_CLIPPED = 0.001  # share of samples at full scale that makes a file clipped
_PEAK_FLOOR_DB = -65.0  # a file whose loudest frame is below this holds no speech
_MIN_SPEECH = 0.03  # ... nor one with less than this share of speech frames
_MIN_SPAN = 0.15  # ... or less than this many seconds from the first to the last


@dataclass(frozen=True)
class Finding:
    """One result of a check.

    Attributes:
        id: stable name of the check (``speaker_confounding``, ``duplicate_across_labels``, ...).
        level: one of :data:`LEVELS`.
        message: what was found, in plain words.
        fix: what to do about it (empty for a plain fact).
        numbers: the measurements behind the message.
        examples: utterance ids (or ``id = id`` pairs) showing it, at most ten.
    """

    id: str
    level: str
    message: str
    fix: str = ""
    numbers: Mapping[str, Any] = field(default_factory=dict)
    examples: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"finding {self.id!r}: level {self.level!r} must be one of {', '.join(LEVELS)}.")

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "level": self.level,
            "message": self.message,
            "fix": self.fix,
            "numbers": dict(self.numbers),
            "examples": list(self.examples),
        }


@dataclass
class CorpusCheck:
    """Findings of a corpus check, plus the tables a report draws (``facts``: counts, durations, audio)."""

    findings: list[Finding]
    facts: dict[str, Any]

    @property
    def exit_code(self) -> int:
        """0 clean (info only), 1 warnings, 2 errors."""
        return max((LEVELS.index(f.level) for f in self.findings), default=0)

    def problems(self) -> list[Finding]:
        """Warnings and errors, the worst first."""
        return sorted((f for f in self.findings if f.level != "info"), key=lambda f: -LEVELS.index(f.level))


@dataclass(frozen=True)
class AudioStats:
    """What the audio pass keeps of one file.

    Attributes:
        sample_rate, channels, duration: from the decoded file.
        clipped: share of samples at full scale (any channel).
        rms_db: RMS level of the mono mix in dBFS (-120 for digital silence).
        peak_db: level of the loudest 32 ms frame at 8 kHz in dBFS.
        speech: share of 10 ms frames with speech-like energy (within 35 dB of the loudest, above -65 dBFS).
        span: seconds from the first to the last such frame.
        spectrogram: (frames, 12) log band energies at 8 kHz with the mean removed; the near-duplicate fingerprint.
        onset: frame index of the speech onset in ``spectrogram``.
    """

    sample_rate: int
    channels: int
    duration: float
    clipped: float
    rms_db: float
    peak_db: float
    speech: float
    span: float
    spectrogram: np.ndarray
    onset: int


def _band_matrix() -> np.ndarray:
    freqs = np.fft.rfftfreq(_FFT, 1.0 / _RATE)
    matrix = np.zeros((len(_BANDS) - 1, len(freqs)), dtype=np.float32)
    for band, (low, high) in enumerate(zip(_BANDS[:-1], _BANDS[1:])):
        matrix[band, (freqs >= low) & (freqs < high)] = 1.0
    return matrix


_BAND_MATRIX = _band_matrix()


def _measure(data: np.ndarray, rate: int) -> AudioStats:
    """Numbers and fingerprint of one decoded file; data (samples, channels) float32."""
    clipped = float(np.mean(np.abs(data) >= _FULL_SCALE)) if data.size else 0.0
    mono = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    rms = float(np.sqrt(np.mean(np.square(mono, dtype=np.float64)))) if mono.size else 0.0
    low = audio_io.resample(mono, rate, _RATE) if rate != _RATE else mono
    if len(low) < _FFT:
        low = np.pad(low, (0, _FFT - len(low)))
    frames = np.lib.stride_tricks.sliding_window_view(low, _FFT)[::_HOP]  # (frames, fft)
    power = np.abs(np.fft.rfft(frames * np.hanning(_FFT).astype(np.float32), axis=1)) ** 2
    bands = np.log10(power @ _BAND_MATRIX.T + 1e-9)  # (frames, 12)
    bands = np.maximum(bands, bands.max() - 5.0)  # a 50 dB floor: codecs and dither change what lies below
    frame_db = 10 * np.log10(np.mean(np.square(frames), axis=1) + 1e-12)  # (frames,)
    active = (frame_db > _SPEECH_FLOOR_DB) & (frame_db > frame_db.max() - _SPEECH_RANGE_DB)
    where = np.flatnonzero(active)
    onset = int(where[0]) if len(where) else 0
    span = (where[-1] - where[0] + 1) * _HOP / _RATE if len(where) else 0.0
    return AudioStats(
        sample_rate=rate,
        channels=int(data.shape[1]),
        duration=data.shape[0] / rate,
        clipped=clipped,
        rms_db=20 * np.log10(rms) if rms > 1e-6 else -120.0,
        peak_db=float(max(frame_db.max(), -120.0)),
        speech=float(active.mean()) if len(active) else 0.0,
        span=float(span),
        spectrogram=(bands - bands.mean(axis=0)).astype(
            np.float32
        ),  # each band's mean removed: the file's timbre
        onset=onset,
    )


def scan_audio(
    utterances: Sequence[Utterance], *, progress: bool = True
) -> tuple[dict[str, AudioStats], dict[str, str]]:
    """Read every file once; returns ({utt id: stats}, {utt id: why it could not be read})."""
    items = list(utterances)
    if progress_enabled(progress):
        from tqdm.auto import tqdm

        items = tqdm(items, desc="reading audio", unit="file")
    stats, unreadable = {}, {}
    for utt in items:
        try:
            data, rate = audio_io.load_multichannel(utt.path)
        except (AudioError, OSError, ValueError) as exc:
            unreadable[utt.id] = str(exc)
            continue
        stats[utt.id] = _measure(data, rate)
    return stats, unreadable


def _descriptors(stats: Sequence[AudioStats], shift: int) -> np.ndarray:
    """Onset-aligned, unit-length fingerprints (files, frames * bands), cut ``shift`` frames after the onset."""
    rows = np.zeros((len(stats), _DESCRIPTOR_FRAMES, len(_BANDS) - 1), dtype=np.float32)
    for row, item in zip(rows, stats):
        start = max(item.onset + shift, 0)
        piece = item.spectrogram[start : start + _DESCRIPTOR_FRAMES]
        row[: len(piece)] = piece - piece.mean() if len(piece) else 0.0
    flat = rows.reshape(len(stats), -1)
    return flat / np.maximum(np.linalg.norm(flat, axis=1, keepdims=True), 1e-9)


def _best_correlation(a: np.ndarray, b: np.ndarray, center: int = 0) -> float:
    """Highest Pearson correlation of two (frames, bands) spectrograms (each band's mean removed) over lags within
    ``_MAX_LAG`` frames of ``center`` (``a[center + k]`` aligned with ``b[k]``: the difference of the onsets)."""
    best = -1.0
    for lag in range(center - _MAX_LAG, center + _MAX_LAG + 1):
        x, y = (a[lag:], b) if lag >= 0 else (a, b[-lag:])
        n = min(len(x), len(y))
        if n < 20 or n < 0.7 * min(len(a), len(b)):
            continue
        x, y = (x[:n] - x[:n].mean(axis=0)).ravel(), (y[:n] - y[:n].mean(axis=0)).ravel()
        denominator = np.linalg.norm(x) * np.linalg.norm(y)
        if denominator > 0:
            best = max(best, float(x @ y / denominator))
    return best


def near_duplicates(
    stats: dict[str, AudioStats],
    *,
    threshold: float = 0.99,
    candidate: float = 0.85,
    block: int = 512,
) -> list[tuple[str, str, float]]:
    """Pairs of files whose fingerprints correlate at ``threshold`` or more, as (id, id, correlation).

    Only files whose speech spans differ by at most 0.15 s + 5 % are compared; within that window a pair goes to the
    (slower) lag search when its onset-aligned descriptors reach ``candidate`` at one of a few lags.
    """
    ids = sorted((i for i in stats if stats[i].speech > 0), key=lambda i: stats[i].span)
    if len(ids) < 2:
        return []
    items = [stats[i] for i in ids]
    spans = np.array([item.span for item in items])
    base = _descriptors(items, 0)
    shifted = [_descriptors(items, shift) for shift in _LAGS if shift]
    pairs = []
    for start in range(0, len(ids), block):
        stop = min(start + block, len(ids))
        reach = np.searchsorted(spans, spans[stop - 1] * 1.05 + 0.15, side="right")
        scores = base[start:stop] @ base[start:reach].T  # (block, reach - start)
        for other in shifted:  # either file may start a little later than the other
            scores = np.maximum(scores, other[start:stop] @ base[start:reach].T)
            scores = np.maximum(scores, base[start:stop] @ other[start:reach].T)
        for row, col in zip(*np.nonzero(scores >= candidate)):
            i, j = start + row, start + col
            if j <= i or spans[j] > spans[i] * 1.05 + 0.15:
                continue
            score = _best_correlation(
                items[i].spectrogram, items[j].spectrogram, items[i].onset - items[j].onset
            )
            if score >= threshold:
                pairs.append((ids[i], ids[j], round(score, 4)))
    return pairs


def read_headers(utterances: Iterable[Utterance]) -> dict[str, tuple[int, int, float]]:
    """{utterance id: (sample rate, channels, seconds)} from the file headers; unreadable files are left out."""
    headers = {}
    for utt in utterances:
        try:
            header = audio_io.info(utt.path)
        except (AudioError, OSError):
            continue
        headers[utt.id] = (header.sample_rate, header.channels, header.duration)
    return headers


def link_groups(pairs: Sequence[tuple[str, str]]) -> list[list[str]]:
    """Connected groups of ids (union-find) from linked pairs."""
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        parent[root(a)] = root(b)
    members: dict[str, list[str]] = defaultdict(list)
    for x in parent:
        members[root(x)].append(x)
    return sorted(sorted(group) for group in members.values() if len(group) > 1)


def format_findings(headers: Mapping[str, tuple[int, int]]) -> list[Finding]:
    """Sample-rate and channel mixtures from {id: (rate, channels)}."""
    findings = []
    for index, (name, unit) in enumerate((("sample_rate", "Hz"), ("channels", "channel(s)"))):
        values = Counter(header[index] for header in headers.values())
        listing = ", ".join(f"{v} {unit}: {n}" for v, n in sorted(values.items()))
        if len(values) > 1:
            rare = min(values, key=values.get)
            findings.append(
                Finding(
                    f"{name}_mixture",
                    "warning",
                    f"Files differ in {name.replace('_', ' ')} ({listing}); if it goes with speaker, session or "
                    "emotion, a model can learn the recording chain instead of the emotion.",
                    "Convert every file to one format first (`serkit audio resample`), and check that the format "
                    "does not go with the labels.",
                    {"counts": {str(k): v for k, v in values.items()}},
                    tuple(i for i, h in headers.items() if h[index] == rare)[:MAX_EXAMPLES],
                )
            )
        elif values:
            findings.append(
                Finding(
                    name,
                    "info",
                    f"All files: {listing}.",
                    "",
                    {"counts": {str(k): v for k, v in values.items()}},
                )
            )
    return findings


def audio_findings(stats: Mapping[str, AudioStats], unreadable: Mapping[str, str]) -> list[Finding]:
    findings = []
    if unreadable:
        findings.append(
            Finding(
                "unreadable_audio",
                "error",
                f"{len(unreadable)} file(s) could not be read: " + "; ".join(list(unreadable.values())[:3]),
                "Re-copy or re-export them, or remove them from the manifest.",
                {"files": len(unreadable)},
                tuple(list(unreadable)[:MAX_EXAMPLES]),
            )
        )
    clipped = sorted((i for i, s in stats.items() if s.clipped >= _CLIPPED), key=lambda i: -stats[i].clipped)
    worst = max((s.clipped for s in stats.values()), default=0.0)
    findings.append(
        Finding(
            "clipping",
            "warning" if clipped else "info",
            f"{len(clipped)} file(s) have at least {_CLIPPED:.1%} of their samples at full scale (clipped); the "
            f"worst has {worst:.2%}.",
            "Clipped files distort loud emotions (anger, joy) in a way a model can learn; re-record, or leave them "
            "out and report how many."
            if clipped
            else "",
            {"files": len(clipped), "worst_share": round(worst, 5)},
            tuple(clipped[:MAX_EXAMPLES]),
        )
    )
    empty = [
        i
        for i, s in stats.items()
        if s.peak_db < _PEAK_FLOOR_DB or s.speech < _MIN_SPEECH or s.span < _MIN_SPAN
    ]
    findings.append(
        Finding(
            "silent_audio",
            "warning" if empty else "info",
            f"{len(empty)} file(s) are silent or nearly empty (loudest frame below {_PEAK_FLOOR_DB:.0f} dBFS, or "
            f"less than {_MIN_SPAN} s / {_MIN_SPEECH:.0%} of speech-like frames).",
            "Check them by ear; drop empty files from the manifest (they teach the model that silence is an "
            "emotion)."
            if empty
            else "",
            {
                "files": len(empty),
                "min_peak_db": round(min((s.peak_db for s in stats.values()), default=0.0), 1),
                "min_speech_share": round(min((s.speech for s in stats.values()), default=0.0), 3),
            },
            tuple(sorted(empty)[:MAX_EXAMPLES]),
        )
    )
    return findings
