"""Self-describing checkpoints, written atomically and read with ``torch.load(weights_only=True)``.

A model checkpoint (``best.pt``) holds: ``model_name``, ``model_args``, ``label_names``, ``feature`` (feature
config), ``input`` (input config), ``serkit_version`` and ``state_dict``: everything needed to rebuild the model
through the registry and to turn new audio into the same inputs. Nothing in it needs unpickling code.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from serkit.errors import SerkitError
from serkit.fileio import atomic_open

__all__ = ["CheckpointError", "load_checkpoint", "save_checkpoint"]


class CheckpointError(SerkitError):
    """A checkpoint file is missing, truncated or not a serkit checkpoint."""


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> None:
    """Atomically write ``payload`` (tensors, numbers, strings, lists, dicts only)."""
    with atomic_open(path, "wb") as handle:
        torch.save(payload, handle)


def load_checkpoint(path: str | os.PathLike, *, require: tuple[str, ...] = ()) -> dict[str, Any]:
    """Read a checkpoint safely (``weights_only=True``: no arbitrary code runs).

    Raises:
        CheckpointError: missing or unreadable file, or a missing required key.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found; pass the best.pt of a finished run.")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001  (torch raises many types for truncated or foreign files)
        raise CheckpointError(f"{path}: not a readable serkit checkpoint ({type(exc).__name__}: {exc}). "
                              "It may be truncated; delete it and rerun to recreate it.") from None
    missing = [key for key in require if key not in payload]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks {missing}; it was not written by serkit's trainer.")
    return payload
