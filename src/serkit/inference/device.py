"""Where a torch recogniser runs: ``cpu`` or ``cuda`` (``serkit predict --device``, ``serkit serve --device``).

Models are loaded and checked on the CPU, then moved; a recogniser's inputs follow its models
(:attr:`serkit.inference.members.Member.device`), and probabilities always come back as numpy arrays.
"""

from __future__ import annotations

import torch

from serkit.core.errors import SerkitError

__all__ = ["DEVICES", "check_device", "move_to_device"]

#: The ``--device`` choices.
DEVICES = ("cpu", "cuda")


def check_device(device: str) -> str:
    """``device`` if this machine has it.

    Raises:
        SerkitError: an unknown name, or ``cuda`` without a CUDA GPU that torch can use (saying so and the fix).
    """
    if device not in DEVICES:
        raise SerkitError(f"--device {device!r}: use one of {', '.join(DEVICES)}.")
    if device == "cuda" and not torch.cuda.is_available():
        raise SerkitError(
            f"--device cuda: CUDA is not available here (torch {torch.__version__} finds no CUDA GPU; a CPU-only "
            "torch build, no GPU or no driver); use --device cpu, or install a CUDA build of torch."
        )
    return device


def move_to_device(recognizer, device: str):
    """Move every model of a :class:`~serkit.inference.Recognizer` to ``device`` (checked); returns it."""
    device = check_device(device)
    for member in recognizer.members:
        member.model.to(device)
        member.device = device
    return recognizer
