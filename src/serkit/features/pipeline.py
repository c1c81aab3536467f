"""From audio files to model inputs: load, segment, compute features, cache, normalise (:mod:`serkit.features.normalize`).

:class:`InputPipeline` turns an utterance into its *chunks* ``(num_chunks, frames, *feature_shape)``: the fixed
segments of ``input.mode: segments`` (training and evaluation may use different hops), the whole utterance
(``mode: utterance``), or each frame of the utterance's features (``mode: frames``: DCNN's image segments). Results are cached on disk by audio content + feature config + segmentation, so a second
epoch, fold, seed or run never recomputes them. The same object serves training, evaluation and prediction, so new
audio goes through exactly the steps the model was trained on.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from serkit.audio import io as audio_io
from serkit.audio.transforms import segment
from serkit.config import InputConfig
from serkit.features.base import FeatureConfig, feature_from_dict
from serkit.features.cache import FeatureCache
from serkit.features.normalize import Normalizer

__all__ = ["InputPipeline", "Normalizer", "Standardizer"]

logger = logging.getLogger(__name__)


#: The name of :class:`~serkit.features.normalize.Normalizer` in earlier releases (global or no standardisation).
Standardizer = Normalizer


class InputPipeline:
    """Audio -> chunks of features for one feature config and input config.

    Args:
        feature: a feature config or its recipe mapping (``{"name": "mfcc", "n_mfcc": 26}``).
        inputs: segmentation and sample rate.
        cache_dir: folder of the feature cache; None computes every time (prediction on new files).
    """

    def __init__(
        self,
        feature: FeatureConfig | Mapping[str, Any],
        inputs: InputConfig,
        cache_dir: str | Path | None = None,
    ) -> None:
        feature = feature if isinstance(feature, FeatureConfig) else feature_from_dict(feature)
        if getattr(feature, "sample_rate", inputs.sample_rate) != inputs.sample_rate:
            raise ValueError(
                f"features.sample_rate={feature.sample_rate} differs from "
                f"input.sample_rate={inputs.sample_rate}; set them equal."
            )
        self.feature, self.inputs = feature, inputs
        self.cache = FeatureCache(cache_dir) if cache_dir is not None else None
        self.short_utterances: set[str] = set()

    @property
    def num_features(self) -> int:
        return self.feature.num_features

    def _window_hop(self, train: bool) -> tuple[int, int]:
        rate = self.inputs.sample_rate
        hop = self.inputs.hop if train else self.inputs.eval_hop
        return round(self.inputs.window * rate), round(hop * rate)

    def cache_key(self, train: bool) -> str:
        """Feature key plus the segmentation that produced the chunks.

        ``mode: frames`` stores the whole-utterance features (the ``utterance`` entry) and splits them when read.
        """
        mode = "utterance" if self.inputs.mode == "frames" else self.inputs.mode
        window, hop = self._window_hop(train) if mode == "segments" else (0, 0)
        spec = {
            "mode": mode,
            "window": window,
            "hop": hop,
            "short": self.inputs.short_policy,
            "max_seconds": self._max_seconds(train),
        }
        digest = hashlib.sha1(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:8]
        return f"{self.feature.key()}-{mode}-{digest}"

    def _max_seconds(self, train: bool) -> float | None:
        """Truncation: ``max_seconds`` for training inputs, ``eval_max_seconds`` (default the same) otherwise."""
        if train or self.inputs.eval_max_seconds is None:
            return self.inputs.max_seconds
        return self.inputs.eval_max_seconds

    def _frames_first(self, features: torch.Tensor) -> torch.Tensor:
        """(batch, *feature_shape, frames) or, with ``frame_axis = 1``, (batch, frames, *feature_shape)
        -> (batch, frames, *feature_shape)."""
        return features if self.feature.frame_axis == 1 else features.movedim(-1, 1)

    def chunks_from_waveform(
        self, waveform: np.ndarray, *, train: bool = False, name: str = "", split: bool = True
    ) -> np.ndarray:
        """waveform (samples,) at ``input.sample_rate`` -> chunks (num_chunks, frames, *feature_shape).

        ``mode: segments`` gives one chunk per window, ``utterance`` one chunk of all frames, ``frames`` one chunk
        ``(1, *feature_shape)`` per frame. ``num_chunks`` is 0 only with ``short_policy: drop`` for an utterance
        shorter than one window. ``split=False`` keeps ``frames`` mode's utterance-level array (what is cached).
        """
        return self.chunks_from_waveforms([waveform], train=train, names=[name], split=split)[0]

    def chunks_from_waveforms(
        self,
        waveforms: Sequence[np.ndarray],
        *,
        train: bool = False,
        names: Sequence[str] | None = None,
        split: bool = True,
        batch_size: int = 256,
    ) -> list[np.ndarray]:
        """Waveforms (samples,) -> their chunks, each as :meth:`chunks_from_waveform` gives it.

        In ``mode: segments`` the windows of consecutive waveforms are featurised together, up to ``batch_size``
        windows per call (one utterance's windows are never split, so a single waveform is featurised exactly as
        before); whole utterances (``utterance``, ``frames``) differ in length and are featurised one by one.
        On-the-fly augmentation (:mod:`serkit.training.augmented_data`) featurises each epoch this way.
        """
        names = list(names) if names is not None else [""] * len(waveforms)
        max_seconds = self._max_seconds(train)
        if max_seconds is not None:
            waveforms = [waveform[: round(max_seconds * self.inputs.sample_rate)] for waveform in waveforms]
        if self.inputs.mode in ("utterance", "frames"):
            # each (1, frames, *feature_shape)
            whole = [self._features(waveform[None, :]) for waveform in waveforms]
            return [self._split_frames(chunks) if split else chunks for chunks in whole]
        window, hop = self._window_hop(train)
        pieces = []  # per waveform (num_chunks, window)
        for waveform, name in zip(waveforms, names):
            if len(waveform) < window:
                self.short_utterances.add(name or f"<{len(waveform)} samples>")
            pieces.append(segment(waveform, window=window, hop=hop, short_policy=self.inputs.short_policy))
        empty = np.zeros((0, self.feature.num_frames(window), *self.feature.feature_shape), dtype=np.float32)
        result = [empty] * len(pieces)
        batch: list[int] = []  # the waveforms whose windows go into the next feature call

        def flush() -> None:
            stacked = pieces[batch[0]] if len(batch) == 1 else np.concatenate([pieces[i] for i in batch])
            features = self._features(stacked)  # (windows of the batch, frames, *feature_shape)
            bounds = np.cumsum([0, *(len(pieces[i]) for i in batch)])
            for i, start, stop in zip(batch, bounds[:-1], bounds[1:]):
                result[i] = features[start:stop]
            batch.clear()

        for index, windows in enumerate(pieces):
            if len(windows) == 0:
                continue
            if batch and (
                windows.shape[1] != pieces[batch[0]].shape[1]  # short_policy keep: a shorter window
                or sum(len(pieces[i]) for i in batch) + len(windows) > batch_size
            ):
                flush()
            batch.append(index)
        if batch:
            flush()
        return result

    def _features(self, waveforms: np.ndarray) -> np.ndarray:
        """(batch, samples) -> float32 (batch, frames, *feature_shape)."""
        features = self._frames_first(self.feature.compute(waveforms))
        return features.contiguous().numpy().astype(np.float32, copy=False)

    def _split_frames(self, chunks: np.ndarray) -> np.ndarray:
        """In ``mode: frames``, (1, frames, *shape) -> (frames, 1, *shape); otherwise unchanged."""
        if self.inputs.mode != "frames" or chunks.shape[0] != 1:
            return chunks
        return chunks[0][:, None]

    def chunks(self, path: str | Path, *, train: bool = False, name: str = "") -> np.ndarray:
        """Chunks of an audio file, from the cache when possible (no file is read for the ``none`` feature)."""
        if not self.feature.reads_audio:
            return np.zeros((1, 1, 1), dtype=np.float32)

        def compute() -> np.ndarray:  # in frames mode the utterance-level array is cached and split when read
            return self.chunks_from_waveform(
                audio_io.load(path, self.inputs.sample_rate), train=train, name=name, split=False
            )

        if self.cache is None:
            return self._split_frames(compute())
        result = self._split_frames(self.cache.get_or_compute(path, self.cache_key(train), compute))
        if self.inputs.mode == "segments" and audio_io.duration(path) < self.inputs.window:
            self.short_utterances.add(name or str(path))  # also counted when served from the cache
        return result

    def describe(self) -> dict[str, Any]:
        """The feature and input configs, as stored in checkpoints and run folders."""
        return {"feature": self.feature.to_dict(), "input": asdict(self.inputs)}
