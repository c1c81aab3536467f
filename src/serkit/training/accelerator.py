"""The one way serkit's training loops create their Hugging Face ``Accelerator``, and the one place that decides
the mixed precision (``train.precision: auto`` resolved by :func:`resolve_precision`).

CPU when no GPU is present; ``accelerate launch`` turns the same call into a multi-GPU or multi-node run. Accelerate
keeps one state per process: in a single-process run a later ``Accelerator`` with another precision replaces it
(two recipes with different precisions in one script or test session); a distributed run must keep one precision.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from accelerate import Accelerator

__all__ = [
    "cpu_supports_bf16",
    "describe_precision",
    "eval_autocast",
    "make_accelerator",
    "resolve_precision",
]

#: /proc/cpuinfo flags of CPUs with native bfloat16 arithmetic (AVX512-BF16, AMX); without them bf16 is emulated
#: by oneDNN and slower than float32.
_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def cpu_supports_bf16(cpuinfo: str | Path = "/proc/cpuinfo") -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX), from the kernel's CPU flags.

    torch's own :func:`torch.backends.cpu.get_cpu_capability` names the vector width (``AVX512``), not these
    extensions, so the flags are read where Linux lists them; elsewhere (macOS, Windows) the answer is False and
    ``auto`` stays in float32.
    """
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return bool(_BF16_FLAGS & set(value.split()))
    return False


def resolve_precision(precision: str) -> str:
    """Accelerate's mixed precision (``no``, ``bf16``, ``fp16``) for ``train.precision``.

    ``auto``: ``bf16`` on a GPU that supports it (:func:`torch.cuda.is_bf16_supported`) or, without a GPU, on a CPU
    with native bfloat16 (:func:`cpu_supports_bf16`); ``no`` (float32) everywhere else. Other values pass through.
    """
    if precision != "auto":
        return precision
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "no"
    return "bf16" if cpu_supports_bf16() else "no"


def describe_precision(requested: str, resolved: str | None = None) -> str:
    """How logs and reports name a precision: ``bf16 (auto)``, ``fp32 (auto)``, ``bf16``, ``fp32``."""
    resolved = resolve_precision(requested) if resolved is None else resolved
    name = "fp32" if resolved == "no" else resolved
    return f"{name} (auto)" if requested == "auto" else name


def eval_autocast(precision: str, device: torch.device | str = "cpu") -> contextlib.AbstractContextManager:
    """The autocast context of a resolved precision (``no``: none), for evaluating as the model was trained."""
    dtypes = {"bf16": torch.bfloat16, "fp16": torch.float16}
    if precision not in dtypes:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=dtypes[precision])


def make_accelerator(
    *,
    precision: str,
    find_unused_parameters: bool = False,
    log_with: str | None = None,
    project_dir: str | None = None,
) -> Accelerator:
    """An ``Accelerator`` on the GPU(s) when present, else the CPU.

    Args:
        precision: ``auto`` (see :func:`resolve_precision`) or Accelerate's mixed precision (``no``, ``fp16``,
            ``bf16``). The accelerator's ``mixed_precision`` is the resolved value.
        find_unused_parameters: for DDP runs of models that skip layers at random (HuBERT's layer drop), which
            leave some parameters without a gradient in a step.
        log_with: an Accelerate tracker (``tensorboard``) or None. project_dir: where trackers write.
    """
    from accelerate import Accelerator, DistributedDataParallelKwargs
    from accelerate.state import AcceleratorState, DistributedType

    precision = resolve_precision(precision)
    state = AcceleratorState._shared_state  # one per process; empty until the first Accelerator
    if (
        state.get("_mixed_precision", precision) != precision
        and state.get("distributed_type") == DistributedType.NO
    ):
        AcceleratorState._reset_state()  # a single process may change precision between runs
    handlers = [DistributedDataParallelKwargs(find_unused_parameters=True)] if find_unused_parameters else []
    return Accelerator(
        cpu=not torch.cuda.is_available(),
        mixed_precision=precision,
        kwargs_handlers=handlers,
        log_with=log_with,
        project_dir=project_dir,
    )
