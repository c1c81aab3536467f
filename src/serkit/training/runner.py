"""The folds x seeds runner: ``run_experiment(config, output_dir)``.

Output folder layout::

    <output_dir>/
      config.yaml               resolved recipe (every default written out)
      folds.json                the folds used, with the protocol's guarantees
      runs/<fold>/seed<k>/      config.yaml, history.json, metrics.json, predictions.csv, outputs.npz (validation
                                and test logits, for ensembles), embeddings.npz (first run), best.pt
                                (self-describing), last.pt (resume state); a multi-stage recipe keeps every stage
                                but the last in a sub-folder named after it (same files) and the last one here
      summary.md / .csv / .json, runs.csv, confusion_matrix.png, training_curves.png, tsne.png
      skipped_files.txt         every audio file left out as unreadable or unusable, one per line with the reason,
                                when there are any (skipped_files_<stage>.txt per stage of a multi-stage recipe)
      feature_cache/            features by content digest (unless cache_dir is set)

A run whose ``metrics.json`` exists is finished and skipped; an interrupted run continues from its ``last.pt``.
Rerunning a folder with a changed recipe is refused with the list of changed keys, unless ``restart=True``
(``serkit train --restart``) moves the old results aside. Unreadable audio files are skipped with a warning,
counted in the summary and listed in ``skipped_files.txt``.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from serkit import __version__
from serkit.config import (
    ConfigError,
    ExperimentConfig,
    LabelsConfig,
    format_value,
    load_experiment,
    parse_value,
    read_yaml,
    stage_config,
    to_dict,
    write_yaml,
)
from serkit.data.corpora import fill_content_hashes, load_corpus
from serkit.data.labels import TARGETS, LabelSet, apply_label_set, get_label_set
from serkit.data.protocols import AUTO_PROTOCOL, Fold, choose_protocol, make_folds, protocol_info, write_folds
from serkit.data.utterance import CANONICAL_EMOTIONS, Utterance, read_manifest
from serkit.core.errors import AudioError, SerkitError
from serkit.evaluation.metrics import constant_prediction_metrics, metrics_from_logits
from serkit.evaluation.plots import plot_confusion_matrix, plot_training_curves, plot_tsne
from serkit.evaluation.report import summarize_runs, write_summary
from serkit.features.pipeline import InputPipeline, Standardizer
from serkit.features.spectral import feature_from_dict
from serkit.features.text_inputs import TEXT_INPUTS, TextInput, text_input_from_dict
from serkit.core.fileio import atomic_open, atomic_write_json, atomic_write_text
from serkit.models import create_model, model_arguments
from serkit.core.progress import progress_enabled
from serkit.training.checkpoint import load_checkpoint, save_checkpoint
from serkit.training.data import ChunkSet, utterance_logits
from serkit.training.engine import TrainOutcome, train_one

__all__ = ["build_model", "class_index", "load_utterances", "resolve_label_set", "run_experiment"]

logger = logging.getLogger(__name__)


def resolve_label_set(config: LabelsConfig, present: Iterable[str] = ()) -> LabelSet:
    """The recipe's label set: a registered ``set``, optionally overridden by explicit labels/merge/drop; for a
    non-emotion target, its own classes unless ``labels`` lists some of them; for an emotion recipe that names
    none, the ``present`` emotions (every emotion of the data, after merges and drops) in canonical order."""
    if config.set:
        base = get_label_set(config.set)
        return LabelSet(config.labels or base.labels, {**base.merge, **config.merge}, config.drop or base.drop)
    labels = tuple(config.labels) or (TARGETS.get(config.target).classes if config.target != "emotion" else ())
    if not labels and config.target == "emotion":
        found = {config.merge.get(e, e) for e in present if e and e not in config.drop}
        labels = tuple(e for e in CANONICAL_EMOTIONS if e in found)
    if not labels:
        raise SerkitError("labels: give a registered label set (labels.set: iemocap_4class) or an explicit list "
                          "(labels.labels: [neutral, happy, sad, angry]); with neither, every emotion found in "
                          "the data is used, and this data has none.")
    return LabelSet(labels, dict(config.merge), tuple(config.drop), target=config.target)


def resolve_auto_protocol(config: ExperimentConfig, utterances: list[Utterance]) -> tuple[ExperimentConfig, list[str]]:
    """``protocol.name: auto`` replaced by the protocol chosen for these speakers (recipe options override its
    defaults), and the notes for the report: the choice and any warning about too few speakers."""
    if config.protocol.name != AUTO_PROTOCOL:
        return config, []
    name, options, warnings = choose_protocol(utterances)
    options = {**options, **config.protocol.options}
    speakers = len({u.speaker for u in utterances})
    for warning in warnings:
        logger.warning("%s", warning)
    chosen = replace(config, protocol=replace(config.protocol, name=name, options=options))
    return chosen, [f"protocol auto: {name} {options} for {speakers} speakers", *warnings]


def class_index(label_set: LabelSet, utt: Utterance) -> int | np.ndarray:
    """The class index of an utterance kept by :func:`apply_label_set` (its emotion is already mapped); for a
    multi-label target its 0/1 indicator vector (num_classes,)."""
    if label_set.multi_label:
        return label_set.indicator(utt)
    return label_set.index(utt.emotion if label_set.target == "emotion" else label_set.class_of(utt))


def load_utterances(config: ExperimentConfig) -> tuple[list[Utterance], LabelSet, list[str]]:
    """Utterances of the recipe's corpus after the label set, and notes on what was left out."""
    corpus = config.corpus
    reads_audio = feature_from_dict(config.features).reads_audio
    if corpus.manifest:
        utterances = read_manifest(corpus.manifest, corpus=corpus.name)
    else:
        if not corpus.root:
            raise SerkitError("corpus: set corpus.root (the corpus folder) or corpus.manifest (a manifest CSV).")
        # a text-only recipe (features: none) reads no audio, so it needs no durations or hashes of files that
        # may not exist (MELD's transcripts without their videos)
        utterances = load_corpus(corpus.name, corpus.root, options=corpus.options, durations=reads_audio,
                                 content_hashes=reads_audio, skip_unreadable=corpus.skip_unreadable and reads_audio)
    if any(not u.content_hash for u in utterances) and reads_audio:
        utterances = fill_content_hashes(utterances)
    label_set = resolve_label_set(config.labels, present={u.emotion for u in utterances})
    kept, left_out = apply_label_set(utterances, label_set)
    notes = []
    if not (config.labels.set or config.labels.labels) and config.labels.target == "emotion":
        notes.append(f"labels: every emotion in the data ({', '.join(label_set.labels)})")
    if left_out:
        notes.append("left out by the label set: " + ", ".join(f"{k} {v}" for k, v in sorted(left_out.items())))
    if not kept:
        raise SerkitError(f"no utterance of corpus {corpus.name!r} has a label in {list(label_set.labels)}; "
                          "check labels.set / labels.labels against `serkit corpus stats`.")
    return kept, label_set, notes


def build_model(config: ExperimentConfig, num_classes: int, num_features: int, num_frames: int,
                text_input: TextInput | None = None) -> torch.nn.Module:
    """Create the recipe's model, filling ``num_features`` / ``input_shape`` from the features and the text input's
    arguments (``vocab_size``, ...) when the model takes them and the recipe leaves them unset; a model with
    ``init_text_embeddings`` gets the text input's initial word vectors."""
    args = dict(config.model.args)
    accepted = model_arguments(config.model.name)
    derived = {"num_features": num_features, "input_shape": (num_features, num_frames),
               **(text_input.model_args() if text_input is not None else {})}
    for key, value in derived.items():
        if key in accepted and key not in args:
            args[key] = value
    model = create_model(config.model.name, num_classes=num_classes, **args)
    matrix = text_input.embedding_matrix() if text_input is not None else None
    if matrix is not None and hasattr(model, "init_text_embeddings"):
        model.init_text_embeddings(torch.as_tensor(matrix))
    return model


@dataclass
class _Prepared:
    """Chunks of every usable utterance, computed once for all folds and seeds."""

    train_chunks: dict[str, np.ndarray]
    eval_chunks: dict[str, np.ndarray]
    skipped: list[str]


def _prepare_chunks(utterances: list[Utterance], pipeline: InputPipeline, *, progress: bool) -> _Prepared:
    from tqdm.auto import tqdm

    train_chunks, eval_chunks, skipped = {}, {}, []
    same = pipeline.cache_key(train=True) == pipeline.cache_key(train=False)  # same segmentation and truncation
    start = time.monotonic()
    for utt in tqdm(utterances, desc="features", leave=False, disable=not progress_enabled(progress)):
        try:
            train_chunks[utt.id] = pipeline.chunks(utt.path, train=True, name=utt.id)
            eval_chunks[utt.id] = train_chunks[utt.id] if same else pipeline.chunks(utt.path, train=False,
                                                                                   name=utt.id)
        except (AudioError, ValueError) as exc:  # unreadable, or too short for the feature (named in the message)
            skipped.append(f"{utt.path}: {exc}" if str(utt.path) not in str(exc) else str(exc))
            logger.warning("skipping %s: %s", utt.id, exc)
    logger.info("features of %d utterances ready in %.1f s (%d skipped)", len(utterances), time.monotonic() - start,
                len(skipped))
    return _Prepared(train_chunks, eval_chunks, skipped)


def _chunk_set(ids: tuple[str, ...], chunks: dict[str, np.ndarray], targets: dict[str, int],
               standardize: Standardizer, texts: dict[str, np.ndarray] | None = None) -> ChunkSet:
    ids = tuple(i for i in ids if i in chunks)
    pieces, owner = [], []
    for index, utt_id in enumerate(ids):
        for chunk in chunks[utt_id]:
            pieces.append(standardize(chunk))
            owner.append(index)
    extras = [{"text": texts[i]} for i in ids] if texts is not None else []
    values = [targets[i] for i in ids]
    labels = (np.stack(values).astype(np.float32) if values and np.ndim(values[0]) == 1  # multi-label indicators
              else np.asarray(values, dtype=np.int64))
    return ChunkSet(pieces, np.asarray(owner, dtype=np.int64), labels, ids, extras)


class _TextEncodings:
    """Encoded transcripts per fold, computed once: a text input that learns nothing from data (a frozen encoder)
    is encoded once for all folds and seeds; one that does (a vocabulary) once per fold's training set."""

    def __init__(self) -> None:
        self._memo: dict[str, tuple[TextInput, dict[str, np.ndarray]]] = {}

    def get(self, spec: dict[str, Any], fold: Fold, by_id: dict[str, Utterance]
            ) -> tuple[TextInput | None, dict[str, np.ndarray] | None]:
        if not spec:
            return None, None
        learns = getattr(TEXT_INPUTS.get(str(spec["name"])), "learns_from_data", True)
        key = json.dumps(spec, sort_keys=True) + ("|" + ",".join(sorted(fold.train)) if learns else "")
        if key not in self._memo:
            text_input = text_input_from_dict(spec)
            text_input.fit([by_id[i] for i in fold.train])
            ids = [*fold.train, *fold.val, *fold.test] if learns else list(by_id)
            encoded = text_input.encode_many([by_id[i].text or "" for i in ids])
            self._memo[key] = (text_input, dict(zip(ids, encoded)))
        return self._memo[key]


def _folds_for(config: ExperimentConfig, utterances: list[Utterance], seed: int) -> list[Fold]:
    split_seed = seed if config.protocol.split_seed is None else config.protocol.split_seed
    folds = make_folds(utterances, config.protocol.name, seed=split_seed, options=config.protocol.options)
    if config.protocol.folds:
        bad = [i for i in config.protocol.folds if not 0 <= i < len(folds)]
        if bad:
            raise SerkitError(f"protocol.folds={list(config.protocol.folds)}: indices {bad} out of range; the "
                              f"protocol gives {len(folds)} folds (0..{len(folds) - 1}).")
        folds = [folds[i] for i in config.protocol.folds]
    return folds


def _write_predictions(path: Path, dataset: ChunkSet, probabilities: np.ndarray, label_names: list[str],
                       by_id: dict[str, Utterance]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["utt_id", "speaker", "true", "predicted", *[f"p_{name}" for name in label_names]])
    def names(row: int) -> tuple[str, str]:
        if dataset.multi_label:  # ;-joined present labels, predicted where the probability is above 0.5
            return (";".join(n for n, t in zip(label_names, dataset.targets[row]) if t > 0.5),
                    ";".join(n for n, p in zip(label_names, probabilities[row]) if p > 0.5))
        return label_names[dataset.targets[row]], label_names[int(probabilities[row].argmax())]

    for row, utt_id in enumerate(dataset.utterance_ids):
        writer.writerow([utt_id, by_id[utt_id].speaker, *names(row), *[f"{p:.6f}" for p in probabilities[row]]])
    with atomic_open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(buffer.getvalue())


def _run_one(config: ExperimentConfig, fold: Fold, seed: int, run_dir: Path, prepared: _Prepared,
             pipeline: InputPipeline, label_set: LabelSet, targets: dict[str, int],
             by_id: dict[str, Utterance], *, keep_embeddings: bool, texts: _TextEncodings,
             init_from: Path | None = None, earlier_stages: dict[str, Any] | None = None,
             earlier_notes: list[str] | None = None) -> dict[str, Any]:
    label_names = list(label_set.labels)
    text_input, encoded = texts.get(config.text, fold, by_id)
    train_raw = _chunk_set(fold.train, prepared.train_chunks, targets, Standardizer())
    if len(train_raw) == 0:
        raise SerkitError(f"fold {fold.name}: the training part has no chunks (all utterances unreadable or "
                          "dropped as too short); check input.short_policy and the corpus.")
    standardize = Standardizer.fit(train_raw.chunks) if config.input.normalize == "global" else Standardizer()
    train_set = _chunk_set(fold.train, prepared.train_chunks, targets, standardize, encoded)
    val_set = _chunk_set(fold.val, prepared.eval_chunks, targets, standardize, encoded)
    test_set = _chunk_set(fold.test, prepared.eval_chunks, targets, standardize, encoded)
    if test_set.num_utterances == 0:
        raise SerkitError(f"fold {fold.name}: the test part is empty after skipping unreadable or too-short audio.")
    torch.manual_seed(seed)  # model initialisation depends on the seed only
    example = train_set.chunks[0]
    model = build_model(config, len(label_names), pipeline.num_features, example.shape[0], text_input)
    if init_from is not None:  # a later stage starts from the previous stage's selected weights
        state = load_checkpoint(init_from, require=("state_dict",))["state_dict"]
        if hasattr(model, "init_from_stage"):
            model.init_from_stage(state)
        else:
            model.load_state_dict(state)
    if getattr(model, "input_shape", None) is not None and config.input.short_policy == "keep":
        raise SerkitError(f"model {config.model.name!r} takes fixed {model.input_shape} segments and ignores "
                          "lengths, so short_policy=keep would feed it zero-padded segments as if they were "
                          "speech; use input.short_policy pad, tile or drop.")
    meta = {"serkit_version": __version__, "model_name": config.model.name, "model_args": model.model_args,
            "label_names": label_names, **pipeline.describe(), "standardizer": standardize.to_dict(),
            **({"text": text_input.state()} if text_input is not None else {})}
    select_on_test = config.train.select_on == "test" or fold.selection == "test"
    if getattr(model, "fits_in_closed_form", False):  # e.g. eGeMAPS + linear SVM, fitted by scikit-learn
        selection_set = {"validation": val_set if val_set.num_utterances else None, "test": test_set,
                         "last": None}[config.train.select_on]
        fit_info = model.fit_chunks(train_set, selection_set, seed=seed)  # picks C on selection_set, else fixed c
        save_checkpoint(run_dir / "best.pt", {**meta, "epoch": 1, "state_dict": model.state_dict()})
        atomic_write_json(run_dir / "fit.json", fit_info)
        outcome = TrainOutcome([{"epoch": 1, **{k: v for k, v in fit_info.items() if isinstance(v, (int, float))}}],
                               best_epoch=1)
        used_validation = selection_set is not None
    else:
        outcome = train_one(model, train_set, val_set if val_set.num_utterances else None, config=config.train,
                            seed=seed, run_dir=run_dir, label_names=label_names, checkpoint_meta=meta,
                            test_set=test_set if config.train.select_on == "test" else None)
        used_validation = True
    best = load_checkpoint(run_dir / "best.pt", require=("state_dict",))
    model.load_state_dict(best["state_dict"])
    logits, embeddings = utterance_logits(model, test_set, batch_size=config.train.eval_batch_size,
                                          with_embeddings=keep_embeddings)
    metrics, probabilities = metrics_from_logits(test_set.targets, logits.numpy(), label_names)
    _write_predictions(run_dir / "predictions.csv", test_set, probabilities, label_names, by_id)
    val_logits = (utterance_logits(model, val_set, batch_size=config.train.eval_batch_size)[0].numpy()
                  if val_set.num_utterances else np.zeros((0, len(label_names)), dtype=np.float32))
    with atomic_open(run_dir / "outputs.npz", "wb") as handle:  # logits for ensembles (serkit ensemble)
        np.savez(handle, val_ids=np.array(val_set.utterance_ids, dtype=str), val_logits=val_logits,
                 val_targets=val_set.targets, test_ids=np.array(test_set.utterance_ids, dtype=str),
                 test_logits=logits.numpy(), test_targets=test_set.targets, label_names=np.array(label_names))
    if keep_embeddings:  # only the run the t-SNE figure shows: GLAM embeddings are ~93 KB per utterance
        with atomic_open(run_dir / "embeddings.npz", "wb") as handle:
            np.savez(handle, embeddings=embeddings.numpy(), targets=test_set.targets)
    atomic_write_json(run_dir / "history.json", outcome.history)
    selection = "test" if select_on_test else {"validation": "validation", "last": "last_epoch"}[
        config.train.select_on]
    if not used_validation and selection == "validation":
        selection = "none"
    record = {"fold": fold.name, "seed": seed, "metrics": metrics, "num_epochs": len(outcome.history),
              "best_epoch": outcome.best_epoch, "stopped_early": outcome.stopped_early, "selection": selection,
              "num_train": train_set.num_utterances, "num_val": val_set.num_utterances,
              "num_test": test_set.num_utterances}
    if getattr(model, "init_note", ""):  # e.g. "AlexNet from random weights (no ImageNet checkpoint given)"
        record["model_note"] = model.init_note
    if earlier_notes:  # how every stage's model started, in every report: "stage cnn: ...; stage blstm: ..."
        record["model_note"] = "; ".join([*earlier_notes[:-1],
                                          f"{earlier_notes[-1]}: {record.get('model_note', 'default initialisation')}"])
    if "neutral" in label_names and not test_set.multi_label:  # what predicting the majority-ish class gives
        record["reference"] = {"always_neutral": constant_prediction_metrics(test_set.targets, label_names)}
    if earlier_stages:  # test metrics of every stage of a multi-stage recipe, the last one included
        record["stages"] = {**earlier_stages, "final": metrics}
    atomic_write_json(run_dir / "metrics.json", record)  # written last: marks the run finished
    (run_dir / "last.pt").unlink(missing_ok=True)  # the resume state is no longer needed
    return record


#: Keys that choose which runs to do, how fast and under which title, not what a run computes: a run folder can
#: be continued with more seeds or folds, another thread count, cache folder, title or notes.
_EXECUTION_KEYS = {("name",), ("notes",), ("seeds",), ("cache_dir",), ("protocol", "folds"), ("train", "threads"),
                   ("train", "progress"), ("train", "num_workers"), ("train", "tensorboard")}

#: What run_experiment writes at the top of a run folder; ``restart=True`` moves exactly these aside. The feature
#: cache stays: it is keyed by the feature settings and each file's content, so reusing it cannot change results.
_RUN_FOLDER_ENTRIES = ("config.yaml", "folds.json", "folds_seed*.json", "runs", "summary.md", "summary.csv",
                       "summary.json", "runs.csv", "confusion_matrix.png", "training_curves.png", "tsne.png",
                       "skipped_files*.txt")


def _identity(config: dict[str, Any]) -> dict[str, Any]:
    """The part of a resolved config (as a plain dict) that decides the results of each (fold, seed) run.

    Execution keys are left out, corpus paths are compared as the folders they name, and each stage's ``set``
    list is compared as the values it sets (a repeated or reordered override changes nothing).
    """
    identity = json.loads(json.dumps(config))
    for path in _EXECUTION_KEYS:
        node = identity
        for key in path[:-1]:
            node = node.get(key, {})
        node.pop(path[-1], None)
    corpus = identity.get("corpus", {})
    for key in ("root", "manifest"):
        if isinstance(corpus.get(key), str) and corpus[key]:
            corpus[key] = os.path.realpath(corpus[key])
    stages = identity.get("stages")
    if isinstance(stages, list) and all(isinstance(stage, dict) for stage in stages):
        identity["stages"] = {str(stage.get("name")): {"position": position,
                                                       "init_from": stage.get("init_from", ""),
                                                       "set": _stage_overrides(stage.get("set", []))}
                              for position, stage in enumerate(stages)}
    return identity


def _stage_overrides(items: list[Any]) -> dict[str, Any]:
    """A stage's ``set`` list as {dotted key: value}, the last assignment of a key winning, execution keys left out."""
    values = {}
    for item in items:
        key, _, raw = str(item).partition("=")
        if tuple(key.strip().split(".")) not in _EXECUTION_KEYS:
            try:
                values[key.strip()] = parse_value(raw)
            except ConfigError:
                values[key.strip()] = raw
    return values


def _saved_identity(saved: Path) -> dict[str, Any]:
    """The identity of the config a run folder was started with, read back through the recipe loader, so keys
    added to the schema since then get their defaults instead of counting as changes."""
    data = read_yaml(saved)
    try:
        return _identity(to_dict(load_experiment(base=data)))
    except ConfigError:  # written by a serkit whose keys no longer load: compare what was written
        return _identity(data)


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict) and data:
        return {k: v for key, value in data.items() for k, v in _flatten(value, f"{prefix}{key}.").items()}
    return {prefix.rstrip("."): data}


def _changed_keys(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """``key: old -> new`` for every dotted key whose value differs (``(not set)`` for a missing key)."""
    old_flat, new_flat, missing = _flatten(old), _flatten(new), object()
    lines = []
    for key in sorted(set(old_flat) | set(new_flat)):
        before, after = old_flat.get(key, missing), new_flat.get(key, missing)
        if before != after:
            lines.append(f"{key}: {'(not set)' if before is missing else format_value(before)} -> "
                         f"{'(not set)' if after is missing else format_value(after)}")
    return lines


def _has_results(output_dir: Path) -> bool:
    """Whether any (fold, seed) run of the folder has started (a config alone, from a run that failed before
    training, protects nothing)."""
    runs = output_dir / "runs"  # a run's own config.yaml is written before training: it is no result yet
    return runs.is_dir() and any(path.is_file() and path.name != "config.yaml" for path in runs.rglob("*"))


def _move_old_run(output_dir: Path) -> Path | None:
    """Move the files an earlier run wrote (``_RUN_FOLDER_ENTRIES``) to a sibling ``<out>.old-<time>`` folder;
    anything else in the folder is left where it is. Returns that folder, or None when there was nothing."""
    entries = sorted({entry for pattern in _RUN_FOLDER_ENTRIES for entry in output_dir.glob(pattern)})
    if not entries:
        return None
    folder = output_dir.resolve()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside, number = folder.with_name(f"{folder.name}.old-{stamp}"), 1
    while aside.exists():
        aside, number = folder.with_name(f"{folder.name}.old-{stamp}-{number}"), number + 1
    aside.mkdir(parents=True)
    for entry in entries:
        entry.rename(aside / entry.name)  # a rename, not a copy: same file system, nothing deleted
    logger.warning("restart: moved the earlier run's %s to %s", ", ".join(entry.name for entry in entries), aside)
    return aside


def _check_resumable(config: ExperimentConfig, output_dir: Path) -> None:
    """Refuse a folder whose runs come from a recipe that differs in a key that changes results."""
    saved = output_dir / "config.yaml"
    if not saved.is_file():
        return
    old, new = _saved_identity(saved), _identity(to_dict(config))
    if old == new:
        return
    changes = _changed_keys(old, new)
    if not _has_results(output_dir):
        logger.info("%s: no run had started with its earlier config; replacing it (%s)", output_dir,
                    "; ".join(changes))
        return
    listed = "\n".join(f"  {line}" for line in changes)
    raise SerkitError(f"{output_dir} holds runs of a different recipe ({saved}); changed keys:\n{listed}\n"
                      f"Use another --out folder to keep both, or rerun with --restart (run_experiment(..., "
                      f"restart=True)) to move the old results to {output_dir}.old-<time> and start afresh.")


def run_experiment(config: ExperimentConfig, output_dir: str | Path, *, restart: bool = False) -> dict[str, Any]:
    """Run every (fold, seed) of ``config`` into ``output_dir`` and write the summary; returns the summary dict.

    Finished runs are skipped and interrupted ones resumed, so rerunning the same command after a crash or a
    kill completes the experiment with the same numbers as an uninterrupted run. Keys that do not change results
    (seeds, folds, threads, workers, progress, tensorboard, cache_dir, name, notes) may differ between calls.

    Args:
        restart: start afresh even if ``output_dir`` holds runs of another recipe: the files a run writes there
            (config.yaml, folds, runs/, summaries, figures, skipped-file lists) are moved to a new sibling folder
            ``<output_dir>.old-<YYYYmmdd-HHMMSS>``; nothing is deleted, other files stay, the feature cache is
            reused.

    Raises:
        SerkitError: ``output_dir`` holds runs of a recipe that differs in a key that changes results (without
            ``restart``); the message lists each changed key as ``key: old -> new``.
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    saved = output_dir / "config.yaml"
    if restart:
        _move_old_run(output_dir)
    else:
        _check_resumable(config, output_dir)
    write_yaml(saved, config)
    utterances, label_set, notes = load_utterances(config)
    # config.yaml keeps `auto` (so a rerun of the same recipe resumes); everything from here on uses the choice
    config, protocol_notes = resolve_auto_protocol(config, utterances)
    notes = [*config.notes, *protocol_notes, *notes]
    by_id = {u.id: u for u in utterances}
    targets = {u.id: class_index(label_set, u) for u in utterances}
    if config.train.threads > 0:  # 0 keeps torch's default (all cores); tests and CI pin 1
        torch.set_num_threads(config.train.threads)
    stages = _stages(config, output_dir)
    texts = _TextEncodings()
    info = protocol_info(config.protocol.name)
    records, histories, selections = [], {}, set()
    for seed in config.seeds:
        folds = _folds_for(config, utterances, seed)
        if seed == config.seeds[0] or config.protocol.split_seed is None:
            write_folds(folds, output_dir / ("folds.json" if config.protocol.split_seed is not None
                                             else f"folds_seed{seed}.json"),
                        protocol=config.protocol.name, seed=seed, options=config.protocol.options)
        for fold in folds:
            run_dir = output_dir / "runs" / fold.name / f"seed{seed}"
            finished = run_dir / "metrics.json"
            if finished.is_file():
                record = json.loads(finished.read_text(encoding="utf-8"))
                logger.info("skipping finished run %s", run_dir)
            else:
                logger.info("run %s / seed %d: %d train, %d val, %d test utterances", fold.name, seed,
                            len(fold.train), len(fold.val), len(fold.test))
                record = _run_stages(stages, fold, seed, run_dir, utterances, label_set, targets, by_id,
                                     keep_embeddings=not records, texts=texts)
            records.append(record)
            selections.add(record["selection"])
            histories[f"{fold.name}/seed{seed}"] = json.loads((run_dir / "history.json").read_text(encoding="utf-8"))
    for stage in stages:
        skipped, listed_in = _skipped_files(stage, output_dir)
        if skipped:
            more = f"; ... {len(skipped) - 3} more" if len(skipped) > 3 else ""
            notes.append(f"{len(skipped)} unreadable or unusable audio file(s) skipped"
                         f"{f' (stage {stage.name})' if stage.name else ''}: " + "; ".join(skipped[:3]) + more
                         + f" (full list: {listed_in})")
        if stage.pipeline.short_utterances:
            notes.append(f"{len(stage.pipeline.short_utterances)} utterance(s) shorter than one "
                         f"{stage.config.input.window} s window handled by "
                         f"short_policy={stage.config.input.short_policy!r}")
    for note in sorted({r["model_note"] for r in records if r.get("model_note")}):
        notes.append(note)
    selection = "test" if "test" in selections else min(selections)
    summary = summarize_runs(records, label_names=list(label_set.labels), protocol=config.protocol.name,
                             protocol_info=info.to_dict(), selection=selection, title=config.name, notes=notes)
    write_summary(summary, output_dir)
    _write_figures(summary, histories, output_dir, list(label_set.labels), config.seeds[0])
    return summary


def _skipped_files(stage: _Stage, output_dir: Path) -> tuple[list[str], str]:
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


@dataclass
class _Stage:
    """One training stage of every (fold, seed): its resolved recipe, input pipeline and (lazily) chunks."""

    name: str  # "" for a single-stage recipe
    config: ExperimentConfig
    pipeline: InputPipeline
    init_from: str = ""
    prepared: _Prepared | None = None

    def chunks(self, utterances: list[Utterance], others: list[_Stage]) -> _Prepared:
        if self.prepared is None:
            shared = next((other for other in others if other.prepared is not None and _same_arrays(self, other)),
                          None)
            self.prepared = (_views_of(shared.prepared, self.pipeline.inputs.mode) if shared is not None
                             else _prepare_chunks(utterances, self.pipeline, progress=self.config.train.progress))
        return self.prepared


def _same_arrays(a: _Stage, b: _Stage) -> bool:
    """Two stages whose chunks are views of the same utterance-level arrays (DCNN's frames and utterance stages)."""
    modes = {"utterance", "frames"}
    return (a.pipeline.inputs.mode in modes and b.pipeline.inputs.mode in modes
            and a.pipeline.cache_key(True) == b.pipeline.cache_key(True)
            and a.pipeline.cache_key(False) == b.pipeline.cache_key(False))


def _views_of(prepared: _Prepared, mode: str) -> _Prepared:
    """Another stage's chunks re-shaped without copies: frames (frames, 1, ...) <-> utterance (1, frames, ...)."""
    def view(array: np.ndarray) -> np.ndarray:
        if mode == "frames":
            return array if array.shape[1:2] == (1,) and array.shape[0] != 1 else array[0][:, None]
        return array if array.shape[0] == 1 else array[:, 0][None]

    return _Prepared({k: view(v) for k, v in prepared.train_chunks.items()},
                     {k: view(v) for k, v in prepared.eval_chunks.items()}, prepared.skipped)


def _stages(config: ExperimentConfig, output_dir: Path) -> list[_Stage]:
    """The recipe's stages (one unnamed stage when it has none), each with its own input pipeline."""
    cache_dir = config.cache_dir or output_dir / "feature_cache"
    specs: list[tuple[str, ExperimentConfig, str]] = (
        [(stage.name, stage_config(config, stage), stage.init_from) for stage in config.stages]
        or [("", config, "")])
    return [_Stage(name, stage_cfg, InputPipeline(stage_cfg.features, stage_cfg.input, cache_dir=cache_dir), init)
            for name, stage_cfg, init in specs]


def _run_stages(stages: list[_Stage], fold: Fold, seed: int, run_dir: Path, utterances: list[Utterance],
                label_set: LabelSet, targets: dict[str, int], by_id: dict[str, Utterance], *,
                keep_embeddings: bool, texts: _TextEncodings) -> dict[str, Any]:
    """Train the stages of one (fold, seed) in order; the last one writes into ``run_dir`` and gives the record.

    Earlier stages live in ``run_dir/<stage>/`` and are skipped when finished, so a rerun resumes mid-chain.
    """
    stage_metrics: dict[str, Any] = {}
    stage_notes: list[str] = []
    for position, stage in enumerate(stages):
        last = position == len(stages) - 1
        stage_dir = run_dir if last else run_dir / stage.name
        finished = stage_dir / "metrics.json"
        init_from = run_dir / stage.init_from / "best.pt" if stage.init_from else None  # an earlier stage
        if not last and finished.is_file():
            record = json.loads(finished.read_text(encoding="utf-8"))
        else:
            stage_dir.mkdir(parents=True, exist_ok=True)
            write_yaml(stage_dir / "config.yaml", replace(stage.config, seeds=(seed,)))
            if stage.name:
                logger.info("stage %s of %s / seed %d", stage.name, fold.name, seed)
            record = _run_one(stage.config, fold, seed, stage_dir, stage.chunks(utterances, stages), stage.pipeline,
                              label_set, targets, by_id, keep_embeddings=keep_embeddings and last, texts=texts,
                              init_from=init_from, earlier_stages=stage_metrics if last else None,
                              earlier_notes=[*stage_notes, f"stage {stage.name}"] if last and stage_notes else None)
        if stage.name and not last:
            stage_metrics[stage.name] = record["metrics"]
            if record.get("model_note"):
                stage_notes.append(f"stage {stage.name}: {record['model_note']}")
    return record


def _write_figures(summary: dict[str, Any], histories: dict[str, list], output_dir: Path, label_names: list[str],
                   seed: int) -> None:
    if summary["confusion"] is not None:  # multi-label runs have none
        plot_confusion_matrix(np.asarray(summary["confusion"]["normalized"]), label_names,
                              output_dir / "confusion_matrix.png", title=f"{summary['title']} (all folds)")
    plot_training_curves(histories, output_dir / "training_curves.png", title=summary["title"])
    # one model's embedding space: the test utterances of the first (fold, seed) run, embedded by that run's model
    # (embeddings of different folds come from different models and cannot share one map)
    first = summary["runs"][0]
    path = output_dir / "runs" / first["fold"] / f"seed{first['seed']}" / "embeddings.npz"
    if not path.is_file():
        return
    with np.load(path, allow_pickle=False) as data:
        embeddings, classes = data["embeddings"], data["targets"]
    if len(embeddings) < 5 or classes.ndim != 1:  # too few points, or multi-label targets (no single colour)
        return
    try:
        plot_tsne(embeddings, classes, label_names, output_dir / "tsne.png", seed=seed,
                  title=f"{summary['title']}: test utterances of {first['fold']}/seed{first['seed']}")
    except ValueError as exc:  # e.g. identical embeddings: the run's results stand, only the figure is missing
        logger.warning("no t-SNE figure: %s", exc)
