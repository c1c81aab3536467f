"""``Recognizer``: a trained checkpoint applied to new audio, sklearn-style.

>>> rec = Recognizer.from_checkpoint("runs/x/runs/fold0/seed0/best.pt")        # doctest: +SKIP
>>> rec.predict(["a.wav", "b.flac"])                                           # doctest: +SKIP
['angry', 'neutral']
>>> rec.predict_proba(["a.wav"]).shape                                         # doctest: +SKIP
(1, 4)

The recogniser turns audio into model inputs with the feature and input configs stored in the checkpoint, so new
files go through exactly the steps the model was trained on. Long recordings are read window by window
(:meth:`Recognizer.timeline`), so memory stays bounded whatever the length of the file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from serkit.audio import io as audio_io
from serkit.config import InputConfig, from_dict
from serkit.features.pipeline import InputPipeline, Standardizer
from serkit.features.text_inputs import TextInput, text_input_from_state
from serkit.models import MODELS, create_model
from serkit.training.checkpoint import load_checkpoint
from serkit.training.data import ChunkSet, utterance_logits

__all__ = ["Recognizer", "TimelineEntry", "expand_audio_paths"]


def expand_audio_paths(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Files as given, and the audio files inside folders (recursively, sorted)."""
    result = []
    for path in map(Path, paths):
        if path.is_dir():
            result += audio_io.find_audio(path)
        else:
            result.append(path)
    return result


@dataclass(frozen=True)
class TimelineEntry:
    """One window of a long recording: start/end in seconds, predicted label, class probabilities."""

    start: float
    end: float
    label: str
    probabilities: tuple[float, ...]


class Recognizer:
    """A trained emotion recogniser.

    Attributes:
        classes_: label names, in the order of :meth:`predict_proba`'s columns.
    """

    def __init__(self, model: torch.nn.Module, pipeline: InputPipeline, label_names: Sequence[str],
                 standardizer: Standardizer, *, batch_size: int = 64, text_input: TextInput | None = None) -> None:
        self.model = model.eval()
        torch.set_flush_denormal(True)  # same arithmetic speed-up as in training
        self.pipeline = pipeline
        self.classes_ = list(label_names)
        self.standardizer = standardizer
        self.batch_size = batch_size
        self.text_input = text_input

    @property
    def needs_text(self) -> bool:
        """True for fusion models: every prediction needs the transcript of its audio."""
        return self.text_input is not None

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, *, batch_size: int = 64) -> Recognizer:
        """Rebuild model and input pipeline from a ``best.pt`` written by ``serkit train``."""
        checkpoint = load_checkpoint(path, require=("model_name", "model_args", "label_names", "feature", "input",
                                                    "state_dict"))
        args = dict(checkpoint["model_args"])
        num_classes = args.pop("num_classes")
        # arguments that only load initial weights (an ImageNet file): the stored state dict replaces them, and the
        # file need not exist where the model is used
        for key in getattr(MODELS.get(checkpoint["model_name"]), "initial_weight_args", ()):
            args.pop(key, None)
        model = create_model(checkpoint["model_name"], num_classes=num_classes, **args)
        model.load_state_dict(checkpoint["state_dict"])
        pipeline = InputPipeline(checkpoint["feature"], from_dict(InputConfig, checkpoint["input"]))
        text_input = text_input_from_state(checkpoint["text"]) if checkpoint.get("text") else None
        return cls(model, pipeline, checkpoint["label_names"], Standardizer.from_dict(checkpoint.get("standardizer")),
                   batch_size=batch_size, text_input=text_input)

    def _chunk_set(self, chunk_lists: list[np.ndarray], texts: Sequence[str] | None) -> ChunkSet:
        pieces, owner = [], []
        for index, chunks in enumerate(chunk_lists):
            for chunk in chunks:
                pieces.append(self.standardizer(chunk))
                owner.append(index)
        extras = []
        if self.text_input is not None:
            if texts is None or len(texts) != len(chunk_lists):
                raise ValueError(f"this model fuses audio with its transcript: give one text per audio input "
                                 f"({len(chunk_lists)}), e.g. texts=[...] or `serkit predict --transcripts FILE`.")
            extras = [{"text": encoded} for encoded in self.text_input.encode_many(list(texts))]
        return ChunkSet(pieces, np.asarray(owner, dtype=np.int64), np.full(len(chunk_lists), -1),
                        [str(i) for i in range(len(chunk_lists))], extras)

    def _probabilities(self, chunk_lists: list[np.ndarray], texts: Sequence[str] | None = None) -> np.ndarray:
        empty = [i for i, chunks in enumerate(chunk_lists) if len(chunks) == 0]
        if empty:
            raise ValueError(f"{len(empty)} input(s) gave no chunk (shorter than one window with "
                             "short_policy=drop); nothing to classify.")
        logits, _ = utterance_logits(self.model, self._chunk_set(chunk_lists, texts), batch_size=self.batch_size)
        return torch.softmax(logits, dim=1).numpy()

    def predict_proba(self, paths: Iterable[str | os.PathLike], texts: Sequence[str] | None = None) -> np.ndarray:
        """Class probabilities (num_files, num_classes), columns ordered like ``classes_``.

        ``texts``: the transcript of each file, for fusion models (:attr:`needs_text`), in file order.

        Raises:
            serkit.errors.AudioError subclasses naming the file that cannot be read.
        """
        files = expand_audio_paths(paths)
        if not files:
            raise ValueError("no audio files given (folders are searched for .wav, .flac, .ogg, .mp3).")
        return self._probabilities([self.pipeline.chunks(path, train=False) for path in files], texts)

    def predict(self, paths: Iterable[str | os.PathLike], texts: Sequence[str] | None = None) -> list[str]:
        """The most probable label of each file."""
        return [self.classes_[i] for i in self.predict_proba(paths, texts).argmax(axis=1)]

    def predict_waveform(self, waveform: np.ndarray, text: str | None = None) -> np.ndarray:
        """Probabilities (num_classes,) of one waveform at the model's sample rate (and its transcript)."""
        texts = None if text is None else [text]
        return self._probabilities([self.pipeline.chunks_from_waveform(waveform)], texts)[0]

    def timeline(self, path: str | os.PathLike, *, window: float = 3.0, hop: float = 1.0) -> Iterator[TimelineEntry]:
        """Emotion over time in a long recording, one entry per ``window`` seconds every ``hop`` seconds.

        Reads only ``window`` seconds at a time from disk, so a recording of any length needs bounded memory.
        The last, shorter window is kept if it is at least half a window long.
        """
        if window <= 0 or hop <= 0:
            raise ValueError(f"window ({window}) and hop ({hop}) must be positive seconds.")
        if self.needs_text:
            raise ValueError("a timeline needs a transcript per window, which a fusion model cannot get from a "
                             "long recording; predict whole utterances with their transcripts instead.")
        total = audio_io.duration(path)
        rate = self.pipeline.inputs.sample_rate
        start = 0.0
        while start < total:
            length = min(window, total - start)
            if length < window / 2 and start > 0:
                break
            waveform = audio_io.load(path, rate, offset=start, max_duration=length)
            probabilities = self.predict_waveform(waveform)
            yield TimelineEntry(round(start, 3), round(start + length, 3),
                                self.classes_[int(probabilities.argmax())], tuple(float(p) for p in probabilities))
            start += hop
