"""An exponential moving average of the weights (``train.ema_decay``), the model the loop evaluates and keeps.

After every optimiser step ``ema = decay * ema + (1 - decay) * weights`` (torch's ``AveragedModel`` with
``get_ema_multi_avg_fn``; the first step copies the weights). Buffers are averaged the same way
(``use_buffers=True``), so a batch norm's running mean and variance are those of the averaged weights' training
history rather than the raw model's last batches; an integer buffer (``num_batches_tracked``) is averaged and
rounded down, which only matters for a batch norm with ``momentum=None`` (none in serkit).

With the average on, every epoch's validation, the checkpoint selection, ``best.pt``'s ``state_dict`` and so the
final test evaluation use the averaged weights; the optimiser keeps training the raw ones. ``last.pt`` holds both,
so an interrupted run continues bit-identically. The average is a copy of the model: twice its memory.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

__all__ = ["WeightAverage"]


class WeightAverage:
    """The raw model, or with ``decay`` > 0 also its exponential moving average.

    Args:
        model: the unwrapped module being trained (its parameters and buffers are read after each step).
        decay: ``train.ema_decay``; 0 = no average (:meth:`evaluated` is the raw model).
    """

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        if not 0 <= decay < 1:
            raise ValueError(f"train.ema_decay={decay} must be 0 (off) or in (0, 1), e.g. 0.999.")
        self.model = model
        self.average = (
            AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
            if decay
            else None
        )

    def update(self) -> None:
        """Fold the model's current weights into the average (call after every optimiser step)."""
        if self.average is not None:
            self.average.update_parameters(self.model)

    def evaluated(self) -> torch.nn.Module:
        """The module validation, selection and ``best.pt`` use: the average when there is one."""
        return self.model if self.average is None else self.average.module

    def restart_from_model(self) -> None:
        """Make the average the model's current weights (after a plateau reload put the best ones back)."""
        if self.average is not None:
            self.average.module.load_state_dict(self.model.state_dict())

    def state_dict(self) -> dict[str, Any]:
        """For ``last.pt``: the averaged weights and buffers and the number of updates; empty without EMA."""
        return {} if self.average is None else self.average.state_dict()

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        if self.average is None:
            return
        if not state:
            raise ValueError(
                "last.pt holds no weight average but train.ema_decay > 0: it was written by a run without EMA; "
                "resume with that run's recipe or start again in a new folder (serkit train --restart)."
            )
        self.average.load_state_dict(state)
