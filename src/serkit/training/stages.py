"""One (fold, seed) of a recipe: its stages in order, each from chunks to a finished run folder.

A :class:`Stage` is one resolved recipe (:class:`serkit.recipe.Recipe`) with its input pipeline, its training
strategy (chosen once, :func:`serkit.training.strategies.choose_strategy`) and, computed lazily and shared by every
fold and seed, the chunks of every utterance. :func:`run_stages` trains the stages of one (fold, seed): a later
stage starts from an earlier stage's ``best.pt`` (:meth:`SERModel.init_from_stage`), earlier stages live in
``run_dir/<stage>/`` and the last one writes into ``run_dir`` (``metrics.json``, ``predictions.csv``,
``outputs.npz``, ``history.json``, ``best.pt``, ``timing.json``, and ``embeddings.npz`` for the first run when
``train.tsne`` is on).

``timing.json`` (where the run's time went) is described in :mod:`serkit.training.timing`.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from serkit import __version__
from serkit.core.errors import AudioError, SerkitError
from serkit.core.fileio import atomic_open, atomic_write_json, atomic_write_text
from serkit.core.progress import progress_enabled
from serkit.core.values import write_yaml
from serkit.data.protocols import Fold
from serkit.data.task import TaskSpec
from serkit.data.utterance import Utterance
from serkit.evaluation.metrics import constant_prediction_metrics
from serkit.evaluation.outputs import metrics_from_outputs
from serkit.features.pipeline import InputPipeline
from serkit.features.text import TextInput
from serkit.recipe import Recipe, TextSpec
from serkit.training.accelerator import resolve_precision
from serkit.training.augmented_data import augment_training
from serkit.training.checkpoint import load_checkpoint
from serkit.training.data import ChunkSet, utterance_logits
from serkit.training.fold_sets import fold_sets
from serkit.training.strategies import FoldSets, Strategy, choose_strategy
from serkit.training.timing import RunClock

__all__ = [
    "ExperimentData",
    "Prepared",
    "Stage",
    "TextEncodings",
    "build_stages",
    "run_stages",
    "skipped_files",
    "views_of",
]

logger = logging.getLogger(__name__)


@dataclass
class Prepared:
    """Chunks of every usable utterance, computed once for all folds and seeds."""

    train_chunks: dict[str, np.ndarray]
    eval_chunks: dict[str, np.ndarray]
    skipped: list[str]


class TextEncodings:
    """Encoded transcripts per fold, computed once: a text input that learns nothing from data (a frozen encoder)
    is encoded once for all folds and seeds; one that does (a vocabulary) once per fold's training set."""

    def __init__(self) -> None:
        self._memo: dict[str, tuple[TextInput, dict[str, np.ndarray]]] = {}

    def get(
        self, text: TextSpec | None, fold: Fold, by_id: dict[str, Utterance]
    ) -> tuple[TextInput | None, dict[str, np.ndarray] | None]:
        if text is None:
            return None, None
        learns = text.learns_from_data
        key = text.key + ("|" + ",".join(sorted(fold.train)) if learns else "")
        if key not in self._memo:
            text_input = text.fresh()
            text_input.fit([by_id[i] for i in fold.train])
            ids = [*fold.train, *fold.val, *fold.test] if learns else list(by_id)
            encoded = text_input.encode_many([by_id[i].text or "" for i in ids])
            self._memo[key] = (text_input, dict(zip(ids, encoded)))
        return self._memo[key]


@dataclass
class ExperimentData:
    """What every (fold, seed) run of an experiment shares: the utterances, the task (its classes and
    dimensions, :mod:`serkit.data.task`), every utterance's target (by utterance id) and the transcript encodings."""

    utterances: list[Utterance]
    task: TaskSpec
    targets: dict[str, int | np.ndarray]
    texts: TextEncodings = field(default_factory=TextEncodings)
    by_id: dict[str, Utterance] = field(init=False)

    def __post_init__(self) -> None:
        self.by_id = {u.id: u for u in self.utterances}


@dataclass
class Stage:
    """One training stage of every (fold, seed): its resolved recipe, input pipeline, training strategy and
    (lazily) chunks."""

    name: str  # "" for a single-stage recipe
    recipe: Recipe
    pipeline: InputPipeline
    strategy: Strategy
    init_from: str = ""
    prepared: Prepared | None = None

    def chunks(self, utterances: list[Utterance], others: list[Stage]) -> Prepared:
        if self.prepared is None:
            shared = next(
                (other for other in others if other.prepared is not None and _same_arrays(self, other)), None
            )
            self.prepared = (
                views_of(shared.prepared, self.pipeline.inputs.mode)
                if shared is not None
                else _prepare_chunks(utterances, self.pipeline, progress=self.recipe.config.train.progress)
            )
        return self.prepared


def build_stages(stages: list[tuple[str, str, Recipe]], cache_dir: str | Path) -> list[Stage]:
    """:class:`Stage` objects of ``(name, init_from, recipe)`` (:func:`serkit.recipe.resolve_stages`)."""
    return [
        Stage(
            name,
            recipe,
            InputPipeline(recipe.feature, recipe.config.input, cache_dir=cache_dir),
            choose_strategy(recipe.model.cls, recipe.config.train),
            init_from,
        )
        for name, init_from, recipe in stages
    ]


def _prepare_chunks(utterances: list[Utterance], pipeline: InputPipeline, *, progress: bool) -> Prepared:
    from tqdm.auto import tqdm

    train_chunks, eval_chunks, skipped = {}, {}, []
    same = pipeline.cache_key(train=True) == pipeline.cache_key(
        train=False
    )  # same segmentation and truncation
    start = time.monotonic()
    for utt in tqdm(utterances, desc="features", leave=False, disable=not progress_enabled(progress)):
        try:
            train_chunks[utt.id] = pipeline.chunks(utt.path, train=True, name=utt.id)
            eval_chunks[utt.id] = (
                train_chunks[utt.id] if same else pipeline.chunks(utt.path, train=False, name=utt.id)
            )
        except (
            AudioError,
            ValueError,
        ) as exc:  # unreadable, or too short for the feature (named in the message)
            skipped.append(f"{utt.path}: {exc}" if str(utt.path) not in str(exc) else str(exc))
            logger.warning("skipping %s: %s", utt.id, exc)
    logger.info(
        "features of %d utterances ready in %.1f s (%d skipped)",
        len(utterances),
        time.monotonic() - start,
        len(skipped),
    )
    return Prepared(train_chunks, eval_chunks, skipped)


def _same_arrays(a: Stage, b: Stage) -> bool:
    """Two stages whose chunks are views of the same utterance-level arrays (DCNN's frames and utterance stages)."""
    modes = {"utterance", "frames"}
    return (
        a.pipeline.inputs.mode in modes
        and b.pipeline.inputs.mode in modes
        and a.pipeline.cache_key(True) == b.pipeline.cache_key(True)
        and a.pipeline.cache_key(False) == b.pipeline.cache_key(False)
    )


def views_of(prepared: Prepared, mode: str) -> Prepared:
    """Another stage's chunks re-shaped without copies: frames (frames, 1, ...) <-> utterance (1, frames, ...)."""

    def view(array: np.ndarray) -> np.ndarray:
        if mode == "frames":
            return array if array.shape[1:2] == (1,) and array.shape[0] != 1 else array[0][:, None]
        return array if array.shape[0] == 1 else array[:, 0][None]

    return Prepared(
        {k: view(v) for k, v in prepared.train_chunks.items()},
        {k: view(v) for k, v in prepared.eval_chunks.items()},
        prepared.skipped,
    )


def _write_predictions(
    path: Path,
    dataset: ChunkSet,
    probabilities: np.ndarray,
    label_names: list[str],
    by_id: dict[str, Utterance],
) -> None:
    """predictions.csv: ``utt_id, speaker``, then for classes ``true, predicted, p_<class>...`` and for dimensions
    ``true_<dimension>, pred_<dimension>`` (values on [0, 1]; NaN true = not rated)."""
    task = dataset.task
    class_targets, true_values = task.split_targets(dataset.targets)
    class_scores, values = task.split(probabilities)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    header = ["utt_id", "speaker"]
    if task.has_classes:
        header += ["true", "predicted", *[f"p_{name}" for name in label_names]]
    header += [f"{kind}_{name}" for name in task.dimensions for kind in ("true", "pred")]
    writer.writerow(header)

    def names(row: int) -> tuple[str, str]:
        if dataset.multi_label:  # ;-joined present labels, predicted where the probability is above 0.5
            return (
                ";".join(n for n, t in zip(label_names, dataset.targets[row]) if t > 0.5),
                ";".join(n for n, p in zip(label_names, probabilities[row]) if p > 0.5),
            )
        return label_names[class_targets[row]], label_names[int(class_scores[row].argmax())]

    for row, utt_id in enumerate(dataset.utterance_ids):
        line = [utt_id, by_id[utt_id].speaker]
        if task.has_classes:
            line += [*names(row), *[f"{p:.6f}" for p in class_scores[row]]]
        if task.has_dimensions:
            line += [f"{v:.6f}" for pair in zip(true_values[row], values[row]) for v in pair]
        writer.writerow(line)
    with atomic_open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(buffer.getvalue())


def run_stages(
    stages: list[Stage], fold: Fold, seed: int, run_dir: Path, data: ExperimentData, *, keep_embeddings: bool
) -> dict[str, Any]:
    """Train the stages of one (fold, seed) in order; the last one writes into ``run_dir`` and gives the record.

    Earlier stages live in ``run_dir/<stage>/`` and are skipped when finished, so a rerun resumes mid-chain.
    """
    stage_metrics: dict[str, Any] = {}
    stage_notes: list[str] = []
    stage_timings: dict[str, dict[str, Any]] = {}
    for position, stage in enumerate(stages):
        last = position == len(stages) - 1
        stage_dir = run_dir if last else run_dir / stage.name
        finished = stage_dir / "metrics.json"
        init_from = run_dir / stage.init_from / "best.pt" if stage.init_from else None  # an earlier stage
        if not last and finished.is_file():
            record = json.loads(finished.read_text(encoding="utf-8"))
        else:
            clock = RunClock(earlier=dict(stage_timings) if last else {})
            stage_dir.mkdir(parents=True, exist_ok=True)
            write_yaml(stage_dir / "config.yaml", replace(stage.recipe.config, seeds=(seed,)))
            if stage.name:
                logger.info("stage %s of %s / seed %d", stage.name, fold.name, seed)
            if stage.prepared is None:  # the first run computes or reads every run's features
                started = time.monotonic()
                stage.chunks(data.utterances, stages)
                clock.add("features_seconds", time.monotonic() - started)
            record = _run_one(
                stage,
                fold,
                seed,
                stage_dir,
                data,
                clock=clock,
                keep_embeddings=keep_embeddings and last and stage.recipe.config.train.tsne,
                init_from=init_from,
                earlier_stages=stage_metrics if last else None,
                earlier_notes=[*stage_notes, f"stage {stage.name}"] if last and stage_notes else None,
            )
        if stage.name and not last:
            stage_metrics[stage.name] = record["metrics"]
            timing = stage_dir / "timing.json"  # absent in a stage finished before timings were written
            if timing.is_file():
                stage_timings[stage.name] = json.loads(timing.read_text(encoding="utf-8"))
            if record.get("model_note"):
                stage_notes.append(f"stage {stage.name}: {record['model_note']}")
    return record


def _run_one(
    stage: Stage,
    fold: Fold,
    seed: int,
    run_dir: Path,
    data: ExperimentData,
    *,
    clock: RunClock,
    keep_embeddings: bool,
    init_from: Path | None = None,
    earlier_stages: dict[str, Any] | None = None,
    earlier_notes: list[str] | None = None,
) -> dict[str, Any]:
    """Train one stage of one (fold, seed) into ``run_dir`` and write its results; returns the run's record."""
    recipe, config = stage.recipe, stage.recipe.config
    label_names = list(data.task.classes)
    text_input, encoded = data.texts.get(recipe.text, fold, data.by_id)
    sets, standardize = fold_sets(stage, fold, data, encoded)
    sets = augment_training(sets, stage.pipeline, config.augment, standardize, data.by_id, seed=seed)
    torch.manual_seed(seed)  # model initialisation depends on the seed only
    model = recipe.model.build(
        num_classes=data.task.num_outputs,  # the head's outputs: the classes, then the dimensions
        num_features=stage.pipeline.num_features,
        num_frames=sets.train.chunks[0].shape[0],
        text_input=text_input,
    )
    if init_from is not None:  # a later stage starts from the previous stage's selected weights
        model.init_from_stage(load_checkpoint(init_from, require=("state_dict",))["state_dict"])
    if model.input_shape is not None and config.input.short_policy == "keep":
        raise SerkitError(
            f"model {recipe.model.name!r} takes fixed {model.input_shape} segments and ignores "
            "lengths, so short_policy=keep would feed it zero-padded segments as if they were "
            "speech; use input.short_policy pad, tile or drop."
        )
    meta = {
        "serkit_version": __version__,
        "model_name": recipe.model.name,
        "model_args": model.model_args,
        "label_names": label_names,
        **data.task.describe(),  # task, dimensions and their range: what the outputs are (serkit.inference)
        **stage.pipeline.describe(),
        "standardizer": standardize.to_dict(),
        **({"text": text_input.state()} if text_input is not None else {}),
        "precision": config.train.precision,  # prediction runs in it too (serkit.inference.members)
    }
    trained = stage.strategy.train(
        model,
        sets,
        config=config.train,
        seed=seed,
        run_dir=run_dir,
        label_names=label_names,
        checkpoint_meta=meta,
    )
    best = load_checkpoint(run_dir / "best.pt", require=("state_dict",))
    model.load_state_dict(best["state_dict"])
    started = time.monotonic()
    metrics = _evaluate_and_write(
        model,
        sets,
        run_dir,
        data,
        batch_size=config.train.eval_batch_size,
        precision=resolve_precision(config.train.precision),
        keep_embeddings=keep_embeddings,
    )
    clock.add("final_eval_seconds", time.monotonic() - started)
    for part in ("train_seconds", "eval_seconds"):  # every epoch, those before an interruption included
        clock.add(part, sum(epoch.get(part, 0.0) for epoch in trained.outcome.history))
    atomic_write_json(run_dir / "history.json", trained.outcome.history)
    select_on_test = config.train.select_on == "test" or fold.selection == "test"
    selection = (
        "test"
        if select_on_test
        else {"validation": "validation", "last": "last_epoch"}[config.train.select_on]
    )
    if not trained.used_validation and selection == "validation":
        selection = "none"
    record = {
        "fold": fold.name,
        "seed": seed,
        "metrics": metrics,
        "num_epochs": len(trained.outcome.history),
        "best_epoch": trained.outcome.best_epoch,
        "stopped_early": trained.outcome.stopped_early,
        "selection": selection,
        "num_train": sets.train.num_utterances,
        "num_val": sets.val.num_utterances,
        "num_test": sets.test.num_utterances,
    }
    if model.init_note:  # e.g. "AlexNet from random weights (no ImageNet checkpoint given)"
        record["model_note"] = model.init_note
    if earlier_notes:  # how every stage's model started, in every report: "stage cnn: ...; stage blstm: ..."
        record["model_note"] = "; ".join(
            [
                *earlier_notes[:-1],
                f"{earlier_notes[-1]}: {record.get('model_note', 'default initialisation')}",
            ]
        )
    if (
        "neutral" in label_names and data.task.kind == "classification" and not sets.test.multi_label
    ):  # what predicting the majority-ish class gives
        record["reference"] = {"always_neutral": constant_prediction_metrics(sets.test.targets, label_names)}
    if earlier_stages:  # test metrics of every stage of a multi-stage recipe, the last one included
        record["stages"] = {**earlier_stages, "final": metrics}
    # apart from metrics.json, which is the same in every rerun
    atomic_write_json(run_dir / "timing.json", clock.timing())
    atomic_write_json(run_dir / "metrics.json", record)  # written last: marks the run finished
    (run_dir / "last.pt").unlink(missing_ok=True)  # the resume state is no longer needed
    return record


def _evaluate_and_write(
    model: torch.nn.Module,
    sets: FoldSets,
    run_dir: Path,
    data: ExperimentData,
    *,
    batch_size: int,
    precision: str,
    keep_embeddings: bool,
) -> dict[str, Any]:
    """Test metrics of the selected weights, in the training precision (resolved); writes predictions.csv, outputs.npz (validation and test logits, for
    ensembles) and, for the run the t-SNE figure shows, embeddings.npz."""
    label_names = list(data.task.classes)
    test_set, val_set = sets.test, sets.val
    logits, embeddings = utterance_logits(
        model, test_set, batch_size=batch_size, with_embeddings=keep_embeddings, precision=precision
    )
    metrics, probabilities = metrics_from_outputs(test_set.targets, logits.numpy(), label_names, data.task)
    _write_predictions(run_dir / "predictions.csv", test_set, probabilities, label_names, data.by_id)
    val_logits = (
        utterance_logits(model, val_set, batch_size=batch_size, precision=precision)[0].numpy()
        if val_set.num_utterances
        else np.zeros((0, data.task.num_outputs), dtype=np.float32)
    )
    with atomic_open(run_dir / "outputs.npz", "wb") as handle:  # logits for ensembles (serkit ensemble)
        np.savez(
            handle,
            val_ids=np.array(val_set.utterance_ids, dtype=str),
            val_logits=val_logits,
            val_targets=val_set.targets,
            test_ids=np.array(test_set.utterance_ids, dtype=str),
            test_logits=logits.numpy(),
            test_targets=test_set.targets,
            label_names=np.array(label_names),
            dimensions=np.array(data.task.dimensions, dtype=str),  # regression / multitask outputs
        )
    if keep_embeddings:  # only the run the t-SNE figure shows: GLAM embeddings are ~93 KB per utterance
        with atomic_open(run_dir / "embeddings.npz", "wb") as handle:
            np.savez(handle, embeddings=embeddings.numpy(), targets=test_set.targets)
    return metrics


def skipped_files(stage: Stage, output_dir: Path) -> tuple[list[str], str]:
    """The audio files a stage left out, written one per line to ``skipped_files[_<stage>].txt``; (list, name).

    A stage whose runs were all finished before this call computed no features, so its list is the one an
    earlier call wrote."""
    path = output_dir / (f"skipped_files_{stage.name}.txt" if stage.name else "skipped_files.txt")
    if stage.prepared is None:
        return (path.read_text(encoding="utf-8").splitlines() if path.is_file() else []), path.name
    skipped = [entry.replace("\n", " ") for entry in stage.prepared.skipped]  # one line per file
    if skipped:
        atomic_write_text(path, "\n".join(skipped) + "\n")
    else:
        path.unlink(missing_ok=True)  # a list from an earlier call, when those files have become readable
    return skipped, path.name
