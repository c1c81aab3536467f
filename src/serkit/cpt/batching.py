"""Pre-training batches: similar lengths up to an audio budget, cropped to the shortest at the encoder's stride.

Batches are built HuBERT's way (fairseq / torchaudio ``BucketizeBatchSampler``): utterances sorted by length, cut
into equal-count buckets, shuffled inside each bucket, packed up to ``max_samples`` samples of audio per batch, and
the batches shuffled. In a batch every waveform is cropped to the shortest one at a random offset that is a multiple
of the encoder's stride (320 samples for HuBERT), so the cropped frames are exactly the original frames
``offset / stride ...`` and their labels are a slice of the utterance's labels. Each process of a multi-GPU run
takes every ``world``-th batch. Every draw depends only on (seed, epoch, batch index), which makes a run resumable
in the middle of an epoch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from serkit.core.errors import SerkitError
from serkit.cpt.labels import LabelledUtterance

__all__ = [
    "CroppedBatches",
    "batch_loader",
    "bucket_batches",
    "crop_batch",
    "epoch_batches",
    "frame_geometry",
]


def frame_geometry(config: Any) -> tuple[int, int]:
    """(receptive field, stride) in samples of an encoder's convolutional front end (HuBERT: 400, 320)."""
    receptive, stride = 1, 1
    for kernel, step in zip(config.conv_kernel, config.conv_stride):
        receptive += (int(kernel) - 1) * stride
        stride *= int(step)
    return receptive, stride


def bucket_batches(
    lengths: Sequence[int], *, max_samples: int, num_buckets: int, generator: torch.Generator
) -> list[list[int]]:
    """Batches of similar lengths: sort, cut into ``num_buckets`` equal-count buckets, shuffle inside each, fill
    batches up to ``max_samples`` samples in total (at least one utterance each), then shuffle the batches."""
    lengths = np.asarray(lengths, dtype=np.int64)
    order = np.argsort(lengths, kind="stable")
    batches: list[list[int]] = []
    for bucket in np.array_split(order, max(1, min(num_buckets, len(order)))):
        if len(bucket) == 0:
            continue
        bucket = bucket[torch.randperm(len(bucket), generator=generator).numpy()]
        current: list[int] = []
        total = 0
        for index in bucket.tolist():
            if current and total + lengths[index] > max_samples:
                batches.append(current)
                current, total = [], 0
            current.append(index)
            total += int(lengths[index])
        if current:
            batches.append(current)
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]


def crop_batch(
    waveforms: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    *,
    receptive: int,
    stride: int,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Crop every waveform to the shortest, at a random multiple of ``stride``, and its labels to match.

    Frame ``t`` of a waveform covers samples ``[t * stride, t * stride + receptive)``; cropping at
    ``k * stride`` makes the cropped frame ``t`` the original frame ``k + t``, so the labels are ``labels[k:k + n]``.

    Returns:
        waveforms (batch, samples) float32, labels (batch, frames) int64.
    """
    shortest = min(len(w) for w in waveforms)
    num_frames = (shortest - receptive) // stride + 1
    if num_frames < 1:
        raise ValueError(
            f"a waveform of {shortest} samples is shorter than the receptive field ({receptive})."
        )
    crops, crop_labels = [], []
    for waveform, label in zip(waveforms, labels):
        steps = (len(waveform) - shortest) // stride
        k = int(torch.randint(steps + 1, (), generator=generator)) if steps > 0 else 0
        crops.append(torch.from_numpy(np.ascontiguousarray(waveform[k * stride : k * stride + shortest])))
        crop_labels.append(torch.from_numpy(np.ascontiguousarray(label[k : k + num_frames])))
    return torch.stack(crops).float(), torch.stack(crop_labels).long()


def epoch_batches(
    lengths: Sequence[int],
    *,
    seed: int,
    epoch: int,
    max_samples: int,
    num_buckets: int,
    rank: int,
    world: int,
) -> list[list[int]]:
    """The batches (utterance indices) process ``rank`` of ``world`` trains on in ``epoch``; every process gets
    the same number of batches, so their updates stay in step."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    batches = bucket_batches(lengths, max_samples=max_samples, num_buckets=num_buckets, generator=generator)
    per_process = len(batches) // world if world > 1 else len(batches)
    if per_process == 0:
        raise SerkitError(
            f"pretrain: {len(batches)} batches cannot feed {world} processes; add audio or lower "
            "seconds_per_batch."
        )
    return batches[rank::world][:per_process]


class CroppedBatches(torch.utils.data.Dataset):
    """Batch ``i`` of an epoch: loaded, normalised and cropped with a generator seeded by ``seed`` and ``i``.

    An item is ``{"waveforms": (batch, samples) float32, "labels": (batch, frames) int64}``.
    """

    def __init__(
        self,
        items: list[LabelledUtterance],
        batches: list[list[int]],
        *,
        receptive: int,
        stride: int,
        sample_rate: int,
        normalize: bool,
        seed: int,
    ) -> None:
        self.items, self.batches = items, batches
        self.receptive, self.stride, self.sample_rate = receptive, stride, sample_rate
        self.normalize, self.seed = normalize, seed

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        from serkit.audio import io as audio_io

        waveforms, labels = [], []
        for item in (self.items[i] for i in self.batches[index]):
            waveform = audio_io.load(item.path, self.sample_rate)
            if len(waveform) != item.num_samples:
                raise SerkitError(
                    f"{item.path}: {len(waveform)} samples, but the label list says "
                    f"{item.num_samples}; the audio changed since the features were extracted."
                )
            if self.normalize:
                waveform = (waveform - waveform.mean()) / np.sqrt(waveform.var() + 1e-7)
            waveforms.append(waveform.astype(np.float32))
            labels.append(item.labels)
        generator = torch.Generator().manual_seed(self.seed + 7919 * index)
        audio, targets = crop_batch(
            waveforms, labels, receptive=self.receptive, stride=self.stride, generator=generator
        )
        return {"waveforms": audio, "labels": targets}


def batch_loader(
    items: list[LabelledUtterance],
    batches: list[list[int]],
    *,
    receptive: int,
    stride: int,
    sample_rate: int,
    normalize: bool,
    seed: int,
    num_workers: int = 0,
    start: int = 0,
) -> torch.utils.data.DataLoader:
    """A loader of :class:`CroppedBatches` from batch ``start`` on (a run resumed in the middle of an epoch)."""
    dataset = CroppedBatches(
        items,
        batches,
        receptive=receptive,
        stride=stride,
        sample_rate=sample_rate,
        normalize=normalize,
        seed=seed,
    )
    return torch.utils.data.DataLoader(
        dataset, batch_size=None, sampler=range(start, len(batches)), num_workers=num_workers
    )
