"""Long recordings without torch, for every recogniser: the timeline (one entry per window, read one window at a
time) and the speech regions of the VAD (one emotion per region, ``serkit predict --segments``), with the VAD as
the speech gate of a timeline (``serkit predict --timeline --vad silero``).

The torch recogniser (:class:`serkit.inference.Recognizer`), the Hugging Face back-end and the ONNX runtime
(:class:`serkit.runtime.OnnxRecognizer`) share this code, and ``serkit serve`` calls it with whichever recogniser
it was given; so it lives here, below them all, and imports numpy and serkit's audio and core layers only.

Regions: they come from :class:`serkit.audio.vad.SileroVad` (a first pass over the file, block by block); each
region is then read from disk at the model's rate and classified as a file of that length would be, by the
recogniser's ``analyse_sources`` (regions share the model's batches; a region longer than a minute is read in
blocks by the torch recogniser). The VAD keeps regions longer than 250 ms (plus 30 ms of padding on each side),
often shorter than the model's window; they are classified as the model treats short files
(``input.short_policy``): zero-padded (``pad``) or repeated (``tile``) to one window, or given as they are
(``keep``). A model that drops short inputs (``drop``) would have nothing to classify, so for it a short region is
widened, centred, to one window of the surrounding audio (clipped to the file); the row keeps the region's own
start and end. Regions are never merged: each row is one stretch of speech that the VAD found. The energy gate is
not applied to regions: the VAD has already decided that a region is speech.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from serkit.audio import io as audio_io
from serkit.audio.speech import NO_SPEECH, SPEECH_MIN_FRACTION
from serkit.audio.vad import SileroVad, SpeechRegion

__all__ = [
    "VADS",
    "Segment",
    "Source",
    "TimelineEntry",
    "file_segments",
    "file_timeline",
    "region_sources",
    "vad_timeline",
]

#: The speech gates of ``serkit predict --timeline --vad``: the energy gate (the default) or Silero VAD.
VADS = ("energy", "silero")

#: A readable input: its name (for messages), a reader of samples [start, stop) at the model's rate, and how many
#: samples the model uses (after ``input.eval_max_seconds``).
Source = tuple[str, Callable[[int, int], np.ndarray], int]

#: Any recogniser with ``classes_``, ``sample_rate``, ``analyse_sources`` and ``timeline`` (torch, Hugging Face or
#: ONNX); not imported here, since the torch ones live in layers above.
AnyRecognizer = Any


@dataclass(frozen=True)
class TimelineEntry:
    """One window of a long recording: start/end in seconds, predicted label (:data:`NO_SPEECH` when the window
    holds no speech; ``""`` for a regression model), class probabilities, whether the speech gate found speech,
    and the dimension values on [0, 1] of a model of dimensions (:mod:`serkit.runtime.task`; ``()`` otherwise)."""

    start: float
    end: float
    label: str
    probabilities: tuple[float, ...]
    speech: bool = True
    values: tuple[float, ...] = ()


@dataclass(frozen=True)
class Segment:
    """One speech region of a recording: start/end in seconds, the predicted label and class probabilities (and
    the dimension values on [0, 1] of a model of dimensions, ``()`` otherwise)."""

    start: float
    end: float
    label: str
    probabilities: tuple[float, ...]
    values: tuple[float, ...] = ()


def _label(recognizer: AnyRecognizer, probabilities, speech: bool) -> str:
    """The most probable class, :data:`NO_SPEECH` without speech, ``""`` for a model without classes."""
    if not speech:
        return NO_SPEECH
    return recognizer.classes_[int(np.argmax(probabilities))] if len(recognizer.classes_) else ""


def _has_dimensions(recognizer: AnyRecognizer) -> bool:
    return bool(getattr(recognizer, "dimensions_", None))


def file_timeline(
    path: str | os.PathLike,
    sample_rate: int,
    analyse: Callable[[np.ndarray], tuple[np.ndarray, ...]],
    labels_from: Callable[[np.ndarray, np.ndarray], list[str]],
    *,
    window: float,
    hop: float,
) -> Iterator[TimelineEntry]:
    """The timeline of a recogniser: one entry per ``window`` seconds every ``hop`` seconds of ``path``.

    Reads only ``window`` seconds at a time from disk (at ``sample_rate``); the last, shorter window is kept if it is
    at least half a window long. ``analyse(waveform (samples,))`` gives the window's probabilities (1, num_classes)
    and speech flag (1,), and optionally its dimension values (1, D); ``labels_from`` turns the first two into its
    label (``no_speech`` without speech).

    Raises:
        ValueError: ``window`` or ``hop`` not positive. AudioError: the file cannot be read.
    """
    if window <= 0 or hop <= 0:
        raise ValueError(f"window ({window}) and hop ({hop}) must be positive seconds.")
    total = audio_io.duration(path)
    start = 0.0
    while start < total:
        length = min(window, total - start)
        if length < window / 2 and start > 0:
            break
        probabilities, speech, *values = analyse(
            audio_io.load(path, sample_rate, offset=start, max_duration=length)
        )
        yield TimelineEntry(
            round(start, 3),
            round(start + length, 3),
            labels_from(probabilities, speech)[0],
            tuple(float(p) for p in probabilities[0]),
            bool(speech[0]),
            tuple(float(v) for v in values[0][0]) if values else (),
        )
        start += hop


def _minimum_samples(recognizer: AnyRecognizer) -> int:
    """Samples below which a region is widened before it is classified: one window for a model that drops
    shorter inputs (``short_policy: drop``), otherwise 0."""
    if getattr(recognizer, "minimum_samples", None) is not None:  # a back-end that says (Hugging Face models)
        return recognizer.minimum_samples
    card = getattr(recognizer, "card", None)  # the ONNX runtime's metadata: window in samples
    if card is not None:
        return card.window if card.short_policy == "drop" else 0
    inputs = recognizer.pipeline.inputs
    if inputs.mode == "segments" and inputs.short_policy == "drop":
        return round(inputs.window * recognizer.sample_rate)
    return 0


def region_sources(recognizer: AnyRecognizer, path: Path, regions: list[SpeechRegion]) -> Iterator[Source]:
    """One readable input per region, at the model's rate: ``(name, read(start, stop), samples)``, where the
    name is ``"<path> [<start>-<end> s]"`` and ``read`` reads only that region from disk.

    Raises:
        serkit.core.errors.AudioError subclasses naming the file (its header, now; its samples, when read).
    """
    read, total = audio_io.block_reader(path, recognizer.sample_rate)  # (read(start, stop), samples)
    rate, minimum = recognizer.sample_rate, _minimum_samples(recognizer)
    for region in regions:
        seconds = region.seconds()
        first, last = (min(total, round(t * rate)) for t in seconds)
        if last - first < minimum:  # widened, centred, to one window of the surrounding audio
            first = max(0, min(total - minimum, first - (minimum - (last - first)) // 2))
            last = min(total, first + minimum)
        name = f"{path} [{seconds[0]:.2f}-{seconds[1]:.2f} s]"
        yield name, (lambda start, stop, first=first: read(first + start, first + stop)), last - first


def file_segments(recognizer: AnyRecognizer, path: str | os.PathLike, *, vad: SileroVad) -> list[Segment]:
    """The speech regions of a file with the emotion of each; an empty list if the VAD finds no speech.

    Memory does not grow with the file's length (the VAD reads a minute at a time, each region is read alone);
    only the list of regions does.

    Raises:
        serkit.core.errors.AudioError subclasses naming the file; ValueError for a region that cannot be classified.
    """
    path = Path(path)
    regions = vad.file_regions(path)
    if not regions:
        return []
    sources = region_sources(recognizer, path, regions)
    if _has_dimensions(recognizer):
        probabilities, values, _ = recognizer.analyse_sources_outputs(sources)
    else:
        probabilities, _ = recognizer.analyse_sources(sources)
        values = np.zeros((len(probabilities), 0))
    return [
        Segment(
            round(region.seconds()[0], 3),
            round(region.seconds()[1], 3),
            _label(recognizer, row, True),
            tuple(float(p) for p in row),
            tuple(float(v) for v in value),
        )
        for region, row, value in zip(regions, probabilities, values)
    ]


def vad_timeline(
    recognizer: AnyRecognizer, path: str | os.PathLike, *, window: float, hop: float, vad: SileroVad
) -> Iterator[TimelineEntry]:
    """The recogniser's ``timeline`` with the VAD as its speech gate: a window is speech if the VAD's regions cover
    at least :data:`SPEECH_MIN_FRACTION` of it (the energy gate's fraction of active frames); otherwise its label
    is :data:`NO_SPEECH`, its probabilities kept."""
    regions = [region.seconds() for region in vad.file_regions(path)]
    first = 0  # the first region that may still overlap a window (windows start in increasing order)
    for entry in recognizer.timeline(path, window=window, hop=hop):
        while first < len(regions) and regions[first][1] <= entry.start:
            first += 1
        covered = 0.0
        for start, end in regions[first:]:
            if start >= entry.end:
                break
            covered += min(end, entry.end) - max(start, entry.start)
        speech = covered >= SPEECH_MIN_FRACTION * (entry.end - entry.start)
        label = _label(recognizer, entry.probabilities, speech)
        yield dataclasses.replace(entry, label=label, speech=speech)
