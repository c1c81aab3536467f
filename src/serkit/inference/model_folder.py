"""Model folders: a checkpoint as ``model.safetensors`` + ``config.json`` + a model card ``README.md``.

``serkit export RUN_OR_CHECKPOINT --format folder -o DIR`` (:func:`export_folder`) writes the layout of a Hugging
Face hub model repository, so the folder can be uploaded as it is and loaded back with
:meth:`serkit.inference.Recognizer.from_pretrained` (:mod:`serkit.inference.pretrained`):

- ``model.safetensors``: the weights (the checkpoint's ``state_dict``), no pickle;
- ``config.json``: everything else the checkpoint holds (``model_name``, ``model_args``, ``label_names``,
  ``feature``, ``input``, ``standardizer`` (the normalisation statistics), ``text``, ``precision``,
  ``serkit_version``; for a model of dimensions also ``task``, ``dimensions`` and ``dimension_range``,
  :mod:`serkit.runtime.task`), plus ``format`` (:data:`FOLDER_FORMAT`, which tells it from a transformers
  ``config.json``), ``format_version`` and ``source``;
- ``README.md``: the model card (:mod:`serkit.inference.model_card`).

Loading rebuilds the same checkpoint dict and goes through the checks of a ``best.pt``
(:func:`~serkit.training.checkpoint.model_from_checkpoint`); export checks that the folder predicts what the
checkpoint predicts before it is renamed into place.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from serkit import __version__
from serkit.core.errors import ExportError, OutputOverwritesInputError
from serkit.core.fileio import atomic_folder, atomic_open, atomic_write_json, atomic_write_text, check_outputs
from serkit.inference.model_card import describe_run, render_card
from serkit.training.checkpoint import (
    MODEL_CHECKPOINT_KEYS,
    CheckpointError,
    load_checkpoint,
    model_from_checkpoint,
)

__all__ = [
    "CONFIG_FILE",
    "FOLDER_FORMAT",
    "WEIGHTS_FILE",
    "export_folder",
    "is_model_folder",
    "read_model_folder",
    "rebuild_model",
]

logger = logging.getLogger(__name__)

FOLDER_FORMAT = "serkit-model-folder"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
CARD_FILE = "README.md"
#: Largest difference in probability, folder vs checkpoint, that the export's check accepts.
CHECK_TOLERANCE = 1e-6


def _require_safetensors():
    try:
        import safetensors.torch
    except ImportError:
        raise ExportError(
            'model folders store their weights with safetensors: pip install "serkit[ssl]" (or safetensors).'
        ) from None
    return safetensors.torch


def folder_config(folder: str | os.PathLike) -> dict[str, Any] | None:
    """The ``config.json`` of a serkit model folder, or None if ``folder`` is not one (no file, not JSON, or a
    ``config.json`` without ``"format": "serkit-model-folder"``, such as a transformers model's)."""
    path = Path(folder) / CONFIG_FILE
    try:
        config = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (OSError, ValueError):
        return None
    return config if isinstance(config, dict) and config.get("format") == FOLDER_FORMAT else None


def is_model_folder(folder: str | os.PathLike) -> bool:
    """True for a folder written by :func:`export_folder` (its ``config.json`` names :data:`FOLDER_FORMAT`)."""
    return Path(folder).is_dir() and folder_config(folder) is not None


def read_model_folder(folder: str | os.PathLike) -> tuple[dict[str, Any], torch.nn.Module]:
    """(checkpoint dict, model in eval mode) of a model folder, as :func:`load_model_checkpoint` of a best.pt.

    Raises:
        CheckpointError: no or unreadable ``config.json`` / ``model.safetensors``, missing keys, or metadata that
            does not fit the weights; naming the file.
    """
    folder = Path(folder)
    config = folder_config(folder)
    if config is None:
        raise CheckpointError(
            f'{folder / CONFIG_FILE}: missing, not JSON, or not a serkit model folder (no "format": '
            f'"{FOLDER_FORMAT}"); pass a folder written by `serkit export --format folder`.'
        )
    if int(config.get("format_version", 0)) > FORMAT_VERSION:
        raise CheckpointError(
            f"{folder / CONFIG_FILE}: format_version {config['format_version']} is newer than this serkit "
            f"({__version__}) reads ({FORMAT_VERSION}); upgrade serkit."
        )
    weights = folder / WEIGHTS_FILE
    if not weights.is_file():
        raise CheckpointError(f"{weights}: the weights are missing; export the folder again.")
    try:
        state_dict = _require_safetensors().load_file(str(weights), device="cpu")
    except ExportError:
        raise
    except Exception as exc:  # noqa: BLE001  (safetensors raises its own error types for damaged files)
        raise CheckpointError(
            f"{weights}: not a readable safetensors file ({type(exc).__name__}: {exc}); export the folder again."
        ) from None
    checkpoint = {key: value for key, value in config.items() if key not in ("format", "format_version")}
    missing = [key for key in MODEL_CHECKPOINT_KEYS if key != "state_dict" and key not in checkpoint]
    if missing:
        raise CheckpointError(f"{folder / CONFIG_FILE}: lacks {missing}; export the folder again.")
    checkpoint["state_dict"] = state_dict
    return checkpoint, rebuild_model(checkpoint, folder)


def rebuild_model(checkpoint: dict[str, Any], path: str | os.PathLike) -> torch.nn.Module:
    """:func:`~serkit.training.checkpoint.model_from_checkpoint` after checking the checkpoint's task: a model of
    emotion dimensions (``task: regression`` or ``multitask``) has one output per class and then one per dimension.

    Raises:
        CheckpointError: as :func:`model_from_checkpoint`, or a malformed ``task``/``dimensions`` (naming ``path``).
    """
    from serkit.runtime.task import ModelTask

    try:
        ModelTask.from_meta(checkpoint, str(path))
    except ValueError as exc:
        raise CheckpointError(f"{exc} The file was edited or written by another serkit version.") from None
    return model_from_checkpoint(checkpoint, path)  # its outputs: the classes, then the dimensions


def _plain(value: Any, where: str) -> Any:
    """``value`` as JSON types (tuples become lists, numpy scalars numbers); ExportError for anything else."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, dict):
        return {str(key): _plain(item, f"{where}.{key}") for key, item in value.items()}
    raise ExportError(
        f"{where}: a {type(value).__name__} cannot be written to config.json; this checkpoint holds state that "
        "only a best.pt can carry: use the checkpoint itself, or report this."
    )


def _weights(state_dict: dict[str, Any], source: Path) -> dict[str, torch.Tensor]:
    """The state dict as contiguous tensors that share no memory (safetensors refuses shared or strided ones)."""
    tensors = {}
    for key, value in state_dict.items():
        if not isinstance(value, torch.Tensor):
            raise ExportError(f"{source}: state_dict[{key!r}] is a {type(value).__name__}, not a tensor.")
        tensors[key] = value.detach().cpu().contiguous().clone()
    return tensors


def _check_folder(checkpoint: Path, folder: Path) -> float:
    """Largest difference of probabilities and dimension values, folder vs checkpoint, on generated noise;
    raises above the tolerance."""
    from serkit.inference.recognizer import Recognizer

    original = Recognizer.from_checkpoint(checkpoint, precision="no")
    loaded = Recognizer.from_checkpoint(folder, precision="no")
    noise = 0.05 * np.random.default_rng(0).standard_normal(3 * original.sample_rate).astype(np.float32)
    texts = ["okay"] if original.needs_text else None
    expected = original._outputs([original._waveform_source(noise, None)], texts)
    got = loaded._outputs([loaded._waveform_source(noise, None)], texts)
    if loaded.task != original.task:
        raise ExportError(
            f"{checkpoint}: the model folder's task {loaded.task} differs from {original.task}."
        )
    difference = max(float(np.abs(a - b).max(initial=0.0)) for a, b in zip(expected[:2], got[:2]))
    if not difference <= CHECK_TOLERANCE:
        raise ExportError(
            f"{checkpoint}: the model folder does not reproduce the checkpoint (probabilities differ by "
            f"{difference:.2g} on generated noise, more than {CHECK_TOLERANCE:g}); please report this."
        )
    return difference


def export_folder(
    source: str | os.PathLike,
    output: str | os.PathLike,
    *,
    fold: str | None = None,
    seed: int | None = None,
) -> tuple[dict[str, Any], float]:
    """Write a checkpoint (or one run of a run folder: ``fold``/``seed``, default the first) as a model folder.

    The folder is filled under a temporary name next to ``output`` and renamed into place only after it has been
    checked to predict what the checkpoint predicts (:func:`serkit.core.fileio.atomic_folder`); an existing
    ``output`` is replaced only if it is an empty folder or a model folder.

    Returns:
        (the ``config.json`` written, the largest probability difference folder vs checkpoint on the check).

    Raises:
        ExportError: ``output`` is an input, holds one, or is a folder of something else; a checkpoint holding
            state JSON cannot carry. CheckpointError: an unreadable checkpoint or run folder.
    """
    from serkit.inference.onnx_export import choose_checkpoint

    source, output = Path(source), Path(output)
    checkpoint_path = choose_checkpoint(source, fold=fold, seed=seed)
    check_outputs([output], inputs=[source, checkpoint_path])
    target = output.resolve()
    for path in (source, checkpoint_path):
        if target in path.resolve().parents:  # the folder is replaced as a whole: it may not hold an input
            raise OutputOverwritesInputError(
                f"refusing to write {output}: it contains {path}, an input of this export; choose an output "
                "folder outside it."
            )
    if output.is_dir() and any(output.iterdir()) and not is_model_folder(output):
        raise ExportError(
            f"{output}: a folder that is not a serkit model folder already exists there; choose a new folder name "
            "(only an empty folder or an earlier export is replaced)."
        )
    checkpoint = load_checkpoint(checkpoint_path, require=MODEL_CHECKPOINT_KEYS)
    meta = {key: value for key, value in checkpoint.items() if key != "state_dict"}
    config = {
        "format": FOLDER_FORMAT,
        "format_version": FORMAT_VERSION,
        **_plain(meta, "checkpoint"),
        "source": str(checkpoint_path),
        "exported_by": __version__,
    }
    card = render_card(config, describe_run(source, checkpoint_path, meta.get("dimensions") or ()))
    weights = _require_safetensors().save(_weights(checkpoint["state_dict"], checkpoint_path))
    with atomic_folder(output) as folder:
        with atomic_open(folder / WEIGHTS_FILE, "wb") as handle:
            handle.write(weights)
        atomic_write_json(folder / CONFIG_FILE, config)
        atomic_write_text(folder / CARD_FILE, card)
        difference = _check_folder(checkpoint_path, folder)
    logger.info("wrote %s (folder vs checkpoint on noise: %.1g)", output, difference)
    return config, difference
