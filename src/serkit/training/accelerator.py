"""The one way serkit's training loops create their Hugging Face ``Accelerator``.

CPU when no GPU is present; ``accelerate launch`` turns the same call into a multi-GPU or multi-node run. Accelerate
keeps one state per process: a second ``Accelerator`` in the same process must ask for the same mixed precision.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from accelerate import Accelerator

__all__ = ["make_accelerator"]


def make_accelerator(
    *,
    precision: str,
    find_unused_parameters: bool = False,
    log_with: str | None = None,
    project_dir: str | None = None,
) -> Accelerator:
    """An ``Accelerator`` on the GPU(s) when present, else the CPU.

    Args:
        precision: Accelerate's mixed precision (``no``, ``fp16``, ``bf16``).
        find_unused_parameters: for DDP runs of models that skip layers at random (HuBERT's layer drop), which
            leave some parameters without a gradient in a step.
        log_with: an Accelerate tracker (``tensorboard``) or None. project_dir: where trackers write.
    """
    from accelerate import Accelerator, DistributedDataParallelKwargs

    handlers = [DistributedDataParallelKwargs(find_unused_parameters=True)] if find_unused_parameters else []
    return Accelerator(
        cpu=not torch.cuda.is_available(),
        mixed_precision=precision,
        kwargs_handlers=handlers,
        log_with=log_with,
        project_dir=project_dir,
    )
