"""Frozen self-supervised speech representations (wav2vec2, HuBERT, WavLM, data2vec-audio) as features.

Two ways to use them:

* In a recipe, as the feature ``ssl`` (:class:`SSLConfig`)::

      features: {name: ssl, model: /models/wav2vec2-large-xlsr-korean, layer: -1}
      input: {mode: utterance, normalize: none, max_seconds: 10.24}

  The pipeline computes each utterance once and the feature cache keeps the ``(frames, hidden_dim)`` array on
  disk (``.npy``, no pickle), keyed by the audio bytes and this config (which includes a fingerprint of the model
  folder, so replacing the weights invalidates the cache). Frames come first (``frame_axis = 1``):
  ``compute`` returns ``(batch, frames, hidden_dim)``, or ``(batch, frames, num_layers + 1, hidden_dim)`` with
  ``layers: all``.

* Offline, for a whole manifest: :func:`extract_ssl` (``serkit features ssl MANIFEST --model M -o DIR``) writes
  one ``<DIR>/<id>.safetensors`` (tensor ``hidden_states``) per utterance plus ``index.csv`` and
  ``extraction.json``. Utterances are sorted by duration and batched up to a budget of audio seconds (bounded
  memory); a rerun skips utterances already written, so an interrupted extraction resumes. With
  ``cache_dir`` it also fills the recipe feature cache, so a later ``serkit train`` with the same feature and
  ``input.mode: utterance`` reads them instead of running the encoder again.

The encoder runs in eval mode without gradients (no dropout noise in the features) on ``device``.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from serkit.backbones import hf
from serkit.core.fileio import atomic_open, atomic_write_json, atomic_write_text
from serkit.features.base import FEATURES, FeatureConfig
from serkit.features.validation import as_waveform_batch

__all__ = ["INDEX_COLUMNS", "SSLConfig", "extract_ssl", "load_embedding", "read_index"]

logger = logging.getLogger(__name__)

#: Columns of ``index.csv`` written by :func:`extract_ssl`.
INDEX_COLUMNS = ("utt_id", "file", "frames", "samples", "path")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,150}$")


@functools.lru_cache(maxsize=4)
def _encoder(model: str, device: str) -> tuple[Any, Any]:
    """One frozen encoder and feature extractor per (model, device) and process."""
    return hf.load_audio_encoder(model, freeze=True, device=device), hf.load_feature_extractor(model)


@functools.lru_cache(maxsize=16)
def _model_config(model: str) -> Any:
    try:
        return hf.load_config(model)
    except OSError as exc:  # not a folder, and the hub is unreachable or the name unknown
        raise ValueError(
            f"feature 'ssl': cannot load the config of model {model!r} ({exc}). Offline, give a local "
            "folder written by save_pretrained."
        ) from None


@FEATURES.register("ssl")
@dataclass(frozen=True)
class SSLConfig(FeatureConfig):
    """Hidden states of a frozen Hugging Face speech encoder.

    Options:
        model: hub name, local ``save_pretrained`` folder, or ``package:<module>``.
        layer: hidden-state index with ``layers: one``: 0 = CNN output after projection, k = transformer
            layer k, -1 = last (what CASE used: ``last_hidden_state``).
        layers: ``one`` (the ``layer``), ``mean`` (average of all hidden states) or ``all`` (stacked:
            frames of shape ``(num_layers + 1, hidden_dim)``).
        sample_rate: of the waveforms; must match the encoder's feature extractor.
        device: ``cpu``, ``cuda``, ``cuda:1``, ...
    """

    name: ClassVar[str] = "ssl"
    frame_axis: ClassVar[int] = 1

    model: str = ""
    layer: int = -1
    layers: str = "one"
    sample_rate: int = 16000
    device: str = "cpu"

    def validate(self) -> None:
        if not self.model:
            raise ValueError(
                "feature 'ssl' needs a model: a hub name (facebook/wav2vec2-base), a local folder "
                "written by save_pretrained, or package:<module>."
            )
        if self.layers not in hf.LAYER_MODES:
            raise ValueError(
                f"feature 'ssl': layers={self.layers!r}; use one of {', '.join(hf.LAYER_MODES)}."
            )
        if self.sample_rate <= 0:
            raise ValueError(f"feature 'ssl': sample_rate must be > 0, got {self.sample_rate}.")

    @property
    def feature_shape(self) -> tuple[int, ...]:
        config = _model_config(self.model)
        if self.layers == "all":
            return (config.num_hidden_layers + 1, config.hidden_size)
        return (config.hidden_size,)

    def num_frames(self, num_samples: int) -> int:
        return int(hf.frame_lengths(_model_config(self.model), int(num_samples)))

    def key(self) -> str:
        weights = hf.model_fingerprint(self.model)  # new weights under the same name: a new key
        text = json.dumps(
            {"version": self.version, **self.to_dict(), "weights": weights},
            sort_keys=True,
            separators=(",", ":"),
        )
        return f"{self.name}-v{self.version}-{hashlib.sha1(text.encode('utf-8')).hexdigest()[:12]}"

    def encode(self, waveforms: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Unpadded waveforms (samples,) -> one array per waveform (frames, *feature_shape)."""
        model, extractor = _encoder(self.model, self.device)
        return hf.encode_waveforms(
            model, extractor, waveforms, sample_rate=self.sample_rate, layer=self.layer, mode=self.layers
        )

    def compute(
        self,
        waveforms: np.ndarray | torch.Tensor,
        lengths: np.ndarray | torch.Tensor | list[int] | None = None,
    ) -> torch.Tensor:
        """(batch, samples) [+ lengths] -> (batch, frames, *feature_shape), zero past each example's frames.

        Each example is encoded from its own valid samples only (see
        :func:`serkit.backbones.hf.encode_waveforms`).
        """
        x, single = as_waveform_batch(waveforms)
        valid = [x.shape[-1]] * x.shape[0] if lengths is None else self._check_lengths(lengths, x).tolist()
        arrays = self.encode([x[i, :n].cpu().numpy() for i, n in enumerate(valid)])
        out = torch.zeros(
            (x.shape[0], self.num_frames(x.shape[-1]), *arrays[0].shape[1:]), dtype=torch.float32
        )
        for i, array in enumerate(arrays):
            out[i, : array.shape[0]] = torch.from_numpy(array)
        return out[0] if single else out

    def _compute_batch(self, waveforms: torch.Tensor) -> torch.Tensor:
        return self.compute(waveforms)


# -- offline extraction: serkit features ssl ---------------------------------------------------------------------


def _file_name(utt_id: str) -> str:
    """The utterance id if it is a safe file name, else a digest of it (ids may contain '/' or spaces)."""
    if _SAFE_NAME.match(utt_id):
        return f"{utt_id}.safetensors"
    return f"utt-{hashlib.sha1(utt_id.encode('utf-8')).hexdigest()[:16]}.safetensors"


def read_index(out_dir: str | Path) -> dict[str, dict[str, str]]:
    """Rows of ``<out_dir>/index.csv`` by utterance id (empty if there is none yet)."""
    path = Path(out_dir) / "index.csv"
    if not path.is_file():
        return {}
    with open(path, encoding="utf-8", newline="") as handle:
        return {row["utt_id"]: row for row in csv.DictReader(handle)}


def load_embedding(out_dir: str | Path, utt_id: str) -> np.ndarray:
    """The stored hidden states of one utterance: (frames, hidden_dim) float32 (safetensors: no code runs)."""
    from safetensors.numpy import load_file

    row = read_index(out_dir).get(utt_id)
    if row is None:
        raise KeyError(
            f"utterance {utt_id!r} is not in {Path(out_dir) / 'index.csv'}; run serkit features ssl."
        )
    return load_file(str(Path(out_dir) / row["file"]))["hidden_states"]


def _write_index(out_dir: Path, rows: dict[str, dict[str, Any]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=INDEX_COLUMNS)
    writer.writeheader()
    for utt_id in sorted(rows):
        writer.writerow({k: rows[utt_id][k] for k in INDEX_COLUMNS})
    atomic_write_text(out_dir / "index.csv", buffer.getvalue())


def _batches(
    durations: list[tuple[int, int]], *, batch_seconds: float, sample_rate: int, exact_only: bool
) -> list[list[int]]:
    """Group (index, samples) sorted by length into batches whose padded size stays within the budget.

    ``exact_only``: only equal lengths share a batch (models whose output depends on padding).
    """
    budget = max(1, round(batch_seconds * sample_rate))
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for index, samples in sorted(durations, key=lambda item: item[1]):
        longest_next = max(longest, samples)
        full = current and (longest_next * (len(current) + 1) > budget or (exact_only and samples != longest))
        if full:
            batches.append(current)
            current, longest_next = [], samples
        current.append(index)
        longest = longest_next
    if current:
        batches.append(current)
    return batches


def extract_ssl(
    utterances: Sequence[Any],
    out_dir: str | Path,
    *,
    model: str,
    layer: int = -1,
    layers: str = "one",
    sample_rate: int = 16000,
    max_seconds: float | None = None,
    batch_seconds: float = 60.0,
    device: str = "cpu",
    cache_dir: str | Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Encode every utterance's audio and store ``(frames, hidden_dim)`` per utterance as safetensors.

    Args:
        utterances: records with ``id`` and ``path`` (:class:`serkit.data.utterance.Utterance`).
        out_dir: gets ``<file>.safetensors`` per utterance, ``index.csv`` (:data:`INDEX_COLUMNS`) and
            ``extraction.json`` (the settings; a rerun with other settings into the same folder is refused).
        model, layer, layers, sample_rate, device: as :class:`SSLConfig`.
        max_seconds: keep only the first seconds of each utterance (bounds memory and time per utterance).
        batch_seconds: padded audio per batch (batch size x longest utterance), the memory budget.
        cache_dir: also store each result in this feature cache for recipes with ``features`` equal to this
            config and ``input: {mode: utterance, max_seconds: <same>}``.
        progress: called with (done, total) after each batch.

    Returns:
        ``{"written": n, "skipped": n_already_there, "failed": [messages], "total": n, "out_dir": str}``;
        unreadable or too-short files are left out (logged and listed in ``failed``), the rest is encoded.

    Raises:
        ValueError: bad settings, or ``out_dir`` holds an extraction with different settings.
    """
    from safetensors.numpy import save

    from serkit.audio import io as audio_io
    from serkit.core.errors import AudioError

    config = SSLConfig(model=model, layer=layer, layers=layers, sample_rate=sample_rate, device=device)
    if batch_seconds <= 0:
        raise ValueError(f"batch_seconds must be > 0, got {batch_seconds}.")
    out_dir = Path(out_dir)
    feature = {
        k: v for k, v in config.to_dict().items() if k != "device"
    }  # resuming on another device is fine
    settings = {"feature": feature, "weights": hf.model_fingerprint(model), "max_seconds": max_seconds}
    saved = out_dir / "extraction.json"
    if saved.is_file():
        previous = json.loads(saved.read_text(encoding="utf-8"))
        if previous != settings:
            raise ValueError(
                f"{out_dir} holds embeddings made with other settings ({previous}); use a new "
                "output folder or delete that one."
            )
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(saved, settings)

    rows = {k: v for k, v in read_index(out_dir).items() if (out_dir / v["file"]).is_file()}
    todo = [u for u in utterances if u.id not in rows]
    skipped = len(utterances) - len(todo)
    limit = None if max_seconds is None else round(max_seconds * sample_rate)
    encoder, extractor = _encoder(model, device)
    sizes, failed = [], []
    for position, utt in enumerate(todo):
        try:
            samples = round(audio_io.duration(utt.path) * sample_rate)
        except AudioError as exc:  # unreadable: reported, the rest is encoded
            failed.append(str(exc))
            continue
        samples = samples if limit is None else min(samples, limit)
        if int(hf.frame_lengths(encoder.config, samples)) < 1:
            failed.append(f"{utt.path}: {samples} samples are too short for one frame of this encoder")
            continue
        sizes.append((position, samples))
    for message in failed:
        logger.warning("serkit features ssl: skipping %s", message)
    exact_only = not hf.uses_attention_mask(encoder, extractor)
    batches = _batches(sizes, batch_seconds=batch_seconds, sample_rate=sample_rate, exact_only=exact_only)
    cache = pipeline = None
    if cache_dir is not None:
        from serkit.config import InputConfig
        from serkit.features.cache import FeatureCache
        from serkit.features.pipeline import InputPipeline

        pipeline = InputPipeline(
            config,
            InputConfig(sample_rate=sample_rate, mode="utterance", normalize="none", max_seconds=max_seconds),
            cache_dir=None,
        )
        cache = FeatureCache(cache_dir)
    written = 0
    for batch in batches:
        waves = []
        for position in batch:
            wave = audio_io.load(todo[position].path, sample_rate)
            waves.append(wave if limit is None else wave[:limit])
        arrays = config.encode(waves)
        for position, wave, array in zip(batch, waves, arrays):
            utt = todo[position]
            name = _file_name(utt.id)
            with atomic_open(out_dir / name, "wb") as handle:  # safetensors bytes, written whole then renamed
                handle.write(
                    save(
                        {"hidden_states": np.ascontiguousarray(array, dtype=np.float32)},
                        metadata={"utt_id": utt.id, "model": model, "layer": str(layer), "layers": layers},
                    )
                )
            if cache is not None:
                cache.get_or_compute(
                    utt.path, pipeline.cache_key(train=True), lambda array=array: array[None]
                )
            rows[utt.id] = {
                "utt_id": utt.id,
                "file": name,
                "frames": array.shape[0],
                "samples": len(wave),
                "path": str(utt.path),
            }
            written += 1
        _write_index(out_dir, rows)  # after every batch: an interrupted run resumes from here
        if progress is not None:
            progress(skipped + written, len(utterances))
    return {
        "written": written,
        "skipped": skipped,
        "failed": failed,
        "total": len(utterances),
        "out_dir": str(out_dir),
    }
