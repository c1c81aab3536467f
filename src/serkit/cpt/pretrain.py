"""Stage ``pretrain``: HuBERT masked prediction on frame pseudo-labels, on Accelerate (SEEDS.md 5.3b, 5.4).

The model (:class:`HubertPretrainModel`) is a Hugging Face encoder plus HuBERT's logit generator: the last hidden
states are projected to ``final_dim`` (256) and compared with one learned embedding per cluster by cosine
similarity divided by a temperature (0.1). The loss (:func:`masked_prediction_loss`, torchaudio's ``hubert_loss``
with ``reduction="sum"``) is the cross-entropy of the masked frames, plus the unmasked frames with weight 0, plus
``10 * mean(CNN features ** 2)`` per masked frame, and is divided by the number of masked frames of all processes
(times the number of processes, because DDP averages gradients). The original's logits put the target embedding in
column 0 and set its duplicate among the negatives to minus infinity; that is the same softmax as plain
cross-entropy over the clusters, which is what is computed here.

Training follows the original recipe: convolutional front end frozen, masks of 10 frames with probability 0.8,
AdamW (betas 0.9/0.98, eps 1e-6, weight decay 0.01), learning rate 5e-4 warmed up linearly over 4000 updates and
decayed linearly to 0 at 20000, gradient norm clipped at 10, mixed precision where a GPU is present, batches of
similar lengths up to 87.5 s of audio (1000 length buckets), utterances of 1 s to 15.6 s. In a batch every waveform
is cropped to the shortest one at a random offset that is a multiple of the encoder's stride (320 samples for HuBERT),
so the cropped frames are exactly the original frames ``offset / stride ...`` and their labels are a slice of the
utterance's labels. ``accelerate launch`` runs it on several GPUs or nodes with no change: each process takes every
``num_processes``-th batch.

Output folder::

    config.yaml        the resolved settings, starting model and label lists
    state.pt           resume state (model, optimizer, schedule, scaler, position), every ``save_every`` updates
    best_valid.pt      weights with the lowest validation loss (per epoch); best_train.pt: lowest training loss
    last.pt            weights after the last update
    history.json       one record per epoch;   done.json: written when ``max_updates`` are reached

Every random draw (batch order, crops, masks, dropout) depends only on (seed, epoch, update), so a run that is
killed and restarted ends with the same weights as one that was not.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from serkit.config import from_dict, read_yaml, to_dict, write_yaml
from serkit.core.errors import SerkitError
from serkit.core.fileio import atomic_write_json
from serkit.cpt.labels import LabelledUtterance, read_label_list
from serkit.cpt.masking import span_mask
from serkit.training.checkpoint import load_checkpoint, save_checkpoint

__all__ = ["HubertPretrainModel", "PretrainConfig", "bucket_batches", "cosine_logits", "crop_batch",
           "frame_geometry", "load_pretrain_config", "masked_prediction_loss", "pretrain"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PretrainConfig:
    """Settings of one pre-training run; defaults are the original's (``train.py`` of HFLEA, torchaudio's recipe).

    ``num_classes`` must equal the k-means cluster count of the labels. ``precision``: Accelerate's mixed
    precision (``no``, ``fp16``, ``bf16``; the original used fp16 on GPUs; without a GPU it runs in float32, with
    a warning). ``save_every``: updates between resume
    states. ``normalize_waveform``: None follows the starting model's feature extractor (``do_normalize``).
    """

    num_classes: int = 0
    max_updates: int = 20000
    warmup_updates: int = 4000
    lr: float = 5e-4
    betas: tuple[float, ...] = (0.9, 0.98)
    eps: float = 1e-6
    weight_decay: float = 0.01
    clip_norm: float = 10.0
    seconds_per_batch: float = 87.5
    min_samples: int = 16000
    max_samples: int = 250000
    num_buckets: int = 1000
    mask_prob: float = 0.8
    mask_length: int = 10
    mask_min_masks: int = 2
    final_dim: int = 256
    logit_temperature: float = 0.1
    masked_weight: float = 1.0
    unmasked_weight: float = 0.0
    feature_weight: float = 10.0
    freeze_feature_encoder: bool = True
    precision: str = "no"
    seed: int = 0
    save_every: int = 500
    num_workers: int = 0
    sample_rate: int = 16000
    normalize_waveform: bool | None = None
    threads: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        if self.max_updates < 1 or self.warmup_updates < 0 or self.warmup_updates > self.max_updates:
            raise ValueError(f"max_updates={self.max_updates}, warmup_updates={self.warmup_updates}: need "
                             "max_updates >= 1 and 0 <= warmup_updates <= max_updates.")
        if len(self.betas) != 2:
            raise ValueError(f"betas={self.betas}: give two numbers, e.g. [0.9, 0.98].")
        if self.precision not in ("no", "fp16", "bf16"):
            raise ValueError(f"precision={self.precision!r}: use no, fp16 or bf16.")
        if self.min_samples > self.max_samples:
            raise ValueError(f"min_samples={self.min_samples} > max_samples={self.max_samples}.")


# --------------------------------------------------------------------------------------------------------------------
# Model and loss
# --------------------------------------------------------------------------------------------------------------------


def cosine_logits(projected: torch.Tensor, label_embeddings: torch.Tensor, temperature: float) -> torch.Tensor:
    """projected (..., final_dim), label_embeddings (num_classes, final_dim) -> (..., num_classes)
    ``cos(x, e_c) / temperature``, computed in float32."""
    x = F.normalize(projected.float(), dim=-1, eps=1e-8)
    e = F.normalize(label_embeddings.float(), dim=-1, eps=1e-8)
    return x @ e.T / temperature


def masked_prediction_loss(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor,
                           feature_penalty: torch.Tensor, *, masked_weight: float = 1.0,
                           unmasked_weight: float = 0.0, feature_weight: float = 10.0
                           ) -> tuple[torch.Tensor, int]:
    """HuBERT's loss, summed (torchaudio ``hubert_loss(..., reduction="sum")``).

    ``masked_weight * CE_sum(masked frames) + unmasked_weight * CE_sum(other frames)
    + feature_weight * feature_penalty * num_masked``.

    Args:
        logits: (batch, frames, num_classes). targets: (batch, frames) cluster ids. mask: (batch, frames) True
            where masked. feature_penalty: () mean of the squared CNN features.

    Returns:
        the summed loss () and the number of masked frames (divide by it, over all processes, for the mean).
    """
    num_masked = int(mask.sum())
    flat_logits, flat_targets = logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)
    flat_mask = mask.reshape(-1)
    loss = feature_penalty.float() * feature_weight * num_masked
    if num_masked:
        loss = loss + masked_weight * F.cross_entropy(flat_logits[flat_mask], flat_targets[flat_mask],
                                                      reduction="sum")
    if unmasked_weight and bool((~flat_mask).any()):
        loss = loss + unmasked_weight * F.cross_entropy(flat_logits[~flat_mask], flat_targets[~flat_mask],
                                                        reduction="sum")
    return loss, num_masked


class HubertPretrainModel(nn.Module):
    """A wav2vec2-style encoder + HuBERT's projection and label embeddings.

    Args:
        encoder: e.g. ``HubertModel``, with a mask embedding (``masked_spec_embed``).
        num_classes: clusters. final_dim: projection width (256). temperature: of the cosine logits (0.1).
    """

    def __init__(self, encoder: nn.Module, *, num_classes: int, final_dim: int = 256,
                 temperature: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        self.final_proj = nn.Linear(int(encoder.config.hidden_size), final_dim)
        self.label_embeddings = nn.Parameter(torch.empty(num_classes, final_dim).uniform_())
        self.temperature = temperature
        self._cnn_output: list[torch.Tensor] = []
        encoder.feature_extractor.register_forward_hook(self._keep_cnn_output)

    def _keep_cnn_output(self, _module: nn.Module, _args: Any, output: torch.Tensor) -> None:
        self._cnn_output.append(output)

    def forward(self, waveforms: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """waveforms (batch, samples) of equal length, mask (batch, frames) ->
        logits (batch, frames, num_classes), feature penalty () = mean of the squared CNN output."""
        self._cnn_output.clear()
        hidden = self.encoder(waveforms, mask_time_indices=mask).last_hidden_state  # (batch, frames, hidden_dim)
        (features,) = self._cnn_output  # (batch, conv_dim, frames)
        self._cnn_output.clear()
        logits = cosine_logits(self.final_proj(hidden), self.label_embeddings, self.temperature)
        return logits, features.float().pow(2).mean()


# --------------------------------------------------------------------------------------------------------------------
# Batches: buckets by length, crops aligned to the encoder's stride
# --------------------------------------------------------------------------------------------------------------------


def frame_geometry(config: Any) -> tuple[int, int]:
    """(receptive field, stride) in samples of an encoder's convolutional front end (HuBERT: 400, 320)."""
    receptive, stride = 1, 1
    for kernel, step in zip(config.conv_kernel, config.conv_stride):
        receptive += (int(kernel) - 1) * stride
        stride *= int(step)
    return receptive, stride


def bucket_batches(lengths: Sequence[int], *, max_samples: int, num_buckets: int,
                   generator: torch.Generator) -> list[list[int]]:
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


def crop_batch(waveforms: Sequence[np.ndarray], labels: Sequence[np.ndarray], *, receptive: int, stride: int,
               generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Crop every waveform to the shortest, at a random multiple of ``stride``, and its labels to match.

    Frame ``t`` of a waveform covers samples ``[t * stride, t * stride + receptive)``; cropping at
    ``k * stride`` makes the cropped frame ``t`` the original frame ``k + t``, so the labels are ``labels[k:k + n]``.

    Returns:
        waveforms (batch, samples) float32, labels (batch, frames) int64.
    """
    shortest = min(len(w) for w in waveforms)
    num_frames = (shortest - receptive) // stride + 1
    if num_frames < 1:
        raise ValueError(f"a waveform of {shortest} samples is shorter than the receptive field ({receptive}).")
    crops, crop_labels = [], []
    for waveform, label in zip(waveforms, labels):
        steps = (len(waveform) - shortest) // stride
        k = int(torch.randint(steps + 1, (), generator=generator)) if steps > 0 else 0
        crops.append(torch.from_numpy(np.ascontiguousarray(waveform[k * stride: k * stride + shortest])))
        crop_labels.append(torch.from_numpy(np.ascontiguousarray(label[k: k + num_frames])))
    return torch.stack(crops).float(), torch.stack(crop_labels).long()


class _Batches(torch.utils.data.Dataset):
    """Batch ``i`` of an epoch: loaded, normalised and cropped with a generator seeded by (seed, epoch, i)."""

    def __init__(self, items: list[LabelledUtterance], batches: list[list[int]], *, receptive: int, stride: int,
                 sample_rate: int, normalize: bool, seed: int) -> None:
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
                raise SerkitError(f"{item.path}: {len(waveform)} samples, but the label list says "
                                  f"{item.num_samples}; the audio changed since the features were extracted.")
            if self.normalize:
                waveform = (waveform - waveform.mean()) / np.sqrt(waveform.var() + 1e-7)
            waveforms.append(waveform.astype(np.float32))
            labels.append(item.labels)
        generator = torch.Generator().manual_seed(self.seed + 7919 * index)
        audio, targets = crop_batch(waveforms, labels, receptive=self.receptive, stride=self.stride,
                                    generator=generator)
        return {"waveforms": audio, "labels": targets}


# --------------------------------------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------------------------------------


def _load_items(path: str | Path, config: PretrainConfig, receptive: int, stride: int, what: str
                ) -> list[LabelledUtterance]:
    items = read_label_list(path)
    for item in items:
        expected = max(0, (item.num_samples - receptive) // stride + 1)
        if len(item.labels) != expected:
            raise SerkitError(f"{path}: {item.id} has {len(item.labels)} labels but the encoder gives {expected} "
                              f"frames for {item.num_samples} samples; labels and starting model must have the same "
                              "front end (kernel/stride).")
        if len(item.labels) and int(item.labels.max()) >= config.num_classes:
            raise SerkitError(f"{path}: {item.id} has cluster id {int(item.labels.max())} >= num_classes="
                              f"{config.num_classes}; set num_classes to the k-means cluster count.")
    kept = [i for i in items if config.min_samples <= i.num_samples <= config.max_samples]
    if len(kept) < len(items):
        logger.info("pretrain: %d of %d %s utterances outside %d..%d samples left out", len(items) - len(kept),
                    len(items), what, config.min_samples, config.max_samples)
    if not kept and what == "training":
        raise SerkitError(f"{path}: no utterance between {config.min_samples} and {config.max_samples} samples.")
    return kept


def _schedule(config: PretrainConfig):
    def factor(step: int) -> float:  # step = updates done so far
        if config.warmup_updates and step < config.warmup_updates:
            return (step + 1) / config.warmup_updates
        return max(0.0, (config.max_updates - step) / max(1, config.max_updates - config.warmup_updates))

    return factor


def _epoch_batches(items: list[LabelledUtterance], config: PretrainConfig, epoch: int, rank: int, world: int
                   ) -> list[list[int]]:
    generator = torch.Generator().manual_seed(config.seed * 1_000_003 + epoch)
    batches = bucket_batches([i.num_samples for i in items],
                             max_samples=int(config.seconds_per_batch * config.sample_rate),
                             num_buckets=config.num_buckets, generator=generator)
    per_process = len(batches) // world if world > 1 else len(batches)
    if per_process == 0:
        raise SerkitError(f"pretrain: {len(batches)} batches cannot feed {world} processes; add audio or lower "
                          "seconds_per_batch.")
    return batches[rank::world][:per_process]


def _loader(items, batches, config: PretrainConfig, receptive, stride, normalize, seed, start: int = 0):
    dataset = _Batches(items, batches, receptive=receptive, stride=stride, sample_rate=config.sample_rate,
                       normalize=normalize, seed=seed)
    return torch.utils.data.DataLoader(dataset, batch_size=None, sampler=range(start, len(batches)),
                                       num_workers=config.num_workers)


def _step_loss(model, batch, config: PretrainConfig, accelerator, stride_frames, generator):
    waveforms, labels = batch["waveforms"].to(accelerator.device), batch["labels"].to(accelerator.device)
    frames = torch.full((len(labels),), labels.shape[1], dtype=torch.long)
    mask = span_mask(frames, max_frames=labels.shape[1], mask_prob=config.mask_prob, mask_length=config.mask_length,
                     min_masks=config.mask_min_masks, generator=generator).to(accelerator.device)
    with accelerator.autocast():
        logits, penalty = model(waveforms, mask)
    loss_sum, num_masked = masked_prediction_loss(logits, labels, mask, penalty, masked_weight=config.masked_weight,
                                                  unmasked_weight=config.unmasked_weight,
                                                  feature_weight=config.feature_weight)
    correct = int((logits.argmax(-1)[mask] == labels[mask]).sum())
    return loss_sum, num_masked, correct


@torch.no_grad()
def _validate(model, items, config, accelerator, receptive, stride, normalize) -> dict[str, float]:
    if not items:
        return {}
    model.eval()
    batches = _epoch_batches(items, config, -1, accelerator.process_index, accelerator.num_processes)
    total = torch.zeros(3, dtype=torch.float64, device=accelerator.device)
    generator = torch.Generator().manual_seed(config.seed + 17)  # the same masks every epoch: comparable losses
    for batch in _loader(items, batches, config, receptive, stride, normalize, config.seed + 31):
        loss_sum, num_masked, correct = _step_loss(model, batch, config, accelerator, stride, generator)
        total += torch.tensor([loss_sum.item(), num_masked, correct], dtype=torch.float64, device=total.device)
    total = accelerator.reduce(total, reduction="sum")
    model.train()
    count = max(1.0, float(total[1]))
    return {"val_loss": float(total[0]) / count, "val_masked_accuracy": float(total[2]) / count}


def _encoder_for(init: str, config: PretrainConfig) -> nn.Module:
    import transformers

    from serkit.models.hubert import freeze_front_end, load_encoder
    from serkit.models.ssl import resolve_model_path

    try:
        base = transformers.AutoConfig.from_pretrained(resolve_model_path(init))
    except OSError as exc:
        raise SerkitError(f"pretrain: cannot read the config of {init!r} ({exc}); offline, give a local folder.") \
            from None
    # the mask embedding exists only when the config's mask_time_prob > 0; the spans themselves are ours
    overrides = {} if getattr(base, "mask_time_prob", 0.0) > 0 else {"mask_time_prob": config.mask_prob}
    encoder = load_encoder(init, overrides=overrides)
    if getattr(encoder, "masked_spec_embed", None) is None:
        raise SerkitError(f"pretrain: {type(encoder).__name__} of {init!r} has no mask embedding.")
    if config.freeze_feature_encoder:
        freeze_front_end(encoder)
    return encoder


def _weights(model: HubertPretrainModel, meta: dict[str, Any]) -> dict[str, Any]:
    return {**meta, "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}}


def pretrain(config: PretrainConfig, *, init: str, train_labels: str | Path, out_dir: str | Path,
             valid_labels: str | Path | None = None) -> dict[str, Any]:
    """Pre-train ``init`` (hub name or folder) on the label lists; resumable. Returns the final record.

    Raises:
        SerkitError: the folder holds another run, or the lists do not fit the model (see :func:`_load_items`).
    """
    from accelerate import Accelerator, DistributedDataParallelKwargs

    from serkit.models.ssl import load_feature_extractor

    if config.num_classes < 1:
        raise SerkitError("pretrain: set num_classes to the k-means cluster count (500 for TAPT, 50 for CPT).")
    out_dir = Path(out_dir)
    done_path = out_dir / "done.json"
    resolved = {"init": str(init), "train_labels": str(Path(train_labels).resolve()),
                "valid_labels": str(Path(valid_labels).resolve()) if valid_labels else "",
                "settings": {k: v for k, v in to_dict(config).items() if k not in ("progress", "threads",
                                                                                    "num_workers")}}
    saved = out_dir / "config.yaml"
    if saved.is_file():
        old = read_yaml(saved)
        old["settings"] = {k: v for k, v in old.get("settings", {}).items()
                           if k not in ("progress", "threads", "num_workers")}
        if old != json.loads(json.dumps(resolved)):
            raise SerkitError(f"{out_dir} holds another pre-training run (see {saved}); use a new folder or "
                              "delete it.")
    if done_path.is_file():
        logger.info("pretrain: %s already done", out_dir)
        return json.loads(done_path.read_text(encoding="utf-8"))
    write_yaml(saved, {**resolved, "settings": to_dict(config)})
    if config.threads > 0:
        torch.set_num_threads(config.threads)

    precision = config.precision
    if precision != "no" and not torch.cuda.is_available():
        logger.warning("pretrain: precision=%s needs a GPU; running in float32 on the CPU", precision)
        precision = "no"
    # layer drop skips whole layers at random, so DDP must allow parameters without a gradient in a step
    accelerator = Accelerator(cpu=not torch.cuda.is_available(), mixed_precision=precision,
                              kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)])
    torch.manual_seed(config.seed)  # initialisation of the projection and label embeddings
    encoder = _encoder_for(init, config)
    receptive, stride = frame_geometry(encoder.config)
    normalize = config.normalize_waveform
    if normalize is None:
        normalize = bool(getattr(load_feature_extractor(init), "do_normalize", True))
    train_items = _load_items(train_labels, config, receptive, stride, "training")
    valid_items = _load_items(valid_labels, config, receptive, stride, "validation") if valid_labels else []
    model = HubertPretrainModel(encoder, num_classes=config.num_classes, final_dim=config.final_dim,
                                temperature=config.logit_temperature)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.lr,
                                  betas=tuple(config.betas), eps=config.eps, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(config))
    model, optimizer = accelerator.prepare(model, optimizer)
    plain = accelerator.unwrap_model(model)
    meta = {"encoder_config": plain.encoder.config.to_dict(), "num_classes": config.num_classes,
            "final_dim": config.final_dim, "init": str(init), "normalize_waveform": normalize,
            "sample_rate": config.sample_rate}

    step, epoch, position = 0, 0, 0
    history: list[dict[str, Any]] = []
    best = {"valid": math.inf, "train": math.inf}
    epoch_total = [0.0, 0.0]
    state_path = out_dir / "state.pt"
    if state_path.is_file():
        state = load_checkpoint(state_path, require=("model", "optimizer", "step"))
        plain.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        if accelerator.scaler is not None and state.get("scaler"):
            accelerator.scaler.load_state_dict(state["scaler"])
        step, epoch, position = state["step"], state["epoch"], state["position"]
        history, best, epoch_total = state["history"], state["best"], state["epoch_total"]
        logger.info("pretrain: resuming %s at update %d (epoch %d, batch %d)", out_dir, step, epoch, position)

    def save_state() -> None:
        if accelerator.is_main_process:
            save_checkpoint(state_path, {
                "model": plain.state_dict(), "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
                "scaler": accelerator.scaler.state_dict() if accelerator.scaler is not None else {},
                "step": step, "epoch": epoch, "position": position, "history": history, "best": best,
                "epoch_total": epoch_total})
        accelerator.wait_for_everyone()

    from tqdm.auto import tqdm

    from serkit.core.progress import progress_enabled

    bar = tqdm(total=config.max_updates, initial=step, desc="pretrain", leave=False,
               disable=not progress_enabled(config.progress) or not accelerator.is_local_main_process)
    model.train()
    while step < config.max_updates:
        batches = _epoch_batches(train_items, config, epoch, accelerator.process_index, accelerator.num_processes)
        loader = _loader(train_items, batches, config, receptive, stride, normalize,
                         config.seed * 1_000_003 + epoch, start=position)
        for batch in loader:
            torch.manual_seed(config.seed * 1_000_003 + step)  # dropout and layer drop of this update
            generator = torch.Generator().manual_seed(config.seed * 1_000_003 + step + 11)
            loss_sum, num_masked, _ = _step_loss(model, batch, config, accelerator, stride, generator)
            global_masked = accelerator.reduce(torch.tensor(float(num_masked), device=accelerator.device), "sum")
            loss = loss_sum * accelerator.num_processes / global_masked.clamp_min(1.0)
            optimizer.zero_grad(set_to_none=True)
            accelerator.backward(loss)
            if config.clip_norm:
                accelerator.clip_grad_norm_(model.parameters(), config.clip_norm)
            optimizer.step()
            schedule.step()
            step, position = step + 1, position + 1
            epoch_total = [epoch_total[0] + loss_sum.item(), epoch_total[1] + num_masked]
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item() / accelerator.num_processes:.3f}")
            if step % config.save_every == 0 and step < config.max_updates:
                save_state()
            if step >= config.max_updates:
                break
        # end of an epoch (or of training): evaluate and keep the best weights
        record = {"epoch": epoch + 1, "step": step, "train_loss": epoch_total[0] / max(1.0, epoch_total[1]),
                  "lr": optimizer.param_groups[0]["lr"],
                  **_validate(model, valid_items, config, accelerator, receptive, stride, normalize)}
        history.append(record)
        logger.info("pretrain epoch %d: %s", epoch + 1, ", ".join(f"{k}={v:.4g}" for k, v in record.items()))
        if accelerator.is_main_process:
            if "val_loss" in record and record["val_loss"] < best["valid"]:
                best["valid"] = record["val_loss"]
                save_checkpoint(out_dir / "best_valid.pt", _weights(plain, {**meta, **record}))
            if record["train_loss"] < best["train"]:
                best["train"] = record["train_loss"]
                save_checkpoint(out_dir / "best_train.pt", _weights(plain, {**meta, **record}))
        epoch, position, epoch_total = epoch + 1, 0, [0.0, 0.0]
        save_state()
    bar.close()
    final = {"steps": step, "epochs": epoch, "history": history, "best_valid_loss": best["valid"],
             "best_train_loss": best["train"]}
    if accelerator.is_main_process:
        save_checkpoint(out_dir / "last.pt", _weights(plain, {**meta, "step": step}))
        atomic_write_json(out_dir / "history.json", history)
        atomic_write_json(done_path, {k: (None if isinstance(v, float) and math.isinf(v) else v)
                                      for k, v in final.items()})
    accelerator.wait_for_everyone()
    return final


def load_pretrain_config(path: str | Path | None, overrides: list[str] | None = None,
                         base: dict[str, Any] | None = None) -> PretrainConfig:
    """A :class:`PretrainConfig` from a YAML mapping (optional) plus ``key=value`` overrides."""
    from serkit.config import apply_overrides

    data = dict(base or {})
    if path is not None:
        data.update(read_yaml(path))
    return from_dict(PretrainConfig, apply_overrides(data, overrides))


