"""Stage ``features``: layer-k hidden states of every utterance of a list, in shards (SEEDS.md 5.3a).

The encoder runs in eval mode through :func:`serkit.models.ssl.encode_waveforms`, so no time masking is applied
while extracting (the original's ``inference()`` masked frames whenever the config had ``mask_time_prob > 0``),
and each utterance is encoded whole, as the original did. Layout of the output folder::

    index.json           model, layer, frame geometry, shard count and the utterances (id, path) in order
    shard003.npy         (frames, hidden_dim) float32: the frames of the shard's utterances, concatenated
    shard003.json        the shard's ids, samples and frames per utterance (written last: the shard is done)

Shard ``r`` of ``R`` holds a contiguous slice of the list. A finished shard is never recomputed, so an interrupted
run continues where it stopped, and shards can be computed by separate processes or machines (``--shard r``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from serkit.core.errors import SerkitError
from serkit.core.fileio import atomic_open, atomic_write_json
from serkit.data.utterance import Utterance

__all__ = ["FeatureStore", "extract_features", "shard_slices"]

logger = logging.getLogger(__name__)


def shard_slices(count: int, num_shards: int) -> list[slice]:
    """Contiguous, nearly equal slices of ``count`` items for ``num_shards`` shards."""
    if num_shards < 1:
        raise ValueError(f"num_shards={num_shards} must be at least 1.")
    return [slice(r * count // num_shards, (r + 1) * count // num_shards) for r in range(num_shards)]


def _shard_name(shard: int) -> str:
    return f"shard{shard:03d}"


@dataclass(frozen=True)
class _Entry:
    shard: int
    offset: int
    num_samples: int
    num_frames: int
    path: str


class FeatureStore:
    """A finished feature folder: frames per utterance id, read lazily (memory-mapped)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        index_path = self.root / "index.json"
        if not index_path.is_file():
            raise SerkitError(
                f"{self.root}: not a feature folder (no index.json); run `serkit hubert features` first."
            )
        self.index = json.loads(index_path.read_text(encoding="utf-8"))
        missing = [
            r for r in range(self.index["num_shards"]) if not (self.root / f"{_shard_name(r)}.json").is_file()
        ]
        if missing:
            raise SerkitError(
                f"{self.root}: shard(s) {missing} are not finished; rerun `serkit hubert features` "
                "with the same arguments (finished shards are kept)."
            )
        self.entries: dict[str, _Entry] = {}
        paths = {u["id"]: u["path"] for u in self.index["utterances"]}
        for shard in range(self.index["num_shards"]):
            info = json.loads((self.root / f"{_shard_name(shard)}.json").read_text(encoding="utf-8"))
            offset = 0
            for utt_id, samples, frames in zip(info["ids"], info["num_samples"], info["num_frames"]):
                self.entries[utt_id] = _Entry(shard, offset, samples, frames, paths[utt_id])
                offset += frames
        self._arrays: dict[int, np.ndarray] = {}

    @property
    def ids(self) -> list[str]:
        return [u["id"] for u in self.index["utterances"]]

    @property
    def hidden_dim(self) -> int:
        return int(self.index["hidden_dim"])

    def entry(self, utt_id: str) -> _Entry:
        if utt_id not in self.entries:
            raise SerkitError(
                f"{self.root}: utterance {utt_id!r} has no features; extract features for a list "
                "that contains it."
            )
        return self.entries[utt_id]

    def frames(self, utt_id: str) -> np.ndarray:
        """(frames, hidden_dim) float32 of one utterance."""
        entry = self.entry(utt_id)
        if entry.shard not in self._arrays:
            self._arrays[entry.shard] = np.load(
                self.root / f"{_shard_name(entry.shard)}.npy", mmap_mode="r", allow_pickle=False
            )
        return np.asarray(self._arrays[entry.shard][entry.offset : entry.offset + entry.num_frames])

    def iter_frames(self, ids: Sequence[str] | None = None) -> Iterator[tuple[str, np.ndarray]]:
        for utt_id in self.ids if ids is None else ids:
            yield utt_id, self.frames(utt_id)


def _check_index(root: Path, index: dict) -> None:
    """An existing folder must hold the same extraction, so that finished shards can be reused."""
    path = root / "index.json"
    if not path.is_file():
        return
    old = json.loads(path.read_text(encoding="utf-8"))
    for key in ("model", "layer", "num_shards", "utterances"):
        if old.get(key) != index[key]:
            raise SerkitError(
                f"{root} holds features of another extraction ({key} differs: {old.get(key)!r:.80} vs "
                f"{index[key]!r:.80}); use another output folder or delete this one."
            )


def extract_features(
    utterances: Sequence[Utterance],
    out_dir: str | Path,
    *,
    model: str,
    layer: int,
    num_shards: int = 1,
    shards: Sequence[int] | None = None,
    device: str = "cpu",
    sample_rate: int = 16000,
    progress: bool = True,
) -> Path:
    """Hidden states ``hidden_states[layer]`` (0 = projected CNN output, k = transformer layer k) per utterance.

    Args:
        utterances: the list to encode (ids unique); its order fixes the shards.
        out_dir: the feature folder (see the module docstring); finished shards in it are kept.
        model: hub name or ``save_pretrained`` folder of the encoder.
        layer: hidden-state index (CPT-HuBERT: 9).
        num_shards: slices of the list, each written as one file.
        shards: which shards this call computes (default all): separate processes can share the work.
        device: torch device of the encoder.

    Returns:
        ``out_dir``.
    """
    from tqdm.auto import tqdm

    from serkit.audio import io as audio_io
    from serkit.backbones.hf import (
        encode_waveforms,
        load_audio_encoder,
        load_feature_extractor,
        resolve_model_path,
    )
    from serkit.core.progress import progress_enabled

    root = Path(out_dir)
    ids = [u.id for u in utterances]
    if len(set(ids)) != len(ids):
        raise SerkitError("features: utterance ids repeat in the list; ids must be unique.")
    if not utterances:
        raise SerkitError("features: the utterance list is empty.")
    slices = shard_slices(len(utterances), num_shards)
    chosen = list(range(num_shards)) if shards is None else list(shards)
    bad = [r for r in chosen if not 0 <= r < num_shards]
    if bad:
        raise ValueError(f"features: shard(s) {bad} out of range 0..{num_shards - 1}.")
    where = resolve_model_path(model)
    index = {
        "model": where,
        "layer": layer,
        "num_shards": num_shards,
        "sample_rate": sample_rate,
        "utterances": [{"id": u.id, "path": str(u.path)} for u in utterances],
    }
    _check_index(root, index)
    if all((root / f"{_shard_name(r)}.json").is_file() for r in chosen):
        logger.info("features: %s already done", root)
        return root
    encoder = load_audio_encoder(where, freeze=True, device=device)  # eval mode: no masking, no dropout
    extractor = load_feature_extractor(where)
    index.update(
        hidden_dim=int(encoder.config.hidden_size),
        conv_kernel=list(encoder.config.conv_kernel),
        conv_stride=list(encoder.config.conv_stride),
    )
    atomic_write_json(root / "index.json", index)
    for shard in chosen:
        done = root / f"{_shard_name(shard)}.json"
        if done.is_file():
            logger.info("features: %s already done", done)
            continue
        part = utterances[slices[shard]]
        arrays, samples = [], []
        for utt in tqdm(
            part,
            desc=f"features shard {shard + 1}/{num_shards}",
            leave=False,
            disable=not progress_enabled(progress),
        ):
            waveform = audio_io.load(utt.path, sample_rate)
            (frames,) = encode_waveforms(encoder, extractor, [waveform], sample_rate=sample_rate, layer=layer)
            arrays.append(frames.astype(np.float32, copy=False))
            samples.append(len(waveform))
        stacked = np.concatenate(arrays, axis=0) if arrays else np.zeros((0, index["hidden_dim"]), np.float32)
        with atomic_open(root / f"{_shard_name(shard)}.npy", "wb") as handle:
            np.save(handle, stacked, allow_pickle=False)
        atomic_write_json(
            done,
            {"ids": [u.id for u in part], "num_samples": samples, "num_frames": [len(a) for a in arrays]},
        )
    return root
