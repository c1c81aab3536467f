"""``Recognizer``: a trained checkpoint (or a whole run folder) applied to new audio, sklearn-style.

>>> rec = Recognizer.from_checkpoint("runs/x/runs/fold0/seed0/best.pt")        # doctest: +SKIP
>>> rec.predict(["a.wav", "b.flac"])                                           # doctest: +SKIP
['angry', 'neutral']
>>> rec.predict("quiet_room.wav")                                              # doctest: +SKIP
['no_speech']
>>> rec.predict_proba(["a.wav"]).shape                                         # doctest: +SKIP
(1, 4)
>>> Recognizer.from_checkpoint("runs/x")   # every fold x seed best.pt, probabilities averaged   # doctest: +SKIP
>>> Recognizer.from_checkpoint("runs/dims").predict_dimensions(["a.wav"], scale="corpus")  # doctest: +SKIP
array([[3.1, 2.4]], dtype=float32)

A model trained with ``task: regression`` or ``multitask`` also predicts emotion dimensions
(:mod:`serkit.runtime.task`): :meth:`~serkit.runtime.task.DimensionsMixin.predict_dimensions` gives their values on
[0, 1] or on the corpus's scale; a regression model has no classes, and asking it for probabilities or labels
raises a ValueError naming the method to use.

The recogniser turns audio into model inputs with the feature and input configs stored in the checkpoint, so new
files go through exactly the steps the model was trained on.

Loading checks the checkpoint before trusting it: metadata against weights (:func:`load_model_checkpoint`), then
a dry run of the rebuilt pipeline and model on a second of quiet generated noise, so a checkpoint whose feature
config was edited fails at load time, naming the file, instead of predicting nonsense.

Memory stays bounded whatever the length of a recording: files longer than :data:`STREAM_SECONDS` are read block
by block (:mod:`serkit.inference.streaming`; in ``input.mode: segments`` the result equals reading the whole file,
see :data:`STREAM_SECONDS` for the other modes), and :meth:`Recognizer.timeline` reads one window at a time.

Silence is not an emotion: an energy gate (:func:`speech_activity`) marks inputs without enough loud-enough
25 ms frames, and :meth:`Recognizer.predict` returns :data:`NO_SPEECH` for them instead of a confident emotion.
The gate finds silence and near-silence only; music or loud noise count as "speech" for it.

The recogniser sets no global torch state; the entry point that owns the process calls
:func:`serkit.inference.configure_torch` (``serkit predict`` does).

Around this module: :mod:`~serkit.inference.inputs`, :mod:`~serkit.inference.speech` (the gate), ``streaming``
(block plans), ``members`` (checkpoints, run folders), ``pretrained`` (``from_pretrained``: model folders, the hub).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

from serkit.audio import io as audio_io
from serkit.core.errors import AudioError, NoAudioFilesError
from serkit.features.pipeline import InputPipeline, Normalizer
from serkit.features.text import TextInput
from serkit.inference.inputs import expand_audio_paths
from serkit.inference.members import Member, dry_run, find_run_checkpoints, load_members
from serkit.inference.pretrained import PretrainedMixin
from serkit.inference.speech import (
    NO_SPEECH,
    SPEECH_FRAME_SECONDS,
    SPEECH_LEVEL_DBFS,
    SPEECH_MIN_FRACTION,
    speech_activity,
)
from serkit.inference.streaming import (
    STREAM_SECONDS,
    Source,
    TimelineEntry,
    file_source,
    file_timeline,
    plan_blocks,
)
from serkit.inference.waveforms import WaveformMixin
from serkit.runtime.task import DimensionsMixin, ModelTask
from serkit.training.data import ChunkSet, utterance_logits

__all__ = [
    "NO_SPEECH",
    "SPEECH_FRAME_SECONDS",
    "SPEECH_LEVEL_DBFS",
    "SPEECH_MIN_FRACTION",
    "STREAM_SECONDS",
    "Recognizer",
    "TimelineEntry",
    "expand_audio_paths",
    "find_run_checkpoints",
    "speech_activity",
]

logger = logging.getLogger(__name__)


class Recognizer(DimensionsMixin, WaveformMixin, PretrainedMixin):
    """A trained emotion recogniser: one model, or an ensemble of several averaged.

    Attributes:
        classes_: label names, in the order of :meth:`predict_proba`'s columns (``[]`` for a regression model).
        dimensions_: dimension names, in the order of :meth:`predict_dimensions`'s columns (``[]`` for a classifier).
        task: what the outputs are (:class:`~serkit.runtime.task.ModelTask`: classes, dimensions, their scale).
        members: the models (one per checkpoint); their probabilities (and dimension values) are averaged.
        pipeline: audio -> chunks, shared by every member.
        speech_level_dbfs, speech_min_fraction: the silence gate (:func:`speech_activity`); set
            ``speech_level_dbfs = None`` to treat every input as speech.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        pipeline: InputPipeline,
        label_names: Sequence[str],
        standardizer: Normalizer,
        *,
        batch_size: int = 64,
        text_input: TextInput | None = None,
        speech_level_dbfs: float | None = SPEECH_LEVEL_DBFS,
        speech_min_fraction: float = SPEECH_MIN_FRACTION,
        task: ModelTask | None = None,
    ) -> None:
        self.members = [Member(model.eval(), standardizer, text_input)]
        self.pipeline = pipeline
        self.task = task or ModelTask("classification", tuple(label_names))
        self.classes_ = list(self.task.classes)
        self.batch_size = batch_size
        self.speech_level_dbfs = speech_level_dbfs
        self.speech_min_fraction = speech_min_fraction

    # the first member, for code written when a recogniser had one model
    model = property(lambda self: self.members[0].model)
    standardizer = property(lambda self: self.members[0].standardizer)
    text_input = property(lambda self: self.members[0].text_input)

    @property
    def needs_text(self) -> bool:
        """True for fusion models: every prediction needs the transcript of its audio."""
        return self.text_input is not None

    @property
    def reads_audio(self) -> bool:
        """False for text-only models (feature ``none``): their inputs' audio is never read."""
        return self.pipeline.feature.reads_audio

    @property
    def sample_rate(self) -> int:
        """The rate (Hz) the model's inputs are computed at."""
        return self.pipeline.inputs.sample_rate

    # ----------------------------------------------------------------------------------------------- loading

    @classmethod
    def from_checkpoint(
        cls, path: str | os.PathLike, *, batch_size: int = 64, precision: str | None = None
    ) -> Recognizer:
        """Rebuild model and input pipeline from a ``best.pt`` written by ``serkit train``, or from a run folder.

        A folder is :meth:`from_run`: every finished fold x seed model, probabilities averaged. ``precision``
        (``auto``, ``no``, ``bf16``, ``fp16``): the models' autocast; None = the one each was trained in
        (``auto``: bf16 where this machine has it; :func:`~serkit.inference.members.load_members`).

        Raises:
            CheckpointError: unreadable or pickled file, metadata that does not match the weights, or a
                feature/input config the model cannot take (found by a dry run on generated noise); the message
                names the file.
        """
        path = Path(path)
        if path.is_dir():
            return cls.from_run(path, batch_size=batch_size, precision=precision)
        return cls._from_files([path], batch_size=batch_size, precision=precision)

    @classmethod
    def from_run(
        cls, run_dir: str | os.PathLike, *, batch_size: int = 64, precision: str | None = None
    ) -> Recognizer:
        """An ensemble of every finished (fold, seed) model of a run folder (:func:`find_run_checkpoints`).

        The members' class probabilities are averaged. Each member keeps its own standardisation statistics and
        text vocabulary (fitted on its fold's training set); all must share ``label_names`` and the feature and
        input configs, so the audio is turned into chunks once for all of them.

        Raises:
            CheckpointError: no finished run, a member that fails its checks, or two members that differ (naming
                both files).
        """
        return cls._from_files(find_run_checkpoints(run_dir), batch_size=batch_size, precision=precision)

    @classmethod
    def _from_files(cls, paths: list[Path], *, batch_size: int, precision: str | None) -> Recognizer:
        pipeline, task, members = load_members(paths, precision=precision)
        recognizer = cls(
            members[0].model,
            pipeline,
            task.classes,
            members[0].standardizer,
            batch_size=batch_size,
            text_input=members[0].text_input,
            task=task,
        )
        recognizer.members = members
        for member in members:
            dry_run(recognizer, member)
        return recognizer

    # ------------------------------------------------------------------------------------------ the engine

    def _chunks(self, waveform: np.ndarray) -> np.ndarray:
        """waveform (samples,) -> chunks (num_chunks, frames, *feature_shape), as the pipeline makes them."""
        if not self.reads_audio:
            return np.zeros((1, 1, 1), dtype=np.float32)  # what InputPipeline.chunks gives a text-only model
        return self.pipeline.chunks_from_waveform(waveform)

    def _member_logits(
        self, member: Member, chunk_lists: list[np.ndarray], texts: Sequence[str] | None
    ) -> tuple[torch.Tensor, np.ndarray]:
        """Mean chunk outputs (n, num_outputs) of each of n chunk lists, and their chunk counts (n,)."""
        pieces, owner = [], []
        # per-utterance and per-speaker normalisation need all chunks of an input (a speaker: all inputs)
        for index, chunks in enumerate(member.standardizer.utterances(chunk_lists)):
            pieces.extend(chunks)
            owner.extend([index] * len(chunks))
        extras = []
        if member.text_input is not None:
            extras = [{"text": encoded} for encoded in member.text_input.encode_many(list(texts))]
        dataset = ChunkSet(
            pieces,
            np.asarray(owner, dtype=np.int64),
            np.full(len(chunk_lists), -1),
            [str(i) for i in range(len(chunk_lists))],
            extras,
        )
        logits, _ = utterance_logits(member.model, dataset, batch_size=self.batch_size, **member.run_options)
        return logits, np.asarray([len(chunks) for chunks in chunk_lists], dtype=np.float64)

    def _max_samples(self) -> int | None:
        """How many samples of an input the model uses (``eval_max_seconds``, by default ``max_seconds``), as
        InputPipeline truncates prediction inputs."""
        inputs = self.pipeline.inputs
        seconds = inputs.max_seconds if inputs.eval_max_seconds is None else inputs.eval_max_seconds
        return None if seconds is None else round(seconds * self.sample_rate)

    def _blocks(self, length: int) -> list[tuple[int, int, int]]:
        """Sample ranges (start, stop, first_new) covering an input of ``length`` samples (:func:`plan_blocks`)."""
        return plan_blocks(length, self.pipeline.inputs, self.sample_rate, reads_audio=self.reads_audio)

    def _file_source(self, path: Path) -> Source:
        """A reader of ``path`` at the model's rate, without decoding anything yet (:func:`file_source`)."""
        return file_source(path, self.sample_rate, self._max_samples(), reads_audio=self.reads_audio)

    def _analyse(
        self,
        sources: Iterable[Source | None],
        texts: Sequence[str] | None,
        *,
        failures: dict[int, Exception] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities (n, num_classes) and speech flags (n,) of n sources (:meth:`_outputs`)."""
        probabilities, _, speech = self._outputs(sources, texts, failures=failures)
        return probabilities, speech

    def _outputs(
        self,
        sources: Iterable[Source | None],
        texts: Sequence[str] | None,
        *,
        failures: dict[int, Exception] | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Probabilities (n, num_classes), dimension values (n, D) on [0, 1] and speech flags (n,) of n sources,
        each read block by block: softmax of the class columns of the mean chunk outputs, mean of the value
        columns; both averaged over the members.

        Blocks of several inputs share batches; at most one block plus ``batch_size`` chunks is in memory. An input
        that cannot be read or cut into chunks (AudioError, ValueError) raises, or with ``failures`` is recorded
        there by index and its row is NaN and not speech, as the rows of ``None`` sources (failed before).
        """
        sources = list(sources)
        if self.needs_text and (texts is None or len(texts) != len(sources)):
            raise ValueError(
                f"this model fuses audio with its transcript: give one text per audio input "
                f"({len(sources)}), e.g. texts=[...] or `serkit predict --transcripts FILE`."
            )
        logit_sums = np.zeros((len(self.members), len(sources), self.task.num_outputs))
        counts = np.zeros(len(sources))
        frames = np.zeros((len(sources), 2), dtype=np.int64)  # active, total
        pending: list[tuple[int, np.ndarray]] = []

        def flush() -> None:
            owners = [index for index, _ in pending]
            for m, member in enumerate(self.members):
                logits, sizes = self._member_logits(
                    member,
                    [chunks for _, chunks in pending],
                    [texts[i] for i in owners] if texts is not None else None,
                )
                np.add.at(logit_sums[m], owners, logits.double().numpy() * sizes[:, None])
            np.add.at(counts, owners, [len(chunks) for _, chunks in pending])
            pending.clear()

        for index, source in enumerate(sources):
            if source is None:  # failed before (analyse_each)
                continue
            blocks = self._source_chunks(source, frames[index])
            while True:
                try:  # only reading and cutting this input: a failing batch is no fault of one input
                    chunks = next(blocks, None)
                except (AudioError, ValueError) as exc:
                    if failures is None:
                        raise
                    failures[index] = exc
                    pending[:] = [(owner, c) for owner, c in pending if owner != index]
                    break
                if chunks is None:
                    break
                if len(chunks):
                    pending.append((index, chunks))
                if sum(len(c) for _, c in pending) >= self.batch_size:
                    flush()
        if pending:
            flush()
        failed = np.asarray([s is None or i in (failures or {}) for i, s in enumerate(sources)], dtype=bool)
        counts[failed] = np.nan  # NaN rows, without a 0/0 warning
        logits, values = self.task.split(
            logit_sums / counts[None, :, None]
        )  # (members, n, C), (members, n, D)
        probabilities = torch.softmax(torch.from_numpy(logits), dim=-1).mean(dim=0).float().numpy()
        speech = [not bad and self._is_speech(a, t) for bad, (a, t) in zip(failed, frames)]
        return probabilities, values.mean(axis=0).astype(np.float32), np.asarray(speech, dtype=bool)

    def _source_chunks(self, source: Source, frames: np.ndarray) -> Iterator[np.ndarray]:
        """The chunks of one input, block by block; adds its (active, total) speech frames to ``frames``.

        Raises:
            AudioError: unreadable audio. ValueError: no chunk at all (shorter than one window, short_policy=drop).
        """
        name, read, length = source
        num_chunks = 0
        for start, stop, first_new in self._blocks(length):
            waveform = read(start, stop)
            frames += self._speech_frames(waveform[first_new - start :]) if self.reads_audio else (1, 1)
            chunks = self._chunks(waveform)
            del waveform
            num_chunks += len(chunks)
            yield chunks
        if num_chunks == 0:
            raise ValueError(
                f"{name}: shorter than one {self.pipeline.inputs.window} s window and "
                "input.short_policy=drop, so the model has nothing to classify."
            )

    def _speech_frames(self, waveform: np.ndarray) -> tuple[int, int]:
        if self.speech_level_dbfs is None:
            return 1, 1
        return speech_activity(waveform, self.sample_rate, level_dbfs=self.speech_level_dbfs)

    def _is_speech(self, active: int, total: int) -> bool:
        return total > 0 and active >= self.speech_min_fraction * total

    def labels_from(self, probabilities: np.ndarray, speech: np.ndarray) -> list[str]:
        """Labels of rows of :meth:`analyse`: the most probable class, or :data:`NO_SPEECH` where speech is False
        (``""`` with speech for a regression model, which has no classes)."""
        return [
            (self.classes_[int(p.argmax())] if self.classes_ else "") if s else NO_SPEECH
            for p, s in zip(probabilities, speech)
        ]

    # -------------------------------------------------------------------------------------------- public API

    def analyse(
        self, paths: str | os.PathLike | Iterable[str | os.PathLike], texts: Sequence[str] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Class probabilities (num_files, num_classes) and speech flags (num_files,) bool of audio files.

        Args:
            paths: one file or folder, or several (folders are searched, see :func:`expand_audio_paths`).
            texts: the transcript of each file, for fusion models (:attr:`needs_text`), in file order.

        Files longer than :data:`STREAM_SECONDS` are read block by block (see :func:`plan_blocks`). A file is speech
        if at least :attr:`speech_min_fraction` of its 25 ms frames of the audio the model uses (the first
        ``eval_max_seconds``, if set) are above :attr:`speech_level_dbfs`. Text-only models read no audio and
        mark every input as speech.

        Raises:
            serkit.core.errors.AudioError subclasses naming the file that cannot be read; NoAudioFilesError;
            ValueError for a regression model (:meth:`analyse_dimensions`).
        """
        self.task.require_classes("analyse")
        probabilities, _, speech = self.analyse_outputs(paths, texts)
        return probabilities, speech

    def analyse_outputs(
        self, paths: str | os.PathLike | Iterable[str | os.PathLike], texts: Sequence[str] | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`analyse` of any model: probabilities (num_files, C), dimension values (num_files, D) on [0, 1]
        and speech flags (num_files,); C = 0 for regression, D = 0 for classification."""
        files = expand_audio_paths(paths, must_exist=self.reads_audio)
        if not files:
            raise NoAudioFilesError(
                f"no audio files given (folders are searched for {', '.join(audio_io.AUDIO_EXTENSIONS)})."
            )
        return self._outputs((self._file_source(path) for path in files), texts)

    def analyse_each(
        self, files: Sequence[str | os.PathLike], texts: Sequence[str] | None = None
    ) -> tuple[np.ndarray, np.ndarray, dict[int, Exception]]:
        """:meth:`analyse` of audio files (not folders) in shared batches, where a file that fails spares the others.

        Returns:
            probabilities (num_files, num_classes) and speech flags (num_files,) as :meth:`analyse`, NaN and False
            in the rows of failed files, and ``{index: error}`` of the files that could not be read or classified
            (AudioError, or ValueError such as shorter than one window with ``input.short_policy=drop``).
        """
        self.task.require_classes("analyse_each")
        probabilities, _, speech, failures = self.analyse_each_outputs(files, texts)
        return probabilities, speech, failures

    def analyse_each_outputs(
        self, files: Sequence[str | os.PathLike], texts: Sequence[str] | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[int, Exception]]:
        """:meth:`analyse_each` of any model: probabilities (num_files, C), values (num_files, D) on [0, 1] (NaN
        rows for failed files), speech flags and ``{index: error}``."""
        failures: dict[int, Exception] = {}
        sources: list[Source | None] = []
        for index, path in enumerate(files):
            try:
                sources.append(self._file_source(Path(path)))
            except (AudioError, ValueError) as exc:  # missing, unreadable header
                failures[index] = exc
                sources.append(None)
        probabilities, values, speech = self._outputs(sources, texts, failures=failures)
        return probabilities, values, speech, dict(sorted(failures.items()))

    def analyse_sources(self, sources: Iterable[Source]) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`analyse` of sources (name, read(start, stop), samples) at the model's rate, e.g. regions."""
        probabilities, _, speech = self.analyse_sources_outputs(sources)
        return probabilities, speech

    def analyse_sources_outputs(self, sources: Iterable[Source]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`analyse_sources` with the dimension values (n, D) on [0, 1]: (probabilities, values, speech)."""
        limit = self._max_samples()
        return self._outputs(((n, r, k if limit is None else min(k, limit)) for n, r, k in sources), None)

    def predict_proba(
        self, paths: str | os.PathLike | Iterable[str | os.PathLike], texts: Sequence[str] | None = None
    ) -> np.ndarray:
        """Class probabilities (num_files, num_classes), columns ordered like ``classes_``.

        Raw model output, silence included (use :meth:`predict` or :meth:`analyse` for the speech flag); an
        ensemble gives the mean of its members' probabilities. Arguments as :meth:`analyse`; a regression model
        raises ValueError (use :meth:`predict_dimensions`).
        """
        self.task.require_classes("predict_proba")
        return self.analyse(paths, texts)[0]

    def predict(
        self, paths: str | os.PathLike | Iterable[str | os.PathLike], texts: Sequence[str] | None = None
    ) -> list[str]:
        """The most probable label of each file, or :data:`NO_SPEECH` where the gate finds no speech (ValueError
        for a regression model: :meth:`predict_dimensions`)."""
        self.task.require_classes("predict")
        return self.labels_from(*self.analyse(paths, texts))

    def _window_outputs(self, waveform: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One timeline window (samples,) -> probabilities (1, C), speech flag (1,), values (1, D)."""
        probabilities, values, speech = self._outputs([self._waveform_source(waveform, None)], None)
        return probabilities, speech, values

    def timeline(
        self, path: str | os.PathLike, *, window: float = 3.0, hop: float = 1.0
    ) -> Iterator[TimelineEntry]:
        """Emotion over time in a long recording, one entry per ``window`` seconds every ``hop`` seconds.

        Reads only ``window`` seconds at a time from disk, so a recording of any length needs bounded memory.
        The last, shorter window is kept if it is at least half a window long. A window without speech (see
        :meth:`analyse`) is labelled :data:`NO_SPEECH`, its probabilities kept. A model with dimensions gives each
        entry's values on [0, 1] too (``TimelineEntry.values``; a regression model's labels are ``""``).
        """
        if self.needs_text:
            raise ValueError(
                "a timeline needs a transcript per window, which a fusion model cannot get from a "
                "long recording; predict whole utterances with their transcripts instead."
            )
        yield from file_timeline(
            path,
            self.sample_rate,
            lambda waveform: self._window_outputs(waveform),
            self.labels_from,
            window=window,
            hop=hop,
        )
