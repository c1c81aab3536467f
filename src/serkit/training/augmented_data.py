"""On-the-fly waveform augmentation of a fold's training part (the recipe's ``augment:`` section, off by default).

When any augmentation is on (:class:`~serkit.config.AugmentConfig`), :func:`augment_training` replaces the fold's
cached training chunks by an :class:`AugmentedChunkSet`: the training utterances' waveforms are read once per run
and, at the start of every epoch (:meth:`AugmentedChunkSet.set_epoch`, called by the engine loop), each is augmented
(:class:`serkit.audio.augment.WaveformAugment`) with a generator seeded by (run seed, epoch, utterance index), then
cut and featurised in batches by the code that made the cached chunks
(:meth:`~serkit.features.pipeline.InputPipeline.chunks_from_waveforms`) and normalised by the fold's normaliser,
whose statistics come from the un-augmented training chunks. An epoch's data therefore depends only on (seed,
epoch): a run resumed from ``last.pt`` trains on the same data as an uninterrupted one. Validation and test stay
un-augmented and cached.

Speed perturbation changes an utterance's length, hence its number of segments (``input.mode: segments``) or of
frames (``frames``). Each utterance nevertheless keeps the number of chunks it has in the cache: ``n`` evenly spaced
chunks out of the ``m`` the augmented waveform gives (some repeated when ``m < n``). So every epoch has the same
length and ``chunk_utterance``: the loop's step count, which the per-step schedules fix before the first epoch
(``one_cycle`` fails when stepped past it), the class weights, the balanced sampler and each utterance's weight in
the loss stay what they are without augmentation. An utterance that augmentation makes shorter than one window with
``input.short_policy: drop`` has no chunk that epoch. A closed-form model (SVM) is fitted on epoch 0's chunks.
"""

from __future__ import annotations

import copy
import functools
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np

from serkit.audio import io as audio_io
from serkit.audio.augment import NoiseBank, WaveformAugment
from serkit.config import AugmentConfig
from serkit.core.errors import SerkitError
from serkit.data.utterance import Utterance
from serkit.features.normalize import Normalizer
from serkit.features.pipeline import InputPipeline
from serkit.training.data import ChunkSet
from serkit.training.strategies import FoldSets

__all__ = ["AugmentedChunkSet", "augment_note", "augment_training", "waveform_augment"]

logger = logging.getLogger(__name__)


@functools.lru_cache(maxsize=2)
def _noise_bank(folder: str, sample_rate: int) -> NoiseBank:
    """A noise folder is read once per process, for all the runs that use it."""
    return NoiseBank(folder, sample_rate)


def waveform_augment(config: AugmentConfig, sample_rate: int) -> WaveformAugment:
    """The augmentation of an ``augment:`` section, at ``sample_rate`` (reads ``noise_dir`` when noise is on)."""
    bank = _noise_bank(config.noise_dir, sample_rate) if config.noise_dir and config.noise_prob > 0 else None
    return WaveformAugment(
        speeds=config.speed,
        speed_prob=config.speed_prob,
        snr_db=(config.noise_snr_db[0], config.noise_snr_db[1]),
        noise_prob=config.noise_prob,
        noise_colors=config.noise_colors,
        noise_bank=bank,
        gain_db=(config.gain_db[0], config.gain_db[1]),
        gain_prob=config.gain_prob,
    )


def augment_note(config: AugmentConfig) -> str:
    """The report's line on an ``augment:`` section ("" when it is off)."""

    def span(values: Sequence[float]) -> str:
        return f"{values[0]:g} to {values[1]:g} dB"

    parts = []
    if config.speed_prob > 0:
        parts.append(f"speed x{'/'.join(f'{s:g}' for s in config.speed)} (p={config.speed_prob:g})")
    if config.noise_prob > 0:
        source = (
            f"noise from {config.noise_dir}" if config.noise_dir else f"{'/'.join(config.noise_colors)} noise"
        )
        parts.append(f"{source} at {span(config.noise_snr_db)} SNR (p={config.noise_prob:g})")
    if config.gain_prob > 0:
        parts.append(f"gain {span(config.gain_db)} (p={config.gain_prob:g})")
    return f"training waveforms augmented on the fly, anew each epoch: {', '.join(parts)}" if parts else ""


def _evenly_spaced(chunks: np.ndarray, count: int) -> np.ndarray:
    """``count`` chunks spread evenly over ``chunks`` (num_chunks, ...): all of them when there are ``count``,
    some repeated when there are fewer; none when there are none."""
    if len(chunks) == count or len(chunks) == 0:
        return chunks
    return chunks[((np.arange(count) + 0.5) * len(chunks) / count).astype(np.int64)]


class AugmentedChunkSet(ChunkSet):
    """The training chunks of one epoch of augmented waveforms; :meth:`set_epoch` recomputes them.

    Args:
        base: the fold's cached training set (its utterances, targets and extras are kept).
        waveforms: one (samples,) per utterance of ``base``, at the pipeline's rate.
        speakers: one per utterance (``input.normalize: speaker`` normalises by speaker).
        pipeline: the stage's input pipeline (a private copy is used: no cache, its own short-utterance count).
        augment: the augmentation.
        normalizer: the fold's normaliser.
        seed: the run seed.
    """

    def __init__(
        self,
        base: ChunkSet,
        *,
        waveforms: Sequence[np.ndarray],
        speakers: Sequence[str],
        pipeline: InputPipeline,
        augment: WaveformAugment,
        normalizer: Normalizer,
        seed: int,
    ) -> None:
        super().__init__(
            [], np.zeros(0, dtype=np.int64), base.targets, base.utterance_ids, base.extras, base.task
        )
        if len(waveforms) != base.num_utterances or len(speakers) != base.num_utterances:
            raise ValueError(
                f"{len(waveforms)} waveforms and {len(speakers)} speakers for {base.num_utterances} utterances."
            )
        self._pipeline = copy.copy(pipeline)
        self._pipeline.cache, self._pipeline.short_utterances = None, set()
        self._waveforms, self._speakers = list(waveforms), list(speakers)
        self._augment, self._normalizer, self._seed = augment, normalizer, seed
        self._counts = np.bincount(base.chunk_utterance, minlength=base.num_utterances)  # cached chunks each
        self.epoch = -1
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        """Make the chunks of ``epoch`` (0-based): augment every utterance, featurise in batches, normalise."""
        if epoch == self.epoch:
            return
        started = time.monotonic()
        augmented = [
            self._augment(waveform, np.random.default_rng([self._seed % 2**64, epoch, index]))
            for index, waveform in enumerate(self._waveforms)
        ]
        per_utterance = self._pipeline.chunks_from_waveforms(
            augmented, train=True, names=list(self.utterance_ids)
        )
        kept = [
            _evenly_spaced(self._normalizer.utterance(chunks, speaker), count)
            for chunks, speaker, count in zip(per_utterance, self._speakers, self._counts)
        ]
        self.chunks = [chunk for chunks in kept for chunk in chunks]
        self.chunk_utterance = np.repeat(np.arange(len(kept), dtype=np.int64), [len(c) for c in kept])
        self.epoch = epoch
        logger.debug(
            "epoch %d: %d augmented chunks in %.1f s", epoch + 1, len(self.chunks), time.monotonic() - started
        )
        if not self.chunks:
            raise SerkitError(
                f"epoch {epoch + 1}: every augmented training utterance was dropped as shorter than one window "
                "(input.short_policy: drop); use smaller augment.speed factors or another short_policy."
            )

    def __getstate__(self) -> dict:
        """DataLoader workers only read the chunks: the waveforms and the augmentation stay behind."""
        return {**self.__dict__, "_waveforms": [], "_augment": None}


def augment_training(
    sets: FoldSets,
    pipeline: InputPipeline,
    config: AugmentConfig,
    normalizer: Normalizer,
    by_id: Mapping[str, Utterance],
    *,
    seed: int,
) -> FoldSets:
    """``sets`` with the training part augmented on the fly when ``config`` turns an augmentation on; otherwise
    ``sets`` itself."""
    if not config.enabled:
        return sets
    if not pipeline.feature.reads_audio:
        raise SerkitError(
            f"augment: the feature {pipeline.feature.name!r} reads no audio, so there is no waveform to "
            "augment; set every augment.*_prob to 0."
        )
    started = time.monotonic()
    augment = waveform_augment(config, pipeline.inputs.sample_rate)
    utterances = [by_id[utt_id] for utt_id in sets.train.utterance_ids]
    train = AugmentedChunkSet(
        sets.train,
        waveforms=[audio_io.load(utt.path, pipeline.inputs.sample_rate) for utt in utterances],
        speakers=[utt.speaker for utt in utterances],
        pipeline=pipeline,
        augment=augment,
        normalizer=normalizer,
        seed=seed,
    )
    logger.info(
        "%s; %d training utterances read and their first epoch made in %.1f s",
        augment_note(config),
        len(utterances),
        time.monotonic() - started,
    )
    return replace(sets, train=train)
