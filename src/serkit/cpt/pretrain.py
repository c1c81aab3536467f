"""Stage ``pretrain``: HuBERT masked prediction on frame pseudo-labels, on Accelerate (SEEDS.md 5.3b, 5.4).

The model and loss are in :mod:`serkit.cpt.pretrain_model`, the batches in :mod:`serkit.cpt.batching`, the settings
and the run-folder check in :mod:`serkit.cpt.pretrain_config`; this module holds the set-up and the update loop. The
summed loss of a batch is divided by the number of masked frames of all processes (times the number of processes,
because DDP averages gradients).

Training follows the original recipe: convolutional front end frozen, masks of 10 frames with probability 0.8,
AdamW (betas 0.9/0.98, eps 1e-6, weight decay 0.01), learning rate 5e-4 warmed up linearly over 4000 updates and
decayed linearly to 0 at 20000, gradient norm clipped at 10, mixed precision where a GPU is present, batches of
similar lengths up to 87.5 s of audio (1000 length buckets), utterances of 1 s to 15.6 s. ``accelerate launch``
runs it on several GPUs or nodes with no change: each process takes every ``num_processes``-th batch.

Output folder::

    config.yaml        the resolved settings, starting model and label lists
    state.pt           resume state (model, optimizer, schedule, scaler, position), every ``save_every`` updates
    best_valid.pt      weights with the lowest validation loss (per epoch); best_train.pt: lowest training loss
    last.pt            weights after the last update
    history.json       one record per epoch;   done.json: written when ``max_updates`` are reached

Every random draw (batch order, crops, masks, dropout) depends only on (seed, epoch, update), so a run that is
killed and restarted ends with the same weights as one that was not.

Why this loop is not :func:`serkit.training.engine.train_one`: it shares the optimiser and schedule factories
(:mod:`serkit.training.optim`), the Accelerator set-up (:mod:`serkit.training.accelerator`), checkpoint I/O and
progress bars with the engine, but every other part of the engine's loop differs: the budget is a number of updates
that ends inside an epoch, not epochs; batches are audio-budget buckets cropped per batch, not padded chunks of an
in-memory ``ChunkSet``; the step draws a mask per update and normalises by the masked frames of all processes;
dropout is seeded per update and the run resumes mid-epoch, where the engine seeds and resumes per epoch; validation
is a loss to minimise (and a second selection by training loss), not classification metrics to maximise; the
checkpoints hold an encoder to export, not a registry model. Running it on the engine would turn the engine into a
hook framework, which the style guide rules out (STYLE.md rule 11).
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from serkit.core.errors import SerkitError
from serkit.core.fileio import atomic_write_json
from serkit.core.values import to_dict, write_yaml
from serkit.cpt.batching import batch_loader, epoch_batches, frame_geometry
from serkit.cpt.labels import LabelledUtterance, read_label_list
from serkit.cpt.pretrain_config import PretrainConfig, claim_run_folder, load_pretrain_config, run_identity
from serkit.cpt.pretrain_model import HubertPretrainModel, masked_prediction_loss
from serkit.models.layers import span_mask
from serkit.training.checkpoint import load_checkpoint, save_checkpoint

if TYPE_CHECKING:
    from accelerate import Accelerator

__all__ = ["PretrainConfig", "load_pretrain_config", "pretrain"]

logger = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------------------------------
# Set-up: the label lists, the encoder (the run folder: serkit.cpt.pretrain_config)
# --------------------------------------------------------------------------------------------------------------------


def _load_items(
    path: str | Path, config: PretrainConfig, receptive: int, stride: int, what: str
) -> list[LabelledUtterance]:
    items = read_label_list(path)
    for item in items:
        expected = max(0, (item.num_samples - receptive) // stride + 1)
        if len(item.labels) != expected:
            raise SerkitError(
                f"{path}: {item.id} has {len(item.labels)} labels but the encoder gives {expected} "
                f"frames for {item.num_samples} samples; labels and starting model must have the same "
                "front end (kernel/stride)."
            )
        if len(item.labels) and int(item.labels.max()) >= config.num_classes:
            raise SerkitError(
                f"{path}: {item.id} has cluster id {int(item.labels.max())} >= num_classes="
                f"{config.num_classes}; set num_classes to the k-means cluster count."
            )
    kept = [i for i in items if config.min_samples <= i.num_samples <= config.max_samples]
    if len(kept) < len(items):
        logger.info(
            "pretrain: %d of %d %s utterances outside %d..%d samples left out",
            len(items) - len(kept),
            len(items),
            what,
            config.min_samples,
            config.max_samples,
        )
    if not kept and what == "training":
        raise SerkitError(
            f"{path}: no utterance between {config.min_samples} and {config.max_samples} samples."
        )
    return kept


def _encoder_for(init: str, config: PretrainConfig) -> nn.Module:
    import transformers

    from serkit.backbones.hf import resolve_model_path
    from serkit.models.hubert import freeze_front_end, load_encoder

    try:
        base = transformers.AutoConfig.from_pretrained(resolve_model_path(init))
    except OSError as exc:
        raise SerkitError(
            f"pretrain: cannot read the config of {init!r} ({exc}); offline, give a local folder."
        ) from None
    # the mask embedding exists only when the config's mask_time_prob > 0; the spans themselves are ours
    overrides = {} if getattr(base, "mask_time_prob", 0.0) > 0 else {"mask_time_prob": config.mask_prob}
    encoder = load_encoder(init, overrides=overrides)
    if getattr(encoder, "masked_spec_embed", None) is None:
        raise SerkitError(f"pretrain: {type(encoder).__name__} of {init!r} has no mask embedding.")
    if config.freeze_feature_encoder:
        freeze_front_end(encoder)
    return encoder


def _precision(config: PretrainConfig) -> str:
    if config.precision != "no" and not torch.cuda.is_available():
        logger.warning("pretrain: precision=%s needs a GPU; running in float32 on the CPU", config.precision)
        return "no"
    return config.precision


# --------------------------------------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------------------------------------


class _Data:
    """The label lists and how their batches are cut, loaded and cropped."""

    def __init__(
        self,
        config: PretrainConfig,
        train: list[LabelledUtterance],
        valid: list[LabelledUtterance],
        *,
        receptive: int,
        stride: int,
        normalize: bool,
        rank: int,
        world: int,
    ) -> None:
        self.config, self.train, self.valid = config, train, valid
        self.receptive, self.stride, self.normalize, self.rank, self.world = (
            receptive,
            stride,
            normalize,
            rank,
            world,
        )

    def loader(
        self, items: list[LabelledUtterance], epoch: int, seed: int, start: int = 0
    ) -> torch.utils.data.DataLoader:
        """Batches of ``epoch`` (-1: validation) from batch ``start`` on, cropped with draws seeded by ``seed``."""
        config = self.config
        batches = epoch_batches(
            [i.num_samples for i in items],
            seed=config.seed,
            epoch=epoch,
            max_samples=int(config.seconds_per_batch * config.sample_rate),
            num_buckets=config.num_buckets,
            rank=self.rank,
            world=self.world,
        )
        return batch_loader(
            items,
            batches,
            receptive=self.receptive,
            stride=self.stride,
            sample_rate=config.sample_rate,
            normalize=self.normalize,
            seed=seed,
            num_workers=config.num_workers,
            start=start,
        )


def _step_loss(
    model: nn.Module,
    batch: dict[str, torch.Tensor],
    config: PretrainConfig,
    accelerator: Accelerator,
    generator: torch.Generator,
) -> tuple[torch.Tensor, int, int]:
    """Summed loss, masked frames and correctly predicted masked frames of one batch, with masks from
    ``generator``."""
    waveforms, labels = batch["waveforms"].to(accelerator.device), batch["labels"].to(accelerator.device)
    frames = torch.full((len(labels),), labels.shape[1], dtype=torch.long)
    mask = span_mask(
        frames,
        max_frames=labels.shape[1],
        mask_prob=config.mask_prob,
        mask_length=config.mask_length,
        min_masks=config.mask_min_masks,
        generator=generator,
    ).to(accelerator.device)
    with accelerator.autocast():
        logits, penalty = model(waveforms, mask)
    loss_sum, num_masked = masked_prediction_loss(
        logits,
        labels,
        mask,
        penalty,
        masked_weight=config.masked_weight,
        unmasked_weight=config.unmasked_weight,
        feature_weight=config.feature_weight,
    )
    correct = int((logits.argmax(-1)[mask] == labels[mask]).sum())
    return loss_sum, num_masked, correct


@torch.no_grad()
def _validate(model: nn.Module, data: _Data, accelerator: Accelerator) -> dict[str, float]:
    if not data.valid:
        return {}
    config = data.config
    model.eval()
    total = torch.zeros(3, dtype=torch.float64, device=accelerator.device)
    generator = torch.Generator().manual_seed(
        config.seed + 17
    )  # the same masks every epoch: comparable losses
    for batch in data.loader(data.valid, -1, config.seed + 31):
        loss_sum, num_masked, correct = _step_loss(model, batch, config, accelerator, generator)
        total += torch.tensor(
            [loss_sum.item(), num_masked, correct], dtype=torch.float64, device=total.device
        )
    total = accelerator.reduce(total, reduction="sum")
    model.train()
    count = max(1.0, float(total[1]))
    return {"val_loss": float(total[0]) / count, "val_masked_accuracy": float(total[2]) / count}


def _weights(model: HubertPretrainModel, meta: dict[str, Any]) -> dict[str, Any]:
    return {**meta, "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}}


def pretrain(
    config: PretrainConfig,
    *,
    init: str,
    train_labels: str | Path,
    out_dir: str | Path,
    valid_labels: str | Path | None = None,
) -> dict[str, Any]:
    """Pre-train ``init`` (hub name or folder) on the label lists; resumable. Returns the final record.

    Raises:
        SerkitError: the folder holds another run, or the lists do not fit the model (see :func:`_load_items`).
    """
    from tqdm.auto import tqdm

    from serkit.backbones.hf import load_feature_extractor
    from serkit.core.progress import progress_enabled
    from serkit.training.accelerator import make_accelerator
    from serkit.training.optim import build_optimizer, linear_warmup_decay

    if config.num_classes < 1:
        raise SerkitError(
            "pretrain: set num_classes to the k-means cluster count (500 for TAPT, 50 for CPT)."
        )
    out_dir = Path(out_dir)
    done_path = out_dir / "done.json"
    resolved = run_identity(config, init=init, train_labels=train_labels, valid_labels=valid_labels)
    claim_run_folder(out_dir, resolved)
    if done_path.is_file():
        logger.info("pretrain: %s already done", out_dir)
        return json.loads(done_path.read_text(encoding="utf-8"))
    write_yaml(out_dir / "config.yaml", {**resolved, "settings": to_dict(config)})

    # layer drop skips whole layers at random, so DDP must allow parameters without a gradient in a step
    accelerator = make_accelerator(precision=_precision(config), find_unused_parameters=True)
    torch.manual_seed(config.seed)  # initialisation of the projection and label embeddings
    encoder = _encoder_for(init, config)
    receptive, stride = frame_geometry(encoder.config)
    normalize = config.normalize_waveform
    if normalize is None:
        normalize = bool(getattr(load_feature_extractor(init), "do_normalize", True))
    data = _Data(
        config,
        _load_items(train_labels, config, receptive, stride, "training"),
        _load_items(valid_labels, config, receptive, stride, "validation") if valid_labels else [],
        receptive=receptive,
        stride=stride,
        normalize=normalize,
        rank=accelerator.process_index,
        world=accelerator.num_processes,
    )
    model = HubertPretrainModel(
        encoder,
        num_classes=config.num_classes,
        final_dim=config.final_dim,
        temperature=config.logit_temperature,
    )
    optimizer = build_optimizer(
        "adamw",
        [p for p in model.parameters() if p.requires_grad],
        lr=config.lr,
        betas=tuple(config.betas),
        eps=config.eps,
        weight_decay=config.weight_decay,
    )
    schedule = linear_warmup_decay(
        optimizer, total_steps=config.max_updates, warmup_steps=config.warmup_updates
    )
    model, optimizer = accelerator.prepare(model, optimizer)
    plain = accelerator.unwrap_model(model)
    meta = {
        "encoder_config": plain.encoder.config.to_dict(),
        "num_classes": config.num_classes,
        "final_dim": config.final_dim,
        "init": str(init),
        "normalize_waveform": normalize,
        "sample_rate": config.sample_rate,
    }

    step, epoch, position = 0, 0, 0  # updates done, epochs done, batches done in this epoch
    history: list[dict[str, Any]] = []
    best = {"valid": math.inf, "train": math.inf}
    epoch_total = [0.0, 0.0]  # summed loss and masked frames of this epoch so far
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
            save_checkpoint(
                state_path,
                {
                    "model": plain.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "schedule": schedule.state_dict(),
                    "scaler": accelerator.scaler.state_dict() if accelerator.scaler is not None else {},
                    "step": step,
                    "epoch": epoch,
                    "position": position,
                    "history": history,
                    "best": best,
                    "epoch_total": epoch_total,
                },
            )
        accelerator.wait_for_everyone()

    bar = tqdm(
        total=config.max_updates,
        initial=step,
        desc="pretrain",
        leave=False,
        disable=not progress_enabled(config.progress) or not accelerator.is_local_main_process,
    )
    model.train()
    while step < config.max_updates:
        for batch in data.loader(data.train, epoch, config.seed * 1_000_003 + epoch, start=position):
            torch.manual_seed(config.seed * 1_000_003 + step)  # dropout and layer drop of this update
            generator = torch.Generator().manual_seed(config.seed * 1_000_003 + step + 11)
            loss_sum, num_masked, _ = _step_loss(model, batch, config, accelerator, generator)
            global_masked = accelerator.reduce(
                torch.tensor(float(num_masked), device=accelerator.device), "sum"
            )
            loss = loss_sum * accelerator.num_processes / global_masked.clamp_min(1.0)
            optimizer.zero_grad(set_to_none=True)
            accelerator.backward(loss)
            if config.clip_norm:
                accelerator.clip_grad_norm_(model.parameters(), config.clip_norm)
            optimizer.step()
            schedule.step("step")
            step, position = step + 1, position + 1
            epoch_total = [epoch_total[0] + loss_sum.item(), epoch_total[1] + num_masked]
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item() / accelerator.num_processes:.3f}")
            if step % config.save_every == 0 and step < config.max_updates:
                save_state()
            if step >= config.max_updates:
                break
        # end of an epoch (or of training): evaluate and keep the best weights
        record = {
            "epoch": epoch + 1,
            "step": step,
            "train_loss": epoch_total[0] / max(1.0, epoch_total[1]),
            "lr": optimizer.param_groups[0]["lr"],
            **_validate(model, data, accelerator),
        }
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
    final = {
        "steps": step,
        "epochs": epoch,
        "history": history,
        "best_valid_loss": best["valid"],
        "best_train_loss": best["train"],
    }
    if accelerator.is_main_process:
        save_checkpoint(out_dir / "last.pt", _weights(plain, {**meta, "step": step}))
        atomic_write_json(out_dir / "history.json", history)
        atomic_write_json(
            done_path, {k: (None if isinstance(v, float) and math.isinf(v) else v) for k, v in final.items()}
        )
    accelerator.wait_for_everyone()
    return final
