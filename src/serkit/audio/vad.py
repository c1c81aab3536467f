"""Voice activity detection: the speech regions of a recording, by Silero VAD's ONNX model on onnxruntime.

The model file ships inside the PyPI wheel ``silero-vad`` (``silero_vad/data/silero_vad.onnx``); it is found without
importing the package, whose ``__init__`` imports torch, so this module works in the torch-free ONNX runtime
(:mod:`serkit.runtime`) as well as beside the torch recogniser. Only numpy and onnxruntime run it.

What it computes is what silero's own ``get_speech_timestamps`` computes (without ``max_speech_duration_s``):

1. the audio at 16 kHz is cut into windows of 512 samples (32 ms); each window, prefixed with the last 64 samples
   of the previous one (zeros before the first) and with the recurrent state, gives a speech probability; the last
   partial window is zero-padded;
2. a region starts at the first window whose probability is >= ``threshold``, and ends where the probability has
   stayed below ``threshold - 0.15`` for ``min_silence_ms``; regions not longer than ``min_speech_ms`` are
   dropped;
3. every region is widened by ``speech_pad_ms`` on each side, or, where two regions are closer than two pads, they
   meet halfway.

The file is read block by block (:data:`BLOCK_WINDOWS` windows at a time, through
:func:`serkit.audio.io.block_reader`), so an hour of audio needs the memory of one block; the list of regions is
the only thing that grows with the length.

>>> SileroVad().file_regions("meeting.flac")[:2]                                  # doctest: +SKIP
[SpeechRegion(start=4064, end=52192), SpeechRegion(start=60896, end=98784)]
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np

from serkit.audio import io as audio_io
from serkit.core.errors import ModelFileError
from serkit.core.onnx_session import cpu_session

__all__ = ["BLOCK_WINDOWS", "VAD_SAMPLE_RATE", "VAD_WINDOW", "SileroVad", "SpeechRegion", "silero_model_path"]

#: The rate the VAD runs at (Hz); files are resampled to it as they are read.
VAD_SAMPLE_RATE = 16000
#: Samples per model call at :data:`VAD_SAMPLE_RATE` (32 ms): the resolution of region boundaries.
VAD_WINDOW = 512
#: Samples of the previous window prefixed to each window (silero's ``OnnxWrapper`` context).
_CONTEXT = 64
#: Windows read from disk at a time: 1875 x 512 samples = 60 s at 16 kHz.
BLOCK_WINDOWS = 1875
_MODEL_FILE = "silero_vad.onnx"  # opset 16, 8 and 16 kHz: the model of silero's load_silero_vad(onnx=True)
_INSTALL = 'pip install "serkit[vad]" (the silero-vad wheel ships the model)'


class SpeechRegion(NamedTuple):
    """One stretch of speech: samples [start, end) at :data:`VAD_SAMPLE_RATE`."""

    start: int
    end: int

    def seconds(self) -> tuple[float, float]:
        """(start, end) in seconds."""
        return self.start / VAD_SAMPLE_RATE, self.end / VAD_SAMPLE_RATE


def silero_model_path() -> Path:
    """The ONNX model inside the installed ``silero-vad`` wheel, found without importing ``silero_vad`` (its
    ``__init__`` imports torch).

    Raises:
        ModelFileError: silero-vad is not installed, or its wheel lacks the model; the message says what to install.
    """
    spec = importlib.util.find_spec("silero_vad")  # finds the package without running its __init__
    if spec is None or not spec.submodule_search_locations:
        raise ModelFileError(f"the silero VAD needs the silero-vad package: {_INSTALL}.")
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "data" / _MODEL_FILE
        if path.is_file():
            return path
    raise ModelFileError(
        f"silero-vad is installed in {list(spec.submodule_search_locations)} but has no data/{_MODEL_FILE}; "
        f"reinstall it: {_INSTALL}."
    )


class SileroVad:
    """Silero VAD with the defaults of silero's ``get_speech_timestamps``.

    Args:
        threshold: a window is speech if its probability is at least this; a region ends below
            ``threshold - 0.15`` (silero's ``neg_threshold``, at least 0.01).
        min_speech_ms: regions not longer than this (before padding) are dropped.
        min_silence_ms: a region ends after this much silence.
        speech_pad_ms: regions are widened by this much on each side.
        threads: onnxruntime's intra-op threads (the model is small and sequential: 1 is fastest).

    Raises:
        ValueError: a threshold outside (0, 1) or a negative duration, naming it.
        ModelFileError: silero-vad or onnxruntime missing, or a model file onnxruntime cannot load.
    """

    def __init__(
        self,
        *,
        threshold: float = 0.5,
        min_speech_ms: int = 250,
        min_silence_ms: int = 100,
        speech_pad_ms: int = 30,
        threads: int = 1,
    ) -> None:
        if not 0 < threshold < 1:
            raise ValueError(
                f"threshold={threshold}: give a speech probability between 0 and 1 (default 0.5)."
            )
        for name, value in (
            ("min_speech_ms", min_speech_ms),
            ("min_silence_ms", min_silence_ms),
            ("speech_pad_ms", speech_pad_ms),
        ):
            if value < 0:
                raise ValueError(f"{name}={value}: give a duration in milliseconds, at least 0.")
        self.threshold = threshold
        self.neg_threshold = max(threshold - 0.15, 0.01)
        ms = VAD_SAMPLE_RATE / 1000
        self.min_speech = min_speech_ms * ms
        self.min_silence = min_silence_ms * ms
        self.pad = speech_pad_ms * ms
        self.model_path = silero_model_path()
        try:
            import onnxruntime  # noqa: F401  (here only to say what to install)
        except ImportError:
            raise ModelFileError(f"the silero VAD runs on onnxruntime: {_INSTALL}.") from None
        self.session = cpu_session(self.model_path, threads=threads, fix=f"reinstall silero-vad: {_INSTALL}.")

    # ------------------------------------------------------------------------------------------ the model

    def probabilities(self, blocks: Iterable[np.ndarray]) -> Iterator[float]:
        """The speech probability of every 512-sample window of a stream given in blocks of any length.

        Args:
            blocks: consecutive pieces of one recording, each (samples,) float at 16 kHz; the last partial window
                of the whole stream is zero-padded.

        Yields:
            one probability per window, in order.
        """
        state = np.zeros((2, 1, 128), dtype=np.float32)
        rate = np.array(VAD_SAMPLE_RATE, dtype=np.int64)
        context = np.zeros(_CONTEXT, dtype=np.float32)
        rest = np.zeros(0, dtype=np.float32)  # samples of an unfinished window
        for block in blocks:
            samples = np.concatenate([rest, np.asarray(block, dtype=np.float32)])
            whole = len(samples) // VAD_WINDOW * VAD_WINDOW
            for start in range(0, whole, VAD_WINDOW):
                window = samples[start : start + VAD_WINDOW]
                frame = np.concatenate([context, window])[None, :]  # (1, context + window)
                output, state = self.session.run(None, {"input": frame, "state": state, "sr": rate})
                context = window[-_CONTEXT:]
                yield float(output[0, 0])
            rest = samples[whole:]
        if len(rest):
            window = np.pad(rest, (0, VAD_WINDOW - len(rest)))
            frame = np.concatenate([context, window])[None, :]
            yield float(self.session.run(None, {"input": frame, "state": state, "sr": rate})[0][0, 0])

    # ---------------------------------------------------------------------------------------- the regions

    def regions_from_probabilities(self, probabilities: Iterable[float], length: int) -> list[SpeechRegion]:
        """Speech regions from window probabilities (silero's ``get_speech_timestamps_from_probs``, no maximum
        region length).

        Args:
            probabilities: one per 512-sample window, in order (consumed as they come: a generator is fine).
            length: samples of the recording at 16 kHz (the end of a region still open at the end).
        """
        raw: list[tuple[int, int]] = []
        start: int | None = None  # the open region's first sample
        silence_from = 0  # where the open region's current silence began (0: none)
        for index, probability in enumerate(probabilities):
            here = index * VAD_WINDOW
            if probability >= self.threshold:
                silence_from = 0
                if start is None:
                    start = here
                    continue
            if start is not None and probability < self.neg_threshold:
                silence_from = silence_from or here
                if here - silence_from >= self.min_silence:
                    if silence_from - start > self.min_speech:
                        raw.append((start, silence_from))
                    start, silence_from = None, 0
        if start is not None and length - start > self.min_speech:
            raw.append((start, length))
        return self._padded(raw, length)

    def _padded(self, raw: list[tuple[int, int]], length: int) -> list[SpeechRegion]:
        """Widen regions by the pad on each side, or to halfway between two that are closer than two pads."""
        starts, ends = [s for s, _ in raw], [e for _, e in raw]
        for i in range(len(raw)):
            if i == 0:
                starts[i] = int(max(0, starts[i] - self.pad))
            if i == len(raw) - 1:
                ends[i] = int(min(length, ends[i] + self.pad))
                continue
            gap = starts[i + 1] - ends[i]
            if gap < 2 * self.pad:
                ends[i] += gap // 2
                starts[i + 1] = int(max(0, starts[i + 1] - gap // 2))
            else:
                ends[i] = int(min(length, ends[i] + self.pad))
                starts[i + 1] = int(max(0, starts[i + 1] - self.pad))
        return [SpeechRegion(s, e) for s, e in zip(starts, ends)]

    def regions(self, waveform: np.ndarray) -> list[SpeechRegion]:
        """Speech regions of a waveform (samples,) float at 16 kHz, in memory."""
        waveform = np.asarray(waveform, dtype=np.float32)
        return self.regions_from_probabilities(self.probabilities([waveform]), len(waveform))

    def file_regions(self, path: str | os.PathLike) -> list[SpeechRegion]:
        """Speech regions of an audio file (any rate, mixed down to mono), read :data:`BLOCK_WINDOWS` windows at
        a time: memory does not grow with the file's length.

        Raises:
            serkit.core.errors.AudioError subclasses naming the file that cannot be read.
        """
        read, total = audio_io.block_reader(path, VAD_SAMPLE_RATE)  # (read(start, stop), samples at 16 kHz)
        block = BLOCK_WINDOWS * VAD_WINDOW
        blocks = (read(start, min(start + block, total)) for start in range(0, total, block))
        return self.regions_from_probabilities(self.probabilities(blocks), total)
