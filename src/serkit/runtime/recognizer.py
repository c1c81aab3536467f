"""``OnnxRecognizer``: an exported model (``serkit export ... --format onnx``) applied to audio files, without torch.

>>> rec = OnnxRecognizer("model.onnx")                                   # doctest: +SKIP
>>> rec.predict(["a.wav", "b.flac"])                                     # doctest: +SKIP
['angry', 'neutral']
>>> rec.predict_proba(["a.wav"]).shape                                   # doctest: +SKIP
(1, 4)

It does what :class:`serkit.inference.Recognizer` does for a segment model, reading everything it needs from the
file's metadata (:class:`~serkit.runtime.metadata.ModelCard`): each file is read with soundfile, mixed down to
mono and resampled to the model's rate (:func:`serkit.audio.io.load`), its first ``max_samples`` kept, cut into
windows of ``window`` samples every ``hop`` (complete windows only; a shorter file is padded, tiled or dropped as
the model was trained), the windows of several files run through onnxruntime together in batches of
``batch_size``, and a file's probabilities are the softmax of the mean of its windows' logits. A model of emotion
dimensions (``task`` in the metadata, :mod:`serkit.runtime.task`) has one more output column per dimension after
the logits: a file's values are the mean of its windows' values, not softmaxed (:meth:`OnnxRecognizer.
predict_dimensions`). The graph computes
the features and their normalisation itself. The energy gate (:mod:`serkit.audio.speech`) marks silent files
:data:`~serkit.audio.speech.NO_SPEECH` as the torch recogniser does.

This module imports numpy, onnxruntime and serkit's audio and core layers only: never torch (a contract in
``pyproject.toml`` and a test with torch blocked check it). Files are read whole (the torch recogniser reads files
longer than a minute block by block; the windows, and so the result, are the same); a timeline
(:meth:`OnnxRecognizer.timeline`) reads one window at a time, as the torch recogniser's does.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from serkit.audio import io as audio_io
from serkit.audio.speech import NO_SPEECH, SPEECH_LEVEL_DBFS, SPEECH_MIN_FRACTION, speech_activity
from serkit.core.errors import AudioError, ModelFileError, NoAudioFilesError
from serkit.core.onnx_session import cpu_session
from serkit.runtime.metadata import ModelCard
from serkit.runtime.recordings import TimelineEntry, file_timeline
from serkit.runtime.task import DimensionsMixin

__all__ = ["AudioFileRecognizer", "OnnxRecognizer", "segment_windows"]


def segment_windows(waveform: np.ndarray, *, window: int, hop: int, short_policy: str) -> np.ndarray:
    """waveform (samples,) -> windows (num_segments, window) float32, as :func:`serkit.audio.transforms.segment`
    cuts them: complete windows every ``hop`` samples, the tail dropped; a shorter input is zero-padded to one
    window (``pad``), repeated until it covers one (``tile``) or gives no window (``drop``)."""
    length = len(waveform)
    if length < window:
        if short_policy == "drop":
            return np.zeros((0, window), dtype=np.float32)
        if short_policy == "tile":
            waveform = np.tile(waveform, math.ceil(window / length))
        else:  # pad
            waveform = np.pad(waveform, (0, window - length))
    windows = np.lib.stride_tricks.sliding_window_view(waveform, window)[::hop]
    return np.ascontiguousarray(windows, dtype=np.float32)


class AudioFileRecognizer:
    """The public methods of a recogniser built on ``analyse_each(files)`` and ``_waveform_probabilities(samples)``:
    :class:`OnnxRecognizer` and the Hugging Face back-end (:class:`serkit.inference.hf_audio.HFAudioRecognizer`).

    Subclasses set ``classes_`` and ``sample_rate``, and ``speech_level_dbfs``/``speech_min_fraction`` for the gate.
    """

    classes_: list[str]
    sample_rate: int

    def analyse_each(
        self, files: Sequence[str | os.PathLike], texts: Sequence[str] | None = None
    ) -> tuple[np.ndarray, np.ndarray, dict[int, Exception]]:
        raise NotImplementedError

    def _waveform_probabilities(self, samples: np.ndarray) -> np.ndarray:
        """Probabilities (num_classes,) of a mono waveform (samples,) float32 at :attr:`sample_rate`."""
        raise NotImplementedError

    def analyse(
        self, paths: str | os.PathLike | Iterable[str | os.PathLike]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Class probabilities (num_files, num_classes) and speech flags (num_files,) of audio files or folders.

        Raises:
            serkit.core.errors.AudioError subclasses naming the file that cannot be read; NoAudioFilesError;
            ValueError for a file the model cannot classify (e.g. shorter than one window of a model that drops
            those).
        """
        files = audio_io.expand_audio_paths(paths)
        if not files:
            raise NoAudioFilesError(
                f"no audio files given (folders are searched for {', '.join(audio_io.AUDIO_EXTENSIONS)})."
            )
        probabilities, speech, failures = self.analyse_each(files)
        if failures:
            raise next(iter(failures.values()))
        return probabilities, speech

    def predict_proba(self, paths: str | os.PathLike | Iterable[str | os.PathLike]) -> np.ndarray:
        """Class probabilities (num_files, num_classes), columns ordered like ``classes_``; silence included."""
        return self.analyse(paths)[0]

    def predict(self, paths: str | os.PathLike | Iterable[str | os.PathLike]) -> list[str]:
        """The most probable label of each file, or :data:`~serkit.audio.speech.NO_SPEECH` where the gate finds
        no speech."""
        return self.labels_from(*self.analyse(paths))

    def labels_from(self, probabilities: np.ndarray, speech: np.ndarray) -> list[str]:
        """Labels of rows of :meth:`analyse`: the most probable class, or NO_SPEECH where speech is False (``""``
        with speech for a model without classes: a regression model's timeline)."""
        return [
            (self.classes_[int(p.argmax())] if self.classes_ else "") if s else NO_SPEECH
            for p, s in zip(probabilities, speech)
        ]

    def predict_waveform(self, waveform: np.ndarray, *, sample_rate: int | None = None) -> np.ndarray:
        """Probabilities (num_classes,) of one mono waveform (samples,) float in [-1, 1]; ``sample_rate``: its
        rate in Hz, resampled to the model's (None: already at :attr:`sample_rate`)."""
        samples = np.asarray(waveform, dtype=np.float32)
        if samples.ndim != 1 or samples.size == 0:
            raise ValueError(
                f"give one non-empty mono waveform of shape (samples,), got shape {samples.shape}."
            )
        if sample_rate is not None and sample_rate != self.sample_rate:
            samples = audio_io.resample(samples, int(sample_rate), self.sample_rate)
        return self._waveform_probabilities(samples)


class OnnxRecognizer(DimensionsMixin, AudioFileRecognizer):
    """An exported serkit model on onnxruntime: files in, class probabilities and labels (or dimension values) out.

    Args:
        path: the ``.onnx`` file written by ``serkit export``.
        batch_size: windows per onnxruntime call.
        threads: onnxruntime's intra-op threads; 0 = its default (all cores).

    Attributes:
        classes_: label names, in the order of :meth:`predict_proba`'s columns (``[]`` for a regression model).
        dimensions_, task: the dimension names and what the outputs are (:class:`~serkit.runtime.task.ModelTask`).
        card: the metadata (:class:`~serkit.runtime.metadata.ModelCard`): rate, windows, normalisation, metrics.
        speech_level_dbfs, speech_min_fraction: the silence gate; ``speech_level_dbfs = None`` turns it off.

    Raises:
        ModelFileError: a missing file, one onnxruntime cannot load, or one without serkit's metadata (named).
    """

    #: The interface :func:`serkit.inference.export.write_predictions` reads: audio-only, never text.
    needs_text = False
    reads_audio = True

    def __init__(self, path: str | os.PathLike, *, batch_size: int = 64, threads: int = 0) -> None:
        self.path = Path(path)
        try:
            import onnxruntime  # noqa: F401  (here only to say what to install)
        except ImportError:
            raise ModelFileError(
                f'{self.path}: running an ONNX model needs onnxruntime: pip install "serkit[runtime]".'
            ) from None
        if not self.path.is_file():
            raise ModelFileError(
                f"{self.path}: no such model file; give the .onnx that `serkit export` wrote."
            )
        self.session = cpu_session(
            self.path, threads=threads, fix="the file is damaged or not an ONNX model: export it again."
        )
        props = self.session.get_modelmeta().custom_metadata_map
        try:
            self.card = ModelCard.from_props(props, str(self.path))
            self.task = self.card.model_task(str(self.path))
        except ValueError as exc:
            raise ModelFileError(str(exc)) from None
        self.input_name = self.session.get_inputs()[0].name
        self.classes_ = list(self.task.classes)
        self.batch_size = batch_size
        self.speech_level_dbfs: float | None = SPEECH_LEVEL_DBFS
        self.speech_min_fraction = SPEECH_MIN_FRACTION

    @property
    def sample_rate(self) -> int:
        """The rate (Hz) the model's windows are taken at."""
        return self.card.sample_rate

    @property
    def metrics(self) -> dict:
        """The exported run's test metrics (its ``metrics.json``), ``{}`` if it had none."""
        return self.card.metrics

    # ------------------------------------------------------------------------------------------ the engine

    def _load(self, path: Path) -> np.ndarray:
        """The samples of ``path`` the model uses: mono at its rate, at most ``max_samples``."""
        waveform = audio_io.load(path, self.sample_rate)
        return waveform if self.card.max_samples is None else waveform[: self.card.max_samples]

    def _windows(self, waveform: np.ndarray, name: str) -> np.ndarray:
        card = self.card
        windows = segment_windows(waveform, window=card.window, hop=card.hop, short_policy=card.short_policy)
        if len(windows) == 0:
            raise ValueError(
                f"{name}: shorter than one {card.window / card.sample_rate:g} s window and the model drops such "
                "inputs (input.short_policy=drop), so it has nothing to classify."
            )
        return windows

    def _logits(self, windows: np.ndarray) -> np.ndarray:
        """windows (n, window) float32 -> logits (n, num_classes) float64, ``batch_size`` windows per run."""
        parts = [
            self._run(windows[start : start + self.batch_size])
            for start in range(0, len(windows), self.batch_size)
        ]
        return np.concatenate(parts)

    def _run(self, windows: np.ndarray) -> np.ndarray:
        """windows (n, window) float32 -> logits (n, num_classes) float64 in one onnxruntime run."""
        return self.session.run(None, {self.input_name: windows})[0].astype(np.float64)

    def _probabilities(self, window_lists: Sequence[np.ndarray]) -> np.ndarray:
        """Per input its windows (n_i, window) -> probabilities (inputs, num_classes) (:meth:`_outputs`)."""
        return self._outputs(window_lists)[0]

    def _outputs(self, window_lists: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Per input its windows (n_i, window) -> probabilities (inputs, num_classes), the softmax of the class
        columns of the mean outputs, and dimension values (inputs, D), the mean value columns."""
        if self.card.normalize == "utterance":  # the graph standardises over its batch: one input per run
            logits = np.concatenate([self._run(windows) for windows in window_lists])
        else:
            logits = self._logits(np.concatenate(window_lists))
        bounds = np.cumsum([0, *(len(w) for w in window_lists)])
        outputs = np.stack([logits[a:b].mean(axis=0) for a, b in zip(bounds[:-1], bounds[1:])])
        means, values = self.task.split(outputs)
        exp = np.exp(means - means.max(axis=1, keepdims=True, initial=-np.inf))
        return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32), values.astype(np.float32)

    def _is_speech(self, waveform: np.ndarray) -> bool:
        if self.speech_level_dbfs is None:
            return True
        active, total = speech_activity(waveform, self.sample_rate, level_dbfs=self.speech_level_dbfs)
        return total > 0 and active >= self.speech_min_fraction * total

    # -------------------------------------------------------------------------------------------- public API

    def analyse_each(
        self, files: Sequence[str | os.PathLike], texts: Sequence[str] | None = None
    ) -> tuple[np.ndarray, np.ndarray, dict[int, Exception]]:
        """Probabilities (num_files, num_classes) and speech flags (num_files,) of audio files, in shared batches.

        A file that cannot be read or cut (AudioError, ValueError) spares the others: its row is NaN and not
        speech, and its error is returned in ``{index: error}``. ``texts`` is accepted for the interface of
        :class:`serkit.inference.Recognizer` and ignored (exported models take audio only).
        """
        self.task.require_classes("analyse_each")
        probabilities, _, speech, failures = self.analyse_each_outputs(files)
        return probabilities, speech, failures

    def analyse_outputs(self, paths, texts=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Probabilities (num_files, C), dimension values (num_files, D) on [0, 1] and speech flags of audio files
        or folders (C = 0 for regression, D = 0 for a classifier); errors as :meth:`analyse`."""
        files = audio_io.expand_audio_paths(paths)
        if not files:
            raise NoAudioFilesError(
                f"no audio files given (folders are searched for {', '.join(audio_io.AUDIO_EXTENSIONS)})."
            )
        probabilities, values, speech, failures = self.analyse_each_outputs(files)
        if failures:
            raise next(iter(failures.values()))
        return probabilities, values, speech

    def analyse_each_outputs(
        self, files: Sequence[str | os.PathLike], texts: Sequence[str] | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[int, Exception]]:
        """:meth:`analyse_each` of any model: probabilities (num_files, C), dimension values (num_files, D) on
        [0, 1] (NaN rows for failed files), speech flags and ``{index: error}``."""
        probabilities = np.full((len(files), len(self.classes_)), np.nan, dtype=np.float32)
        values = np.full((len(files), len(self.dimensions_)), np.nan, dtype=np.float32)
        speech = np.zeros(len(files), dtype=bool)
        failures: dict[int, Exception] = {}
        done: list[int] = []
        window_lists: list[np.ndarray] = []
        for index, path in enumerate(files):
            try:
                waveform = self._load(Path(path))
                window_lists.append(self._windows(waveform, str(path)))
            except (AudioError, ValueError) as exc:
                failures[index] = exc
                continue
            speech[index] = self._is_speech(waveform)
            done.append(index)
        if done:
            probabilities[done], values[done] = self._outputs(window_lists)
        return probabilities, values, speech, failures

    def analyse_sources(
        self, sources: Iterable[tuple[str, Callable[[int, int], np.ndarray], int]]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities (n, num_classes) and speech flags (n,) of n readable inputs ``(name, read(start, stop),
        samples)`` at :attr:`sample_rate`, such as the speech regions of a file (:mod:`serkit.inference.segments`).

        Each input is read whole and cut to ``max_samples``; the windows of consecutive inputs share onnxruntime
        batches, and at most about ``batch_size`` windows are held at once, however many inputs there are.

        Raises:
            AudioError, ValueError: an input that cannot be read or cut into windows (its name in the message).
        """
        probabilities, _, speech = self.analyse_sources_outputs(sources)
        return probabilities, speech

    def analyse_sources_outputs(
        self, sources: Iterable[tuple[str, Callable[[int, int], np.ndarray], int]]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`analyse_sources` with the dimension values (n, D) on [0, 1]: (probabilities, values, speech)."""
        rows: list[tuple[np.ndarray, np.ndarray]] = []
        speech: list[bool] = []
        pending: list[np.ndarray] = []
        for name, read, length in sources:
            limit = length if self.card.max_samples is None else min(length, self.card.max_samples)
            waveform = read(0, limit)
            pending.append(self._windows(waveform, name))
            speech.append(self._is_speech(waveform))
            if sum(len(windows) for windows in pending) >= self.batch_size:
                rows.append(self._outputs(pending))
                pending.clear()
        if pending:
            rows.append(self._outputs(pending))
        if not rows:
            rows = [(np.zeros((0, len(self.classes_))), np.zeros((0, len(self.dimensions_))))]
        probabilities, values = (np.concatenate(part).astype(np.float32) for part in zip(*rows))
        return probabilities, values, np.asarray(speech, dtype=bool)

    def _waveform_probabilities(self, samples: np.ndarray) -> np.ndarray:
        self.task.require_classes("predict_waveform")
        if self.card.max_samples is not None:
            samples = samples[: self.card.max_samples]
        return self._probabilities([self._windows(samples, "waveform")])[0]

    def _window_analysis(self, waveform: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One timeline window (samples,) -> probabilities (1, num_classes), speech flag (1,), values (1, D)."""
        used = waveform if self.card.max_samples is None else waveform[: self.card.max_samples]
        probabilities, values = self._outputs([self._windows(used, "waveform")])
        return probabilities, np.array([self._is_speech(waveform)]), values

    def timeline(
        self, path: str | os.PathLike, *, window: float = 3.0, hop: float = 1.0
    ) -> Iterator[TimelineEntry]:
        """Emotion over time, one entry per ``window`` seconds every ``hop`` seconds, read one window at a time
        (:func:`serkit.runtime.recordings.file_timeline`): the windows and gate of
        :meth:`serkit.inference.Recognizer.timeline`."""
        return file_timeline(
            path, self.sample_rate, self._window_analysis, self.labels_from, window=window, hop=hop
        )
