"""The one training loop (Hugging Face Accelerate: CPU here, multi-GPU / multi-node via ``accelerate launch``).

``train_one`` trains a model on chunks, evaluates utterances every epoch, keeps the best checkpoint by the
selection rule, stops early, and can be interrupted at any point: ``last.pt`` (written atomically after each
epoch) holds everything to continue (``train.ema_decay``'s weight average included), and the data order, dropout,
mixup and SpecAugment draws depend only on (seed, epoch), so a resumed run ends with the same weights as an
uninterrupted one. With ``train.ema_decay`` the average (:mod:`serkit.training.averaging`) is what is validated,
selected and saved in ``best.pt``.

Each epoch's record (``history.json``) also says where the time went: ``train_seconds`` (wall time of the training
pass), ``eval_seconds`` (the validation and selection evaluation of that epoch, 0 without either) and
``train_items`` (training segments or utterances seen that epoch). They are measured, so they are the only values
of a history that differ between two otherwise identical runs.

What happens after an epoch that did not improve the selection score is the caller's :class:`PlateauRule`: by
default the epoch counts towards early stopping; MAT's plateau-reload (reload the best weights, decay the rate) is
a rule of :mod:`serkit.training.strategies`, which also chooses between this loop and closed-form fitting.

Process-wide torch settings (threads, denormal flushing) are the caller's: :func:`serkit.core.torch_settings.configure_torch` at the entry
point (``run_experiment``, the CLI), never here.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from tqdm.auto import tqdm

from serkit.config import TrainConfig
from serkit.core.progress import progress_enabled
from serkit.evaluation.outputs import metrics_from_outputs
from serkit.models.losses import (
    CONTRASTIVE_LOSSES,
    DIMENSION_LOSSES,
    LOSSES,
    balanced_class_weights,
    mixup,
    task_objective,
)
from serkit.training.accelerator import describe_precision, make_accelerator
from serkit.training.augment_features import SpecAugment
from serkit.training.averaging import WeightAverage
from serkit.training.checkpoint import load_checkpoint, save_checkpoint
from serkit.training.data import ChunkSet, eval_batches, make_loader, model_inputs, utterance_logits
from serkit.training.optim import build_optimizer, build_scheduler

__all__ = ["TIMING_KEYS", "PlateauRule", "TrainOutcome", "selection_score", "timing_record", "train_one"]

logger = logging.getLogger(__name__)

#: The measured keys of an epoch record (every other value is the same in a rerun of the same recipe).
TIMING_KEYS = ("train_seconds", "eval_seconds", "train_items")


def timing_record(train_seconds: float, eval_seconds: float, train_items: int) -> dict[str, Any]:
    """The timing part of an epoch record (seconds to the 0.1 ms)."""
    return {
        "train_seconds": round(train_seconds, 4),
        "eval_seconds": round(eval_seconds, 4),
        "train_items": int(train_items),
    }


class PlateauRule(Protocol):
    """What the loop does after an epoch that did not improve the selection score (see strategies.py)."""

    #: best.pt also holds the optimizer state (for a rule that reloads it).
    keeps_optimizer: bool

    def after_plateau(
        self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, best_path: Path, decays: int
    ) -> int | None:
        """Act on the plateau and return the new number of decays, or None to count the epoch towards early
        stopping (``patience``). ``model`` is the unwrapped module; ``decays`` survives resumes in last.pt."""


class _CountPatience:
    """The default rule: a plateau epoch counts towards early stopping."""

    keeps_optimizer = False

    def after_plateau(
        self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, best_path: Path, decays: int
    ) -> int | None:
        return None


@dataclass
class TrainOutcome:
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = -1
    best_score: float = -math.inf
    stopped_early: bool = False


def selection_score(metrics: dict[str, Any], name: str) -> float:
    """The number checkpoints are ranked by (higher is better): a metric key, ``wa_ua_mean`` ((WA+UA)/2, GLAM's
    rule), or for regression ``ccc`` (mean over the dimensions), ``ccc_<dimension>``, ``pearson``; ``mae`` is
    negated. A NaN score (e.g. CCC of constant predictions) ranks below every number."""
    if name == "wa_ua_mean" and "ua" in metrics:
        return (metrics["wa"] + metrics["ua"]) / 2
    if name not in metrics or not isinstance(metrics[name], (int, float)):
        valid = ["ua, wa, macro_f1, weighted_f1 or wa_ua_mean"] if "ua" in metrics else []
        if "per_label" in metrics:
            valid = ["label_accuracy, subset_accuracy, macro_f1, micro_f1, weighted_f1"]
        if "dimensions" in metrics:
            valid.append("ccc, pearson, mae or ccc_<dimension>")
        raise ValueError(
            f"train.select_metric={name!r} is not a metric of this task; use {' or '.join(valid)}."
        )
    score = float(metrics[name]) * (-1.0 if name.startswith("mae") else 1.0)
    return -math.inf if math.isnan(score) else score


def _evaluate(
    model, dataset: ChunkSet, config: TrainConfig, label_names, device, precision: str, cache: dict
) -> dict[str, Any]:
    """Metrics of ``dataset`` in the training precision; its padded batches are built once, kept in ``cache``."""
    if id(dataset) not in cache:
        cache[id(dataset)] = eval_batches(dataset, config.eval_batch_size)
    logits, _ = utterance_logits(
        model,
        dataset,
        batch_size=config.eval_batch_size,
        device=device,
        precision=precision,
        batches=cache[id(dataset)],
    )
    targets = torch.from_numpy(dataset.targets)
    if dataset.multi_label:
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets.float()).item()
    else:  # the training objective of the task (its class part unsmoothed, unweighted)
        objective = task_objective(
            dataset.task, torch.nn.functional.cross_entropy, DIMENSION_LOSSES.get(config.dimension_loss)
        )
        loss = objective(logits, targets if dataset.task.has_dimensions else targets.long()).item()
    metrics, _ = metrics_from_outputs(dataset.targets, logits.numpy(), label_names, dataset.task)
    return {**metrics, "loss": loss}


def train_one(
    model: torch.nn.Module,
    train_set: ChunkSet,
    val_set: ChunkSet | None,
    *,
    config: TrainConfig,
    seed: int,
    run_dir: str | Path,
    label_names: list[str],
    checkpoint_meta: dict[str, Any],
    test_set: ChunkSet | None = None,
    plateau: PlateauRule | None = None,
) -> TrainOutcome:
    """Train ``model``; the selected weights end up in ``run_dir/best.pt`` with ``checkpoint_meta``.

    Args:
        train_set: training chunks. val_set: validation utterances (required for ``select_on: validation``).
        test_set: only used per epoch when ``config.select_on == "test"`` (the original papers' protocol).
        checkpoint_meta: model name/args, labels, feature and input configs stored beside the weights.
        plateau: what an epoch without improvement does (None: count it towards ``config.early_stopping``).
    """
    plateau = _CountPatience() if plateau is None else plateau
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    select_set = {"validation": val_set, "test": test_set, "last": None}[config.select_on]
    if config.select_on != "last" and (select_set is None or select_set.num_utterances == 0):
        raise ValueError(
            f"train.select_on={config.select_on!r} but that part of the fold is empty; use a protocol "
            "with a validation part or set train.select_on=last."
        )
    # models whose layers are skipped at random (HuBERT's layer drop) leave parameters without gradient in DDP
    accelerator = make_accelerator(
        precision=config.precision,
        find_unused_parameters=config.find_unused_parameters,
        log_with="tensorboard" if config.tensorboard else None,
        project_dir=str(run_dir),
    )
    if config.tensorboard:
        accelerator.init_trackers("tensorboard")
    num_classes = len(label_names)
    if train_set.multi_label and (config.loss != "bce" or config.class_weights):
        raise ValueError(
            f"multi-label targets need train.loss=bce (got {config.loss!r}) and no class_weights."
        )
    if not train_set.multi_label and config.loss == "bce":
        raise ValueError(
            "train.loss=bce is for multi-label targets (labels.target: mosei_emotions); "
            "use cross_entropy or focal for one class per utterance."
        )
    task = train_set.task
    if task.kind != "classification" and (
        config.mixup_alpha > 0 or config.contrastive_weight > 0 or config.loss == "bce"
    ):
        raise ValueError(
            f"task={task.kind}: train.mixup_alpha, train.contrastive_weight and train.loss=bce are for "
            "classification only; set them to 0 / cross_entropy."
        )
    if task.kind == "regression" and config.class_weights:
        raise ValueError("train.class_weights weighs classes; task=regression has none (set it to false).")
    weight = balanced_class_weights(train_set.chunk_classes(), num_classes) if config.class_weights else None
    loss_fn = LOSSES.get(config.loss)
    contrastive_fn = CONTRASTIVE_LOSSES.get(config.contrastive)
    loss_kwargs = {
        "weight": weight.to(accelerator.device) if weight is not None else None,
        "gamma": config.focal_gamma,
        "label_smoothing": config.label_smoothing,  # mixup passes these on to both of its targets
    }
    objective = task_objective(task, loss_fn, DIMENSION_LOSSES.get(config.dimension_loss), **loss_kwargs)
    steps_per_epoch = math.ceil(len(train_set) / config.batch_size)
    trainable = [
        p for p in model.parameters() if p.requires_grad
    ]  # frozen encoders stay out of the optimiser
    if not trainable:
        raise ValueError(
            "the model has no trainable parameter (everything is frozen); unfreeze a part of it."
        )
    optimizer = build_optimizer(
        config.optimizer, trainable, lr=config.lr, weight_decay=config.weight_decay, momentum=config.momentum
    )
    schedule = build_scheduler(
        config.scheduler,
        optimizer,
        epochs=config.epochs,
        steps_per_epoch=steps_per_epoch,
        gamma=config.gamma,
        step_size=config.step_size,
        warmup=config.warmup,
        min_lr=config.min_lr,
    )
    if config.contrastive_weight > 0 and config.mixup_alpha > 0:
        raise ValueError(
            "train.contrastive_weight and train.mixup_alpha cannot both be set: mixed examples have "
            "no single class for the contrastive term."
        )
    model, optimizer = accelerator.prepare(model, optimizer)
    # train.precision resolved: auto is bf16 where the hardware has it, and evaluation runs in it too
    precision = accelerator.mixed_precision
    precision_name = describe_precision(config.precision, precision)
    logger.info("training %s in %s", run_dir, precision_name)
    eval_cache: dict[int, Any] = {}  # the validation (and test) batches, padded once for every epoch
    plain = accelerator.unwrap_model  # forward_features / forward_head live on the unwrapped module
    average = WeightAverage(plain(model), config.ema_decay)  # train.ema_decay: evaluate and keep the average
    spec_augment = SpecAugment.from_config(config)

    outcome, start_epoch, patience, decays = TrainOutcome(), 0, 0, 0
    last_path, best_path = run_dir / "last.pt", run_dir / "best.pt"
    if last_path.is_file():  # resume an interrupted run
        state = load_checkpoint(last_path, require=("model", "optimizer", "epoch"))
        accelerator.unwrap_model(model).load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        average.load_state_dict(state.get("ema"))
        start_epoch, patience, decays = state["epoch"] + 1, state["patience"], state["decays"]
        outcome = TrainOutcome(state["history"], state["best_epoch"], state["best_score"], state["stopped"])
        if outcome.stopped_early:
            start_epoch = config.epochs
        logger.info("resuming %s from epoch %d", run_dir, start_epoch)

    # a bar only on a terminal; logs, CI and captured output get the one line per epoch logged below instead
    show_bar = progress_enabled(config.progress) and accelerator.is_local_main_process
    for epoch in range(start_epoch, config.epochs):
        started = time.monotonic()
        train_set.set_epoch(epoch)  # on-the-fly augmentation makes the epoch's chunks (augmented_data.py)
        torch.manual_seed(seed * 100_003 + epoch)  # dropout draws depend only on (seed, epoch)
        mix_generator = torch.Generator().manual_seed(seed * 100_003 + epoch + 7)
        mask_generator = torch.Generator().manual_seed(seed * 100_003 + epoch + 11)  # SpecAugment's draws
        loader = accelerator.prepare(
            make_loader(
                train_set,
                batch_size=config.batch_size,
                shuffle=True,
                seed=seed,
                num_workers=config.num_workers,
                epoch=epoch,
                balanced=config.sampler == "balanced",
            )
        )
        model.train()
        total, count = 0.0, 0  # count: training items (segments or utterances) seen this epoch
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{config.epochs}", leave=False, disable=not show_bar)
        for batch in bar:
            features, targets, extras = batch["features"], batch["targets"], model_inputs(batch)
            features = spec_augment(features, batch["lengths"], mask_generator)  # the batch itself when off
            with accelerator.autocast():
                if config.mixup_alpha > 0:
                    mixed = mixup(features, targets, config.mixup_alpha, mix_generator)
                    loss = mixed.loss(
                        loss_fn, model(mixed.features, batch["lengths"], **extras), **loss_kwargs
                    )
                elif (
                    config.contrastive_weight > 0
                ):  # CASE: class-aware contrastive term on the fused embedding
                    embedding = plain(model).forward_features(features, batch["lengths"], **extras)
                    loss = loss_fn(plain(model).forward_head(embedding), targets, **loss_kwargs)
                    loss = loss + config.contrastive_weight * contrastive_fn(
                        embedding, targets, temperature=config.contrastive_temperature
                    )
                else:
                    loss = objective(model(features, batch["lengths"], **extras), targets)
            optimizer.zero_grad(set_to_none=True)
            accelerator.backward(loss)
            if config.grad_clip:
                accelerator.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            average.update()
            schedule.step("step")
            total, count = total + loss.item() * len(targets), count + len(targets)
            bar.set_postfix(loss=f"{total / count:.4f}")
        record = {
            "epoch": epoch + 1,
            "train_loss": total / max(1, count),
            "lr": optimizer.param_groups[0]["lr"],
            "precision": precision_name,  # "bf16 (auto)": the report names it (runner.py notes)
        }
        schedule.step("epoch")
        train_seconds = time.monotonic() - started

        evaluated = time.monotonic()
        plain_model = accelerator.unwrap_model(model)
        scored = average.evaluated()  # the weight average with train.ema_decay, else plain_model
        improved = config.select_on == "last"
        if val_set is not None and val_set.num_utterances:
            val = _evaluate(scored, val_set, config, label_names, accelerator.device, precision, eval_cache)
            shown = ("macro_f1", "wa", "ua", "label_accuracy", "ccc")  # those of the task
            record.update(val_loss=val["loss"], **{f"val_{k}": float(val[k]) for k in shown if k in val})
        if select_set is not None:
            chosen = (
                val
                if select_set is val_set
                else _evaluate(
                    scored, select_set, config, label_names, accelerator.device, precision, eval_cache
                )
            )
            score = selection_score(chosen, config.select_metric)
            record["selection_score"] = score
            improved = score > outcome.best_score
        record.update(timing_record(train_seconds, time.monotonic() - evaluated, count))
        outcome.history.append(record)
        if improved:
            outcome.best_epoch, outcome.best_score = epoch + 1, record.get("selection_score", math.nan)
            patience = 0
            if accelerator.is_main_process:
                extra = {"optimizer": optimizer.state_dict()} if plateau.keeps_optimizer else {}
                save_checkpoint(
                    best_path,
                    {**checkpoint_meta, "epoch": epoch + 1, "state_dict": scored.state_dict(), **extra},
                )
        elif (reloaded := plateau.after_plateau(plain_model, optimizer, best_path, decays)) is not None:
            decays = reloaded
            average.restart_from_model()  # the average starts again from the reloaded best weights
        else:
            patience += 1
        if config.tensorboard:
            accelerator.log({k: v for k, v in record.items() if isinstance(v, float)}, step=epoch + 1)
        if (
            accelerator.is_local_main_process
        ):  # the one line per epoch (a multi-GPU run would print it per process)
            logger.info(
                "epoch %d/%d: %s, train=%.1fs (%d items), eval=%.1fs, time=%.1fs",
                epoch + 1,
                config.epochs,
                ", ".join(
                    f"{k}={v:.4g}" for k, v in record.items() if isinstance(v, float) and k not in TIMING_KEYS
                ),
                record["train_seconds"],
                record["train_items"],
                record["eval_seconds"],
                time.monotonic() - started,
            )
        stop = bool(config.early_stopping) and patience >= config.early_stopping
        if accelerator.is_main_process:
            save_checkpoint(
                last_path,
                {
                    "model": plain_model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "schedule": schedule.state_dict(),
                    "ema": average.state_dict(),
                    "epoch": epoch,
                    "patience": patience,
                    "decays": decays,
                    "history": outcome.history,
                    "best_epoch": outcome.best_epoch,
                    "best_score": outcome.best_score,
                    "stopped": stop,
                },
            )
        accelerator.wait_for_everyone()  # other processes read best.pt / last.pt only once they are complete
        if stop:
            outcome.stopped_early = True
            break
    if config.tensorboard:
        accelerator.end_training()
    return outcome


def history_array(history: list[dict[str, Any]], key: str) -> np.ndarray:
    """One column of a history as an array (NaN where an epoch lacks it)."""
    return np.array([record.get(key, np.nan) for record in history], dtype=float)
