"""The trained models behind a recogniser: one per checkpoint, loaded and checked against each other.

A run folder written by ``serkit train`` holds one ``best.pt`` per (fold, seed); :func:`find_run_checkpoints` finds
the finished ones and :func:`load_members` loads them, refusing checkpoints that do not classify the same labels
(or predict the same dimensions on the same scale, :class:`~serkit.runtime.task.ModelTask`) from the same inputs
(:func:`check_same_inputs`).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from serkit.config import InputConfig, from_dict
from serkit.features.pipeline import InputPipeline, Normalizer
from serkit.features.text import TextInput, text_input_from_state
from serkit.inference.model_folder import is_model_folder, read_model_folder, rebuild_model
from serkit.runtime.task import ModelTask
from serkit.training.accelerator import resolve_precision
from serkit.training.checkpoint import MODEL_CHECKPOINT_KEYS, CheckpointError, load_checkpoint

__all__ = ["Member", "check_same_inputs", "dry_run", "find_run_checkpoints", "load_members"]

logger = logging.getLogger(__name__)

# The dry run that checks a checkpoint: this much generated noise (or one window, if longer) at this RMS.
_DRY_RUN_SECONDS = 1.0
_DRY_RUN_RMS = 0.01
_DRY_RUN_TEXT = "okay"  # fusion models also get a transcript


@dataclass
class Member:
    """One trained model of a recogniser (one checkpoint), with the input state fitted alongside its weights."""

    model: torch.nn.Module
    standardizer: Normalizer
    text_input: TextInput | None
    source: str = ""
    #: Resolved autocast of the model (``no``, ``bf16``, ``fp16``), as in :func:`utterance_logits`.
    precision: str = "no"
    #: Where the model runs (:func:`serkit.inference.device.move_to_device`); inputs are moved there.
    device: str = "cpu"

    @property
    def run_options(self) -> dict[str, str]:
        """How :func:`~serkit.training.data.utterance_logits` runs the model: its precision and device."""
        return {"precision": self.precision, "device": self.device}


def find_run_checkpoints(run_dir: str | os.PathLike) -> list[Path]:
    """The ``best.pt`` of every finished (fold, seed) run of a run folder written by ``serkit train`` (or a model
    folder of ``serkit export --format folder`` itself).

    ``run_dir`` is the ``--out`` folder (models in ``runs/<fold>/seed<k>/best.pt``; a multi-stage recipe keeps
    its last stage there and earlier stages in sub-folders, which are not used), its ``runs`` folder, one fold's
    folder (its seeds), or one run's own folder. Runs without ``metrics.json`` (still training, or interrupted) are left out with a warning.

    Raises:
        CheckpointError: no finished run in the folder.
    """
    run_dir = Path(run_dir)
    if (run_dir / "best.pt").is_file():  # one (fold, seed) run's folder
        return [run_dir / "best.pt"]
    if is_model_folder(run_dir):  # written by `serkit export --format folder`: one model
        return [run_dir]
    found = next(
        (
            hits
            for pattern in ("runs/*/seed*/best.pt", "*/seed*/best.pt", "seed*/best.pt")
            if (hits := sorted(run_dir.glob(pattern)))
        ),
        [],
    )
    finished = [path for path in found if (path.parent / "metrics.json").is_file()]
    for path in found:
        if path not in finished:
            logger.warning("leaving out %s: its run has not finished (no metrics.json next to it)", path)
    if not finished:
        state = f"{len(found)} best.pt file(s) but no finished run" if found else "no best.pt"
        raise CheckpointError(
            f"{run_dir}: {state} (looked for runs/<fold>/seed<k>/best.pt with metrics.json); "
            "pass the folder `serkit train --out` wrote after training finished, or one best.pt."
        )
    return finished


def load_members(
    paths: list[Path], *, precision: str | None = None
) -> tuple[InputPipeline, ModelTask, list[Member]]:
    """Load checkpoints (``best.pt`` files, or model folders of :mod:`~serkit.inference.model_folder`) as members
    of one recogniser, each model in its fastest equivalent form for evaluation
    (:meth:`~serkit.models.base.SERModel.for_inference`).

    ``precision`` (``auto``, ``no``, ``bf16``, ``fp16``) is resolved on this machine
    (:func:`~serkit.training.accelerator.resolve_precision`); None = the ``train.precision`` each checkpoint was
    trained with (``no`` for checkpoints older than that key), so predictions are computed as the run's own
    evaluation computed them.

    Returns:
        (the input pipeline rebuilt from the first checkpoint, its task: classes and dimensions, one member per
        path).

    Raises:
        CheckpointError: a file that cannot be loaded or rebuilt, or two files that differ in labels, task,
            dimensions or their range, feature or input config, or in using text (naming both files).
    """
    members: list[Member] = []
    first: tuple[Path, dict] | None = None
    for path in paths:
        if path.is_dir():
            checkpoint, model = read_model_folder(path)
        else:
            checkpoint = load_checkpoint(path, require=MODEL_CHECKPOINT_KEYS)
            model = rebuild_model(checkpoint, path)
        if first is None:
            first = (path, checkpoint)
            try:
                pipeline = InputPipeline(checkpoint["feature"], from_dict(InputConfig, checkpoint["input"]))
            except (TypeError, ValueError, KeyError) as exc:
                raise CheckpointError(
                    f"{path}: the stored feature/input config is not valid ({exc}); the file "
                    "was edited or written by another serkit version."
                ) from None
        else:
            check_same_inputs(first, (path, checkpoint))
        try:
            member = Member(
                model.for_inference(),
                Normalizer.from_dict(checkpoint.get("standardizer")),
                text_input_from_state(checkpoint["text"]) if checkpoint.get("text") else None,
                str(path),
                resolve_precision(precision or checkpoint.get("precision", "no")),
            )
        except (TypeError, ValueError, KeyError) as exc:
            raise CheckpointError(
                f"{path}: the stored standardizer or text input cannot be rebuilt "
                f"({type(exc).__name__}: {exc})."
            ) from None
        members.append(member)
    return pipeline, task_of(*first), members


def task_of(path: Path, checkpoint: dict) -> ModelTask:
    """The task of a checkpoint (:meth:`ModelTask.from_meta`); CheckpointError naming ``path`` if malformed."""
    try:
        return ModelTask.from_meta(checkpoint, str(path))
    except ValueError as exc:
        raise CheckpointError(f"{exc} The file was edited or written by another serkit version.") from None


def check_same_inputs(first: tuple[Path, dict], other: tuple[Path, dict]) -> None:
    """Refuse to average two checkpoints that do not classify the same labels (or predict the same dimensions on
    the same scale) from the same inputs."""
    (path_a, a), (path_b, b) = first, other
    task_a, task_b = task_of(path_a, a).describe(), task_of(path_b, b).describe()
    for key in ("task", "dimensions", "dimension_range"):
        if task_a.get(key) != task_b.get(key):
            raise CheckpointError(
                f"{path_a} and {path_b} cannot be averaged: their {key} differ ({task_a.get(key)!r} vs "
                f"{task_b.get(key)!r}). An ensemble needs models trained for the same task, dimensions and "
                "rating scale; pass one best.pt instead."
            )
    for key in ("label_names", "feature", "input"):
        if a[key] != b[key]:
            raise CheckpointError(
                f"{path_a} and {path_b} cannot be averaged: their {key} differ ({a[key]!r} vs "
                f"{b[key]!r}). An ensemble needs models trained with the same labels, features and "
                "inputs; pass one best.pt instead."
            )
    if bool(a.get("text")) != bool(b.get("text")):
        raise CheckpointError(
            f"{path_a} and {path_b} cannot be averaged: one fuses audio with text, the other "
            "does not; pass one best.pt instead."
        )


def dry_run(recognizer, member: Member) -> None:
    """Run a recogniser's rebuilt pipeline and ``member``'s model on quiet generated noise: one output per class
    and dimension (:class:`~serkit.runtime.task.ModelTask`), all finite; CheckpointError naming the file if not."""
    inputs = recognizer.pipeline.inputs
    seconds = max(_DRY_RUN_SECONDS, inputs.window if inputs.mode == "segments" else 0.0)
    noise = _DRY_RUN_RMS * np.random.default_rng(0).standard_normal(round(seconds * recognizer.sample_rate))
    try:
        logits, _ = recognizer._member_logits(
            member,
            [recognizer._chunks(noise.astype(np.float32))],
            [_DRY_RUN_TEXT] if member.text_input is not None else None,
        )
    except Exception as exc:  # noqa: BLE001  (any failure here means the stored configs do not fit the model)
        raise CheckpointError(
            f"{member.source}: the feature/input config does not match the model weights: running the rebuilt "
            f"pipeline (feature {recognizer.pipeline.feature.to_dict().get('name')!r}, input mode {inputs.mode!r}) "
            f"and model on {seconds:g} s of generated noise failed ({type(exc).__name__}: {exc}). The file was "
            "edited or assembled from different runs."
        ) from None
    task = recognizer.task
    if tuple(logits.shape) != (1, task.num_outputs):
        raise CheckpointError(
            f"{member.source}: the feature/input config does not match the model weights: the model gives "
            f"{logits.shape[-1]} outputs for {len(task.classes)} label_names and {len(task.dimensions)} dimensions."
        )
    if not bool(torch.isfinite(logits).all()):
        raise CheckpointError(
            f"{member.source}: the model outputs NaN or infinity on quiet generated noise; its "
            "weights are damaged (a diverged training?). Retrain or use another checkpoint."
        )
