"""Optimisers and learning-rate schedules, by name.

Schedules step either once per epoch (``exponential``, ``step``) or once per optimiser step (``linear_warmup``,
``cosine``, ``one_cycle``; the last three warm up over the first ``train.warmup`` fraction of all steps). ``train.scheduler: plateau_reload`` (MAT: reload the best weights and decay the learning rate
when validation stops improving) is not a schedule but a training strategy, because it touches the model and the
optimizer, not only the rate: :class:`serkit.training.strategies.PlateauReload`, which keeps the rate constant
between reloads.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch

from serkit.core.registry import Registry

__all__ = [
    "OPTIMIZERS",
    "SCHEDULERS",
    "Schedule",
    "build_optimizer",
    "build_scheduler",
    "linear_warmup_decay",
]

OPTIMIZERS: Registry = Registry("optimizer")
SCHEDULERS: Registry = Registry("scheduler")


# every factory takes the same keywords; each uses those its optimiser has (Adam: betas/eps, SGD: momentum).
# Adam and AdamW run fused (one kernel over all parameters; CPU and CUDA): 2x faster updates, ~2% of a GLAM step.
@OPTIMIZERS.register("adam")
def _adam(
    params: Iterable,
    *,
    lr: float,
    weight_decay: float,
    momentum: float,
    betas: tuple[float, float],
    eps: float,
) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, fused=True)


@OPTIMIZERS.register("adamw")
def _adamw(
    params: Iterable,
    *,
    lr: float,
    weight_decay: float,
    momentum: float,
    betas: tuple[float, float],
    eps: float,
) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, fused=True)


@OPTIMIZERS.register("sgd_nesterov")
def _sgd_nesterov(
    params: Iterable,
    *,
    lr: float,
    weight_decay: float,
    momentum: float,
    betas: tuple[float, float],
    eps: float,
) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay, momentum=momentum, nesterov=True)


@OPTIMIZERS.register("sgd")
def _sgd(
    params: Iterable,
    *,
    lr: float,
    weight_decay: float,
    momentum: float,
    betas: tuple[float, float],
    eps: float,
) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay, momentum=momentum)


def build_optimizer(
    name: str,
    params: Iterable,
    *,
    lr: float,
    weight_decay: float = 0.0,
    momentum: float = 0.9,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
) -> torch.optim.Optimizer:
    """An optimiser by name; ``betas``/``eps`` (torch's defaults) are Adam's, e.g. HuBERT's (0.9, 0.98), 1e-6."""
    return OPTIMIZERS.get(name)(
        params, lr=lr, weight_decay=weight_decay, momentum=momentum, betas=tuple(betas), eps=eps
    )


@dataclass
class Schedule:
    """A learning-rate schedule and when to step it (``"epoch"`` or ``"step"``); ``scheduler`` None = constant."""

    scheduler: torch.optim.lr_scheduler.LRScheduler | None
    interval: str = "epoch"
    min_lr: float = 0.0

    def step(self, interval: str) -> None:
        if self.scheduler is None or interval != self.interval:
            return
        # GLAM steps its schedule only while the rate is still above lr_min
        if self.min_lr and all(group["lr"] < self.min_lr for group in self.scheduler.optimizer.param_groups):
            return
        self.scheduler.step()

    def state_dict(self) -> dict:
        return {} if self.scheduler is None else self.scheduler.state_dict()

    def load_state_dict(self, state: dict) -> None:
        if self.scheduler is not None and state:
            self.scheduler.load_state_dict(state)


@SCHEDULERS.register("none")
def _none(
    optimizer, *, epochs: int, steps_per_epoch: int, gamma: float, step_size: int, warmup: float
) -> Schedule:
    return Schedule(None)


@SCHEDULERS.register("exponential")
def _exponential(
    optimizer, *, epochs: int, steps_per_epoch: int, gamma: float, step_size: int, warmup: float
) -> Schedule:
    return Schedule(torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=gamma))


@SCHEDULERS.register("warm_step")  # GLAM's WarmStepLR(10, 0.1): its warm_step only changes the closed form
@SCHEDULERS.register("step")
def _step(
    optimizer, *, epochs: int, steps_per_epoch: int, gamma: float, step_size: int, warmup: float
) -> Schedule:
    return Schedule(torch.optim.lr_scheduler.StepLR(optimizer, step_size=step_size, gamma=gamma))


@SCHEDULERS.register("cosine")
def _cosine(
    optimizer, *, epochs: int, steps_per_epoch: int, gamma: float, step_size: int, warmup: float
) -> Schedule:
    """Per optimiser step: linear warm-up over the first ``warmup`` fraction of all steps, then half a cosine
    from the rate to 0 at the last step (``warmup: 0`` for the plain cosine)."""
    total = max(1, epochs * steps_per_epoch)
    warm = max(1, math.ceil(warmup * total)) if warmup > 0 else 0

    def factor(step: int) -> float:  # step = optimiser steps done so far
        if warm and step < warm:
            return (step + 1) / warm
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total - warm))))

    return Schedule(torch.optim.lr_scheduler.LambdaLR(optimizer, factor), interval="step")


@SCHEDULERS.register("one_cycle")
def _one_cycle(
    optimizer, *, epochs: int, steps_per_epoch: int, gamma: float, step_size: int, warmup: float
) -> Schedule:
    """Smith's one-cycle policy (torch ``OneCycleLR``) per optimiser step: from rate / 25 up to the rate
    (``train.lr``) over the first ``warmup`` fraction of all steps, then a cosine down to rate / 25e4.

    Momentum (SGD's, Adam's beta1) is not cycled: it stays what the recipe sets."""
    # one more than the optimiser steps: the rate after the last one is the cycle's end (what history.json shows)
    total = max(3, epochs * steps_per_epoch + 1)
    # torch divides by each phase's length in steps (pct_start * total - 1 and the rest): keep both above 0
    pct_start = min(max(warmup, 1.5 / total), 1 - 0.5 / total)
    return Schedule(
        torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=[group["lr"] for group in optimizer.param_groups],
            total_steps=total,
            pct_start=pct_start,
            cycle_momentum=False,
        ),
        interval="step",
    )


@SCHEDULERS.register("linear_warmup")
def _linear_warmup(
    optimizer, *, epochs: int, steps_per_epoch: int, gamma: float, step_size: int, warmup: float
) -> Schedule:
    """Linear warm-up over the first ``warmup`` fraction of all steps, then linear decay to 0 (CASE's option)."""
    total = max(1, epochs * steps_per_epoch)
    warm = max(1, math.ceil(warmup * total)) if warmup > 0 else 0
    return linear_warmup_decay(optimizer, total_steps=total, warmup_steps=warm)


def linear_warmup_decay(optimizer: torch.optim.Optimizer, *, total_steps: int, warmup_steps: int) -> Schedule:
    """Per optimiser step: rate x (step + 1) / warmup_steps while warming up, then linear decay to 0 at
    ``total_steps`` (the ``linear_warmup`` scheduler; HuBERT pre-training calls it with update counts)."""

    def factor(step: int) -> float:  # step = optimiser steps done so far
        if warmup_steps and step < warmup_steps:
            return (step + 1) / warmup_steps
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return Schedule(torch.optim.lr_scheduler.LambdaLR(optimizer, factor), interval="step")


def build_scheduler(
    name: str,
    optimizer: torch.optim.Optimizer,
    *,
    epochs: int,
    steps_per_epoch: int,
    gamma: float = 0.95,
    step_size: int = 10,
    warmup: float = 0.1,
    min_lr: float = 0.0,
) -> Schedule:
    schedule = SCHEDULERS.get(name)(
        optimizer,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        gamma=gamma,
        step_size=step_size,
        warmup=warmup,
    )
    schedule.min_lr = min_lr
    return schedule
