"""``HFAudioRecognizer``: a Hugging Face audio-classification model as a back-end of ``serkit predict`` and
``serkit serve``.

>>> rec = HFAudioRecognizer("path/to/save_pretrained_folder")        # or a hub id: owner/name    # doctest: +SKIP
>>> rec.predict(["a.wav"]), rec.classes_                                                          # doctest: +SKIP

Any ``AutoModelForAudioClassification`` checkpoint (wav2vec2, HuBERT, WavLM, ... with a sequence-classification
head) is loaded with its ``AutoFeatureExtractor``; the labels are ``config.id2label`` in index order. Files are read
and resampled to the feature extractor's ``sampling_rate`` by :mod:`serkit.audio.io`, block by block: an input
longer than ``window_seconds`` is classified in consecutive windows of that length (the last one kept if it is at
least a second long, or the only one), and its probabilities are the softmax of the mean of its windows' logits, as
serkit's segment models average their chunks. Windows share model batches of ``batch_size`` when the model takes an
attention mask (padding is then exact); group-norm front ends (wav2vec2-base) normalise over the padded axis, so
their windows run one at a time (:func:`serkit.backbones.hf.uses_attention_mask`). The energy gate marks silent
inputs ``no_speech`` as the serkit recognisers do.

The interface is :class:`serkit.inference.Recognizer`'s, audio only: ``classes_``, ``sample_rate``,
``predict``, ``predict_proba``, ``analyse``, ``analyse_each``, ``analyse_sources``, ``labels_from``,
``predict_waveform`` (shared with the ONNX runtime: :class:`serkit.runtime.recognizer.AudioFileRecognizer`),
``timeline``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

from serkit.audio import io as audio_io
from serkit.audio.speech import SPEECH_LEVEL_DBFS, SPEECH_MIN_FRACTION, speech_activity
from serkit.backbones.hf import import_transformers, resolve_model_path, uses_attention_mask
from serkit.core.errors import AudioError, ModelFileError
from serkit.inference.device import check_device
from serkit.runtime.recognizer import AudioFileRecognizer
from serkit.runtime.recordings import Source, TimelineEntry, file_timeline

__all__ = ["HFAudioRecognizer"]

_MIN_TAIL_SECONDS = 1.0  # a last window shorter than this is dropped (unless it is the only one)


def _receptive_field(config) -> int:
    """Fewest samples that give one frame of the convolutional front end (1 without one)."""
    samples = 1
    for kernel, stride in reversed(
        list(zip(getattr(config, "conv_kernel", ()), getattr(config, "conv_stride", ())))
    ):
        samples = (samples - 1) * int(stride) + int(kernel)
    return samples


class HFAudioRecognizer(AudioFileRecognizer):
    """A transformers audio-classification model on audio files: class probabilities and labels out.

    Args:
        name_or_path: a ``save_pretrained`` folder or a hub id (:func:`serkit.backbones.hf.resolve_model_path`).
        batch_size: windows per model call (when padding is exact, see the module docstring).
        device: ``cpu`` or ``cuda`` (:func:`serkit.inference.device.check_device`).
        window_seconds: longest piece of audio the model sees at once.

    Attributes:
        classes_: ``config.id2label`` in index order, the columns of :meth:`predict_proba`.
        speech_level_dbfs, speech_min_fraction: the silence gate; ``speech_level_dbfs = None`` turns it off.

    Raises:
        ModelFileError: a folder or id that holds no audio-classification model (named), or transformers missing.
    """

    needs_text = False
    reads_audio = True
    #: Speech regions (``serkit predict --segments``) of any length are classified as they are.
    minimum_samples = 0

    def __init__(
        self,
        name_or_path: str | os.PathLike,
        *,
        batch_size: int = 8,
        device: str = "cpu",
        window_seconds: float = 30.0,
    ) -> None:
        self.device = check_device(device)
        self.source = str(name_or_path)
        try:
            transformers = import_transformers()
            where = resolve_model_path(self.source)
            bars = transformers.utils.logging.is_progress_bar_enabled()
            transformers.utils.logging.disable_progress_bar()  # no "Loading weights" bar in predict's output
            try:
                self.feature_extractor = transformers.AutoFeatureExtractor.from_pretrained(where)
                self.model = transformers.AutoModelForAudioClassification.from_pretrained(where)
            finally:
                if bars:
                    transformers.utils.logging.enable_progress_bar()
        except (ImportError, OSError, ValueError, KeyError) as exc:
            raise ModelFileError(
                f"{self.source}: cannot load a Hugging Face audio-classification model with its feature extractor "
                f"({type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}); give a "
                "save_pretrained folder (config.json, preprocessor_config.json, weights) of an "
                "AutoModelForAudioClassification model, or its hub id."
            ) from None
        self.model.eval().to(self.device)
        config = self.model.config
        self.classes_ = [str(config.id2label[i]) for i in range(config.num_labels)]
        self.sample_rate = int(self.feature_extractor.sampling_rate)
        self.batch_size = batch_size
        self.window = round(window_seconds * self.sample_rate)
        self.padded_batches = uses_attention_mask(self.model, self.feature_extractor)
        self.min_samples = _receptive_field(config)
        self.speech_level_dbfs: float | None = SPEECH_LEVEL_DBFS
        self.speech_min_fraction = SPEECH_MIN_FRACTION

    # ------------------------------------------------------------------------------------------ the engine

    def _logits(self, waveforms: list[np.ndarray]) -> np.ndarray:
        """waveforms, each (samples,) float32 -> logits (len(waveforms), num_classes) float64."""
        waveforms = [np.pad(w, (0, max(0, self.min_samples - len(w)))) for w in waveforms]
        groups = [waveforms] if self.padded_batches else [[w] for w in waveforms]
        rows = []
        with torch.inference_mode():
            for group in groups:
                inputs = self.feature_extractor(
                    group,
                    sampling_rate=self.sample_rate,
                    return_tensors="pt",
                    padding=True,
                    return_attention_mask=self.padded_batches,
                )
                inputs = {key: value.to(self.device) for key, value in inputs.items()}
                rows.append(
                    self.model(**inputs).logits.float().cpu().double().numpy()
                )  # (batch, num_classes)
        return np.concatenate(rows)

    def _windows(self, length: int) -> list[tuple[int, int]]:
        starts = range(0, max(length, 1), self.window)
        spans = [(start, min(start + self.window, length)) for start in starts]
        tail = spans[-1][1] - spans[-1][0]
        return spans[:-1] if len(spans) > 1 and tail < _MIN_TAIL_SECONDS * self.sample_rate else spans

    def _analyse(
        self, sources: Iterable[Source | None], *, failures: dict[int, Exception] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities (n, num_classes) and speech flags (n,) of n sources, read window by window.

        An input that cannot be read raises, or with ``failures`` is recorded there by index (its row NaN, not
        speech), as the rows of ``None`` sources (failed before).
        """
        sources = list(sources)
        sums = np.zeros((len(sources), len(self.classes_)))
        counts = np.zeros(len(sources))
        frames = np.zeros((len(sources), 2), dtype=np.int64)  # active, total
        pending: list[tuple[int, np.ndarray]] = []

        def flush() -> None:
            owners = [index for index, _ in pending]
            np.add.at(sums, owners, self._logits([waveform for _, waveform in pending]))
            np.add.at(counts, owners, 1)
            pending.clear()

        failed = np.asarray([source is None for source in sources], dtype=bool)
        for index, source in enumerate(sources):
            if source is None:
                continue
            name, read, length = source
            try:
                if length == 0:
                    raise ValueError(f"{name}: no samples to classify.")
                for start, stop in self._windows(length):
                    waveform = np.asarray(read(start, stop), dtype=np.float32)
                    frames[index] += self._speech_frames(waveform)
                    pending.append((index, waveform))
                    if len(pending) >= self.batch_size:
                        flush()
            except (AudioError, ValueError) as exc:
                if failures is None:
                    raise
                failures[index], failed[index] = exc, True
                pending[:] = [(owner, w) for owner, w in pending if owner != index]
        if pending:
            flush()
        counts[failed] = np.nan
        means = sums / counts[:, None]  # (n, num_classes) mean logits
        exp = np.exp(means - means.max(axis=1, keepdims=True))
        probabilities = (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)
        speech = [
            not bad and total > 0 and active >= self.speech_min_fraction * total
            for bad, (active, total) in zip(failed, frames)
        ]
        return probabilities, np.asarray(speech, dtype=bool)

    def _speech_frames(self, waveform: np.ndarray) -> tuple[int, int]:
        if self.speech_level_dbfs is None:
            return 1, 1
        return speech_activity(waveform, self.sample_rate, level_dbfs=self.speech_level_dbfs)

    def _file_source(self, path: Path) -> Source:
        read, length = audio_io.block_reader(path, self.sample_rate)
        return str(path), read, length

    # -------------------------------------------------------------------------------------------- public API

    def analyse_each(
        self, files: Sequence[str | os.PathLike], texts: Sequence[str] | None = None
    ) -> tuple[np.ndarray, np.ndarray, dict[int, Exception]]:
        """Probabilities (num_files, num_classes), speech flags (num_files,) and ``{index: error}`` of files
        that failed (their rows NaN and not speech); ``texts`` is ignored (audio-only models)."""
        failures: dict[int, Exception] = {}
        sources: list[Source | None] = []
        for index, path in enumerate(files):
            try:
                sources.append(self._file_source(Path(path)))
            except (AudioError, ValueError) as exc:
                failures[index] = exc
                sources.append(None)
        probabilities, speech = self._analyse(sources, failures=failures)
        return probabilities, speech, dict(sorted(failures.items()))

    def analyse_sources(self, sources: Iterable[Source]) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`analyse` of sources (name, read(start, stop), samples) at :attr:`sample_rate`, e.g. regions."""
        return self._analyse(sources)

    def _waveform_probabilities(self, samples: np.ndarray) -> np.ndarray:
        return self._analyse([("waveform", lambda start, stop: samples[start:stop], len(samples))])[0][0]

    def timeline(
        self, path: str | os.PathLike, *, window: float = 3.0, hop: float = 1.0
    ) -> Iterator[TimelineEntry]:
        """Emotion over time, one entry per ``window`` seconds every ``hop`` seconds, read one window at a time
        (:func:`serkit.runtime.recordings.file_timeline`), as :meth:`serkit.inference.Recognizer.timeline`."""
        return file_timeline(
            path,
            self.sample_rate,
            lambda waveform: self._analyse([("window", lambda a, b: waveform[a:b], len(waveform))]),
            self.labels_from,
            window=window,
            hop=hop,
        )
