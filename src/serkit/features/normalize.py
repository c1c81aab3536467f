"""Feature normalisation of model inputs (``input.normalize``): global, per utterance, or per speaker.

Every mode standardises each feature (each MFCC coefficient, each mel band of each channel) to zero mean and unit
variance; they differ in whose statistics are used:

* ``global`` — the mean and standard deviation of all training frames (the default; stored in checkpoints). As in
  every earlier release, its statistics pool everything but the last feature axis (for the DCNN image: the three
  channels of a mel band), so old checkpoints keep their meaning;
* ``none`` — features as computed;
* ``utterance`` — each utterance's own frames (cepstral mean and variance normalisation). It needs nothing but
  the utterance itself, so it is never transductive and works the same on new recordings;
* ``speaker`` — all frames of the speaker's utterances. For the training speakers that is training audio; for the
  validation and test speakers it is their *unlabelled* audio, so a test score depends on the other test
  utterances of the speaker (transductive). A recipe must say ``input.transductive: true`` to use it, and every
  report names it. At prediction time the files of one call are taken as one speaker.

Per-speaker normalisation removes the speaker's voice and recording channel from the features; the classical
SER literature reports it worth 5–15 UA points speaker-independently (RAVDESS ComParE SVM: +6 points).

Chunks are ``(num_chunks, frames, *feature_shape)`` arrays (:class:`~serkit.features.pipeline.InputPipeline`);
``utterance`` and ``speaker`` take statistics over every frame of every chunk, per feature element
(``feature_shape``).

Example:
    >>> import numpy as np
    >>> chunks = np.arange(12, dtype=np.float32).reshape(1, 6, 2)  # one chunk, 6 frames, 2 features
    >>> Normalizer("utterance").utterance(chunks).mean(axis=(0, 1)).round(6).tolist()
    [0.0, 0.0]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["NORMALIZATIONS", "NORMALIZATION_NOTES", "STD_FLOOR", "Normalizer", "frame_statistics"]

#: The values of ``input.normalize``, with the words a report uses for them.
NORMALIZATION_NOTES = {
    "global": "global (training statistics)",
    "none": "none",
    "utterance": "per utterance (its own statistics; not transductive)",
    "speaker": "per speaker (each speaker's own audio; TRANSDUCTIVE for the test speakers)",
}
NORMALIZATIONS = tuple(NORMALIZATION_NOTES)

#: Smallest standard deviation divided by: a constant feature maps to 0 instead of infinity.
STD_FLOOR = 1e-5


def frame_statistics(chunk_lists: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation over every frame of every chunk, per feature element.

    Args:
        chunk_lists: arrays (num_chunks, frames, *feature_shape), one per utterance.

    Returns:
        mean, std: (*feature_shape,) float32; std at least :data:`STD_FLOOR`.
    """
    frames = [np.asarray(c).reshape(-1, *np.shape(c)[2:]) for c in chunk_lists if np.size(c)]
    if not frames:
        raise ValueError("no frames to take normalisation statistics from (every utterance is empty).")
    stacked = np.concatenate(frames, axis=0).astype(np.float64)
    mean, std = stacked.mean(axis=0), stacked.std(axis=0)
    return mean.astype(np.float32), np.maximum(std, STD_FLOOR).astype(np.float32)


class Normalizer:
    """Standardisation of an utterance's chunks for one ``input.normalize`` mode (see the module docstring).

    Args:
        mode: one of :data:`NORMALIZATIONS`.
        mean, std: the training statistics of ``global`` (feature_shape,).
        speakers: ``speaker`` mode's statistics by speaker id (training time; not stored in checkpoints).
    """

    def __init__(
        self,
        mode: str = "none",
        mean: np.ndarray | None = None,
        std: np.ndarray | None = None,
        speakers: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
    ) -> None:
        if mode not in NORMALIZATIONS:
            raise ValueError(f"normalisation {mode!r} is not one of {', '.join(NORMALIZATIONS)}.")
        if mode == "global" and (mean is None or std is None):
            raise ValueError("global normalisation needs the training mean and std (Normalizer.fit).")
        self.mode, self.mean, self.std = mode, mean, std
        self.speakers = dict(speakers or {})

    @classmethod
    def fit(cls, arrays: Sequence[np.ndarray]) -> Normalizer:
        """``global`` statistics of training chunks (arrays of any shape ending in the feature axis), pooled over
        every axis but the last."""
        frames = np.concatenate([a.reshape(-1, a.shape[-1]) for a in arrays], axis=0).astype(np.float64)
        mean, std = frames.mean(axis=0), np.maximum(frames.std(axis=0), STD_FLOOR)
        return cls("global", mean.astype(np.float32), std.astype(np.float32))

    @classmethod
    def fit_speakers(cls, chunks_by_speaker: Mapping[str, Sequence[np.ndarray]]) -> Normalizer:
        """``speaker`` statistics: speaker id -> that speaker's chunk arrays."""
        return cls("speaker", speakers={s: frame_statistics(c) for s, c in chunks_by_speaker.items()})

    @property
    def transductive(self) -> bool:
        """Whether an evaluation utterance's input depends on other evaluation utterances (``speaker``)."""
        return self.mode == "speaker"

    def utterance(self, chunks: np.ndarray, speaker: str | None = None) -> np.ndarray:
        """chunks (num_chunks, frames, *feature_shape) of one utterance -> the same shape, normalised, float32."""
        chunks = np.asarray(chunks)
        if self.mode == "none":
            return chunks
        if chunks.size == 0:
            return chunks.astype(np.float32, copy=False)
        if self.mode == "global":
            mean, std = self.mean, self.std
        elif self.mode == "utterance":
            if chunks.shape[0] * chunks.shape[1] < 2:
                raise ValueError(
                    "input.normalize=utterance needs several frames per utterance, but this input has one "
                    "(utterance functionals such as eGeMAPS/ComParE): every feature would become 0. Use "
                    "input.normalize: global, or speaker with input.transductive: true."
                )
            mean, std = frame_statistics([chunks])
        else:
            if speaker not in self.speakers:
                raise KeyError(
                    f"no normalisation statistics for speaker {speaker!r}; per-speaker normalisation needs "
                    "the speaker's audio first (Normalizer.fit_speakers)."
                )
            mean, std = self.speakers[speaker]
        return ((chunks - mean) / std).astype(np.float32)

    def __call__(self, chunk: np.ndarray) -> np.ndarray:
        """One chunk (frames, *feature_shape) with the ``global`` statistics (or unchanged with ``none``); the
        modes whose statistics depend on the utterance or speaker need :meth:`utterance`."""
        if self.mode not in ("global", "none"):
            raise ValueError(
                f"{self.mode!r} normalisation needs the whole utterance: call .utterance(chunks)."
            )
        return self.utterance(chunk)

    def utterances(self, chunk_lists: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Normalise the utterances of one prediction call; ``speaker`` mode takes them all as one speaker."""
        if self.mode == "speaker":
            pooled = Normalizer.fit_speakers({"": chunk_lists})
            return [pooled.utterance(chunks, "") for chunks in chunk_lists]
        return [self.utterance(chunks) for chunks in chunk_lists]

    def to_dict(self) -> dict[str, Any] | None:
        """What a checkpoint stores: the mode and, for ``global``, the statistics (speaker statistics are not)."""
        if self.mode == "none":
            return None
        if self.mode == "global":
            return {"mean": self.mean.tolist(), "std": self.std.tolist()}
        return {"mode": self.mode}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Normalizer:
        """Inverse of :meth:`to_dict`; checkpoints from before the modes hold ``{mean, std}`` or None."""
        if not data:
            return cls()
        mode = data.get("mode", "global")
        if mode == "global":
            mean, std = (np.asarray(data[key], dtype=np.float32) for key in ("mean", "std"))
            return cls("global", mean, std)
        return cls(mode)
