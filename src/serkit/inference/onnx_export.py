"""Export a trained model to ONNX, feature extraction included: raw waveform windows in, logits out.

The exported graph (:class:`WaveformModel`) takes ``waveforms (batch, window)`` float32 at the model's rate and
returns ``logits (batch, num_classes)``: the feature as a plain graph (:mod:`serkit.features.graph`: a DFT-matrix
STFT, mel and DCT matrix products), the ``global`` normalisation with the stored training statistics (or the
``utterance`` one over the batch: the runtime then runs each file's windows as one batch), and the model in its
inference form (GLAM's batch norms folded). The batch axis is dynamic, everything is float32.
A model of emotion dimensions (``task: regression`` or ``multitask``) exports the same way: its graph's outputs are
the class logits, then one [0, 1] value per dimension, and the metadata says so (``serkit.task``, ``serkit.dimensions``,
``serkit.dimension_range``; format version 3, which older runtimes refuse instead of softmaxing the values).
Everything else prediction needs (labels, rate, window and hop, short-input policy, aggregation, metrics) goes into
the file's metadata (:class:`serkit.runtime.ModelCard`), which the torch-free runtime
(:class:`serkit.runtime.OnnxRecognizer`) reads.

Exporter: torch's ``torch.onnx.export(..., dynamo=True)`` (the maintained torch.export-based exporter; it needs
``onnxscript``), opset :data:`OPSET`. The file is checked before it is written: onnxruntime must reproduce the
torch probabilities on generated noise to :data:`CHECK_TOLERANCE`.

Exportable: acoustic segment models (``input.mode: segments``) on an ``mfcc``, ``log_mel`` or ``apcnn_spectrogram``
feature with ``global``, ``utterance`` or ``none`` normalisation: GLAM and its ablations (resmulticonv3, mhresmulticonv3,
aaresmulticonv3), the CNN baselines (mhcnn, macnn, aacnn, apcnn), cnn_small and cnn_tiny. :func:`check_exportable`
names the others (DCNN-BLSTMwA, HuBERT and CASE SSL models, text and fusion models, scikit-learn models) and why.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch import nn

from serkit import __version__
from serkit.core.errors import ExportError
from serkit.core.fileio import atomic_open
from serkit.features.graph import UnsupportedFeatureGraph, feature_graph
from serkit.features.normalize import STD_FLOOR
from serkit.features.pipeline import InputPipeline, Normalizer
from serkit.inference.members import find_run_checkpoints, load_members
from serkit.models.base import SERModel
from serkit.runtime.metadata import ModelCard
from serkit.runtime.task import ModelTask

__all__ = [
    "CHECK_TOLERANCE",
    "OPSET",
    "WaveformModel",
    "check_exportable",
    "choose_checkpoint",
    "export_onnx",
]

logger = logging.getLogger(__name__)

#: ONNX opset of the exported graph (onnxruntime >= 1.17 runs it).
OPSET = 18
#: Largest difference in probability between onnxruntime and torch on the export's check.
CHECK_TOLERANCE = 1e-4


class WaveformModel(nn.Module):
    """Feature graph + normalisation + model: waveforms (batch, samples) -> logits (batch, num_classes).

    Args:
        features: waveforms (batch, samples) -> features (batch, frames, num_features)
            (:func:`serkit.features.graph.feature_graph`).
        normalizer: ``global`` (its mean and std become constants of the graph), ``utterance`` (mean and std of
            every frame of the batch, which must then hold the windows of one utterance: the runtime runs each
            file alone) or ``none``.
        model: an acoustic model taking ``features, lengths``; every window is complete, so ``lengths`` is the
            number of frames of every row.
    """

    def __init__(self, features: nn.Module, normalizer: Normalizer, model: nn.Module) -> None:
        super().__init__()
        self.features, self.model = features, model
        self.normalize = normalizer.mode
        if self.normalize == "global":
            self.register_buffer("mean", torch.as_tensor(normalizer.mean, dtype=torch.float32))
            self.register_buffer("std", torch.as_tensor(normalizer.std, dtype=torch.float32))

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        features = self.features(waveforms)  # (batch, frames, num_features)
        if self.normalize == "global":
            features = (features - self.mean) / self.std
        elif self.normalize == "utterance":  # Normalizer.utterance: population std, floored
            mean = features.mean(dim=(0, 1), keepdim=True)
            std = ((features - mean) ** 2).mean(dim=(0, 1), keepdim=True).sqrt().clamp_min(STD_FLOOR)
            features = (features - mean) / std
        lengths = torch.ones_like(features[:, 0, 0], dtype=torch.int64) * features.shape[1]  # (batch,)
        return self.model(features, lengths)


def check_exportable(
    model: SERModel, pipeline: InputPipeline, normalizer: Normalizer, source: Path
) -> nn.Module:
    """The feature graph of an exportable checkpoint; otherwise an error naming the family and why.

    Raises:
        ExportError: text/fusion, scikit-learn, DCNN-BLSTMwA image and SSL waveform models; input modes other than
            segments; ``short_policy: keep``; ``utterance``/``speaker`` normalisation; a feature without a graph.
    """
    name = getattr(model, "name", type(model).__name__)
    family = f"{source}: model {type(model).__name__} ({name})"
    why = None
    if model.takes_text_ids or model.takes_text_embeddings:
        why = "it fuses audio with a transcript (text/fusion model); the exported graph takes audio only"
    elif model.fits_in_closed_form:
        why = "it is a scikit-learn model on utterance functionals, not a torch graph"
    elif model.input_spec.kind == "images":
        why = (
            "DCNN-BLSTMwA classifies image segments cut from whole-utterance log-mel features (input.mode: frames) "
            "and pools them over the utterance; that split has no fixed-window graph"
        )
    elif model.input_spec.kind == "waveform":
        why = (
            "SSL models (HuBERT/wav2vec2) run a pretrained Hugging Face encoder over whole utterances; exporting "
            "it is not supported (untested, and its runtime needs would be the encoder's)"
        )
    elif model.input_spec.feature == "ssl":
        why = (
            "it classifies the states of a pretrained SSL encoder (HuBERT/wav2vec2, feature ssl), which would have "
            "to be exported with it; that is not supported"
        )
    elif pipeline.inputs.mode != "segments":
        why = (
            f"only segment models export (input.mode: segments), this one uses mode {pipeline.inputs.mode!r}"
        )
    elif pipeline.inputs.short_policy == "keep":
        why = "input.short_policy=keep gives windows of varying length; use pad, tile or drop"
    elif normalizer.mode == "speaker":
        why = (
            "input.normalize=speaker needs the statistics of a speaker's other recordings, which one file does "
            "not hold; global, utterance and none export"
        )
    if why is not None:
        raise ExportError(f"{family} cannot be exported to ONNX: {why}.")
    try:
        return feature_graph(pipeline.feature)
    except UnsupportedFeatureGraph as exc:
        raise ExportError(f"{family} cannot be exported to ONNX: {exc}") from None


def choose_checkpoint(source: str | os.PathLike, *, fold: str | None = None, seed: int | None = None) -> Path:
    """The ``best.pt`` to export: ``source`` itself, or one finished run of a run folder.

    A run folder's runs are ``runs/<fold>/seed<k>/best.pt`` (:func:`find_run_checkpoints`); ``fold`` and ``seed``
    pick one, by default the first (logged, with the others' count).

    Raises:
        CheckpointError: no finished run. ExportError: no run matches ``fold``/``seed`` (the choices listed).
    """
    source = Path(source)
    if not source.is_dir():
        if fold is not None or seed is not None:
            raise ExportError(
                f"{source}: --fold and --seed choose a run of a run folder; this is one checkpoint."
            )
        return source
    found = find_run_checkpoints(source)
    chosen = [
        path
        for path in found
        if (fold is None or path.parent.parent.name == fold)
        and (seed is None or path.parent.name == f"seed{seed}")
    ]
    if not chosen:
        runs = ", ".join(f"{p.parent.parent.name}/{p.parent.name}" for p in found)
        raise ExportError(
            f"{source}: no finished run matches --fold {fold} --seed {seed}; the runs are: {runs}."
        )
    if len(found) > 1:
        logger.info(
            "exporting %s, one of the %d models of %s (an ONNX file holds one model; choose with --fold/--seed)",
            chosen[0],
            len(found),
            source,
        )
    return chosen[0]


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """The exporter's progress logs (onnxscript's optimiser, torch.onnx's registry) and deprecation warnings off."""
    loggers = [logging.getLogger(name) for name in ("onnxscript", "onnx_ir", "torch.onnx")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _card(
    checkpoint: Path, pipeline: InputPipeline, task: ModelTask, normalizer: Normalizer, model
) -> ModelCard:
    inputs, rate = pipeline.inputs, pipeline.inputs.sample_rate
    max_seconds = inputs.max_seconds if inputs.eval_max_seconds is None else inputs.eval_max_seconds
    metrics_path = checkpoint.parent / "metrics.json"
    metrics = json.loads(metrics_path.read_text(encoding="utf-8")) if metrics_path.is_file() else {}
    described = pipeline.describe()
    return ModelCard(
        labels=list(task.classes),
        task=task.kind,
        dimensions=list(task.dimensions),
        dimension_range=list(task.dimension_range or ()),
        sample_rate=rate,
        window=round(inputs.window * rate),
        hop=round(inputs.eval_hop * rate),
        short_policy=inputs.short_policy,
        max_samples=None if max_seconds is None else round(max_seconds * rate),
        normalize=normalizer.mode,
        feature=described["feature"],
        input=described["input"],
        model=str(getattr(model, "name", type(model).__name__)),
        source=str(checkpoint),
        version=__version__,
        metrics=metrics,
    )


def _readable(outputs: torch.Tensor, task: ModelTask) -> np.ndarray:
    """Graph outputs (n, C + D) -> the probabilities (softmax of the class columns) and the dimension values."""
    logits, values = task.split(outputs)
    return torch.cat([torch.softmax(logits, dim=-1), values], dim=-1).numpy()


def _check_with_onnxruntime(proto, wrapper: WaveformModel, card: ModelCard, source: Path) -> float:
    """Largest difference of probabilities (and dimension values) onnxruntime vs torch on 3 windows of generated
    noise; raises above :data:`CHECK_TOLERANCE`."""
    import onnxruntime

    task = card.model_task(str(source))
    session = onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    noise = 0.05 * np.random.default_rng(0).standard_normal((3, card.window)).astype(np.float32)
    with torch.no_grad():
        expected = _readable(wrapper(torch.from_numpy(noise)), task)
    logits = session.run(None, {session.get_inputs()[0].name: noise})[0]
    got = _readable(torch.from_numpy(logits), task)
    difference = float(np.abs(got - expected).max())
    if not difference <= CHECK_TOLERANCE:
        raise ExportError(
            f"{source}: the exported graph does not reproduce the model (probabilities differ by {difference:.2g} "
            f"on generated noise, more than {CHECK_TOLERANCE:g}); please report this with the checkpoint."
        )
    return difference


def export_onnx(
    source: str | os.PathLike,
    output: str | os.PathLike,
    *,
    fold: str | None = None,
    seed: int | None = None,
) -> ModelCard:
    """Export a checkpoint (or one run of a run folder, :func:`choose_checkpoint`) to an ONNX file.

    The graph takes ``waveforms (batch, window)`` float32 and returns ``logits (batch, num_classes)``; the file is
    written atomically, after onnxruntime has reproduced torch on generated noise.

    Returns:
        the metadata written into the file.

    Raises:
        ExportError: a model that cannot be exported (:func:`check_exportable`), or an export that does not
            reproduce the model. CheckpointError: an unreadable checkpoint or run folder.
    """
    try:
        import onnx
        import onnxruntime  # noqa: F401  (the export is checked with it)
        import onnxscript  # noqa: F401  (torch's dynamo exporter needs it)
    except ImportError as exc:
        raise ExportError(
            f'exporting to ONNX needs {exc.name}: pip install "serkit[export]" (onnx, onnxscript, onnxruntime).'
        ) from None
    checkpoint = choose_checkpoint(source, fold=fold, seed=seed)
    pipeline, task, members = load_members([checkpoint], precision="no")
    member = members[0]
    features = check_exportable(member.model, pipeline, member.standardizer, checkpoint)
    card = _card(checkpoint, pipeline, task, member.standardizer, member.model)
    wrapper = WaveformModel(features, member.standardizer, member.model).eval()
    example = torch.zeros(2, card.window)
    try:
        with _quiet_exporter():
            program = torch.onnx.export(
                wrapper,
                (example,),
                input_names=["waveforms"],
                output_names=["logits"],
                opset_version=OPSET,
                dynamo=True,
                dynamic_shapes=({0: torch.export.Dim("batch", min=1)},),
                verbose=False,
            )
    except Exception as exc:  # noqa: BLE001  (the exporter's errors are many and untyped)
        raise ExportError(
            f"{checkpoint}: torch.onnx.export failed for model {card.model} ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}); this family has not been made exportable yet."
        ) from None
    proto = program.model_proto
    for key, value in card.to_props().items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto)
    difference = _check_with_onnxruntime(proto, wrapper, card, checkpoint)
    with atomic_open(output, "wb") as handle:
        handle.write(proto.SerializeToString())
    logger.info("wrote %s (onnxruntime vs torch on noise: %.1g)", output, difference)
    return card
