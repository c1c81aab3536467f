"""Self-describing checkpoints, written atomically and read with ``torch.load(weights_only=True)``.

A model checkpoint (``best.pt``) holds: ``model_name``, ``model_args``, ``label_names``, ``feature`` (feature
config), ``input`` (input config), ``serkit_version`` and ``state_dict``: everything needed to rebuild the model
through the registry and to turn new audio into the same inputs. Nothing in it needs unpickling code, and a file
that does (a pickled ``nn.Module``, a custom class) is refused rather than executed.

:func:`load_model_checkpoint` rebuilds the model and checks that the metadata agrees with the weights, so an
edited or mixed-up checkpoint fails when it is loaded, naming the file, instead of predicting nonsense.
"""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path
from typing import Any

import torch

from serkit.core.errors import SerkitError
from serkit.core.fileio import atomic_open

__all__ = [
    "CheckpointError",
    "load_checkpoint",
    "load_model_checkpoint",
    "model_from_checkpoint",
    "save_checkpoint",
]

#: Keys every model checkpoint written by ``serkit train`` has.
MODEL_CHECKPOINT_KEYS = ("model_name", "model_args", "label_names", "feature", "input", "state_dict")

# torch names the first class a refused pickle needs: "Unsupported global: GLOBAL __main__.Foo was not an allowed ..."
_PICKLED_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")
_MAX_KEYS_SHOWN = 5


class CheckpointError(SerkitError):
    """A checkpoint file is missing, truncated, not a serkit checkpoint, or its metadata does not fit its weights."""


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> None:
    """Atomically write ``payload`` (tensors, numbers, strings, lists, dicts only)."""
    with atomic_open(path, "wb") as handle:
        torch.save(payload, handle)


def _torch_reason(exc: Exception) -> str:
    """The first line of torch's message, without its advice to load with ``weights_only`` off.

    torch suggests re-running ``torch.load`` unsafely, which runs arbitrary code from the file; we never pass
    that advice on.
    """
    lines = [line.strip() for line in str(exc).splitlines() if line.strip() and "weights_only" not in line]
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def load_checkpoint(path: str | os.PathLike, *, require: tuple[str, ...] = ()) -> dict[str, Any]:
    """Read a checkpoint safely (``weights_only=True``: no arbitrary code runs).

    Raises:
        CheckpointError: missing or unreadable file, a file holding pickled Python objects, or a missing
            required key; the message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found; pass the best.pt of a finished run.")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = _PICKLED_GLOBAL.search(str(exc))
        if found is None:  # torch's safe unpickler met bytes that are no pickle at all
            raise CheckpointError(
                f"{path}: not a readable serkit checkpoint (the file is damaged or not a torch "
                "checkpoint); delete it and rerun the training to recreate it."
            ) from None
        raise CheckpointError(
            f"{path}: the file contains pickled Python objects (it needs {found[1]} to load), and loading those "
            "would run code from the file. serkit only loads the weights-only checkpoints it writes itself "
            "(tensors, numbers, strings, lists and dicts): use the best.pt of a `serkit train` run, or re-save a "
            "model's state_dict with the metadata serkit stores."
        ) from None
    except Exception as exc:  # noqa: BLE001  (torch raises many types for truncated or foreign files)
        raise CheckpointError(
            f"{path}: not a readable serkit checkpoint ({_torch_reason(exc)}). "
            "It may be truncated; delete it and rerun to recreate it."
        ) from None
    if not isinstance(payload, dict):
        raise CheckpointError(
            f"{path}: holds a {type(payload).__name__}, not a serkit checkpoint (a dict of "
            "weights and metadata); pass the best.pt of a finished run."
        )
    missing = [key for key in require if key not in payload]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks {missing}; it was not written by serkit's trainer.")
    return payload


def _shown(keys: list[str]) -> str:
    more = f" and {len(keys) - _MAX_KEYS_SHOWN} more" if len(keys) > _MAX_KEYS_SHOWN else ""
    return ", ".join(keys[:_MAX_KEYS_SHOWN]) + more


def _check_state_dict(
    path: Path, model: torch.nn.Module, state_dict: dict[str, Any], model_name: str
) -> None:
    """Raise CheckpointError listing missing, unexpected and wrongly shaped weights (the first few of each)."""
    expected = model.state_dict()
    missing = [key for key in expected if key not in state_dict]
    unexpected = [key for key in state_dict if key not in expected]
    resized = [
        f"{key} {tuple(state_dict[key].shape)} vs {tuple(value.shape)}"
        for key, value in expected.items()
        if key in state_dict
        and isinstance(value, torch.Tensor)
        and isinstance(state_dict[key], torch.Tensor)
        and state_dict[key].shape != value.shape
    ]
    problems = [
        f"{what}: {_shown(keys)}"
        for what, keys in (
            ("missing weights", missing),
            ("unexpected weights", unexpected),
            ("size mismatch (file vs model)", resized),
        )
        if keys
    ]
    if problems:
        raise CheckpointError(
            f"{path}: the metadata (model_name={model_name!r}, model_args) does not match the "
            f"weights: {'; '.join(problems)}. The file was edited or assembled from different "
            "runs; use the best.pt exactly as `serkit train` wrote it."
        )


def load_model_checkpoint(path: str | os.PathLike) -> tuple[dict[str, Any], torch.nn.Module]:
    """Read a model checkpoint and rebuild its model through the registry, checking metadata against weights.

    Checks that ``label_names`` has one name per model output (``model_args["num_classes"]``), that
    ``model_name`` is registered, and that the weights have exactly the names and shapes of the rebuilt model.
    Whether the feature/input config fits the model is checked by running it (the recogniser's dry run).

    Returns:
        (checkpoint, model): the checkpoint dict and the model with its weights loaded, in eval mode.

    Raises:
        CheckpointError: any inconsistency, naming the file and what to do.
    """
    path = Path(path)
    checkpoint = load_checkpoint(path, require=MODEL_CHECKPOINT_KEYS)
    return checkpoint, model_from_checkpoint(checkpoint, path)


def model_from_checkpoint(checkpoint: dict[str, Any], path: str | os.PathLike) -> torch.nn.Module:
    """The model of a checkpoint dict (:data:`MODEL_CHECKPOINT_KEYS`), rebuilt through the registry, its weights
    checked and loaded, in eval mode; ``path`` (the file or model folder it came from) names it in errors.

    Raises:
        CheckpointError: as :func:`load_model_checkpoint`.
    """
    from serkit.models import MODELS, create_model, model_class  # here: the registry imports every family

    name, args, labels = checkpoint["model_name"], checkpoint["model_args"], checkpoint["label_names"]
    # the head's outputs: the classes, then the emotion dimensions of task regression / multitask
    outputs = [*labels, *checkpoint.get("dimensions", [])] if isinstance(labels, (list, tuple)) else labels
    if not isinstance(outputs, list) or not outputs or not all(isinstance(x, str) for x in outputs):
        raise CheckpointError(
            f"{path}: label_names (and dimensions) must be a non-empty list of names, got {labels!r}."
        )
    if not isinstance(args, dict) or not isinstance(args.get("num_classes"), int):
        raise CheckpointError(f"{path}: model_args must be a dict with an integer num_classes, got {args!r}.")
    if len(outputs) != args["num_classes"]:
        raise CheckpointError(
            f"{path}: label_names and dimensions give {len(outputs)} names ({', '.join(outputs)}) but the model "
            f"has num_classes={args['num_classes']} outputs; the metadata does not match the weights."
        )
    if not isinstance(name, str) or name.lower() not in MODELS:
        raise CheckpointError(
            f"{path}: model_name {name!r} is not a registered model (see `serkit models`); the "
            "file was written by another serkit version or edited."
        )
    args = dict(args)
    num_classes = args.pop("num_classes")
    # arguments that only load initial weights (an ImageNet file): the stored state dict replaces them, and the
    # file need not exist where the model is used
    for key in model_class(name).initial_weight_args:
        args.pop(key, None)
    try:
        model = create_model(name, num_classes=num_classes, **args)
    except (TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(
            f"{path}: model {name!r} cannot be built from the stored model_args {args!r} "
            f"({exc}); the file was edited or written by another serkit version."
        ) from None
    state_dict = checkpoint["state_dict"]
    if not isinstance(state_dict, dict):
        raise CheckpointError(f"{path}: state_dict is a {type(state_dict).__name__}, not a dict of weights.")
    _check_state_dict(path, model, state_dict, name)
    try:
        model.load_state_dict(state_dict)
    except (RuntimeError, ValueError, KeyError) as exc:
        raise CheckpointError(
            f"{path}: the weights do not load into model {name!r} ({_torch_reason(exc)}); the "
            "metadata does not match the weights."
        ) from None
    return model.eval()
