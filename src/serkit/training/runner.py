"""The folds x seeds runner: ``run_experiment(config, output_dir)``.

Output folder layout::

    <output_dir>/
      config.yaml               resolved recipe (every default written out)
      folds.json                the folds used, with the protocol's guarantees
      runs/<fold>/seed<k>/      config.yaml, history.json, metrics.json, predictions.csv, outputs.npz (validation
                                and test logits, for ensembles), timing.json (wall / CPU seconds),
                                embeddings.npz (first run, unless train.tsne is false), best.pt
                                (self-describing), last.pt (resume state); a multi-stage recipe keeps every stage
                                but the last in a sub-folder named after it (same files) and the last one here
      summary.md / .csv / .json, runs.csv, confusion_matrix.png, training_curves.png, tsne.png
      skipped_files.txt         every audio file left out as unreadable or unusable, one per line with the reason,
                                when there are any (skipped_files_<stage>.txt per stage of a multi-stage recipe)
      feature_cache/            features by content digest (unless cache_dir is set)

A run whose ``metrics.json`` exists is finished and skipped; an interrupted run continues from its ``last.pt``.
``runner.jobs`` trains the runs in parallel worker processes (:mod:`serkit.training.jobs`), with the same results.
Rerunning a folder with a changed recipe is refused with the list of changed keys, unless ``restart=True``
(``serkit train --restart``) moves the old results aside. Unreadable audio files are skipped with a warning,
counted in the summary and listed in ``skipped_files.txt``.

The run is assembled from parts: the recipe resolved once (:mod:`serkit.recipe`), the stages of each (fold, seed)
(:mod:`serkit.training.stages`), the strategy that trains each stage (:mod:`serkit.training.strategies`) and the
folder's identity for resuming (:mod:`serkit.training.resume`). ``run_experiment`` is an entry point: it sets the
process-wide torch settings (:func:`serkit.core.torch_settings.configure_torch`) before any work.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from serkit.config import ExperimentConfig
from serkit.core.errors import SerkitError
from serkit.core.torch_settings import configure_torch
from serkit.core.values import write_yaml
from serkit.data.check import precheck
from serkit.data.corpora import fill_content_hashes, load_corpus
from serkit.data.dimensions import dimension_matrix, dimension_scale
from serkit.data.labels import LabelSet, apply_label_set
from serkit.data.protocols import protocol_info, write_folds
from serkit.data.task import TaskSpec
from serkit.data.utterance import Utterance, read_manifest
from serkit.evaluation.plots import plot_confusion_matrix, plot_training_curves, plot_tsne
from serkit.evaluation.regression import plot_regression_scatter
from serkit.evaluation.report import summarize_runs, write_summary
from serkit.features.base import FeatureConfig, feature_from_dict
from serkit.features.normalize import NORMALIZATION_NOTES
from serkit.recipe import resolve, resolve_label_set, resolve_stages
from serkit.training.augmented_data import augment_note
from serkit.training.jobs import Unit, choose_jobs, run_in_workers
from serkit.training.regularisers import regularisation_note
from serkit.training.resume import check_resumable, move_old_run
from serkit.training.stages import ExperimentData, build_stages, run_stages, skipped_files
from serkit.training.timing import with_timings

__all__ = ["class_index", "load_utterances", "resolve_label_set", "run_experiment"]

logger = logging.getLogger(__name__)


def class_index(label_set: LabelSet, utt: Utterance) -> int | np.ndarray:
    """The class index of an utterance kept by :func:`apply_label_set` (its emotion is already mapped); for a
    multi-label target its 0/1 indicator vector (num_classes,)."""
    if label_set.multi_label:
        return label_set.indicator(utt)
    return label_set.index(utt.emotion if label_set.target == "emotion" else label_set.class_of(utt))


def experiment_task(
    config: ExperimentConfig, label_set: LabelSet | None, utterances: list[Utterance]
) -> tuple[TaskSpec, dict[str, int | np.ndarray]]:
    """The recipe's task (:mod:`serkit.data.task`) and every utterance's target (a class index, 0/1 indicators,
    dimension values on [0, 1], or for multitask the class index followed by the values)."""
    if config.task == "classification":
        assert label_set is not None
        task = TaskSpec.of_recipe("classification", label_set.labels)
        return task, {u.id: class_index(label_set, u) for u in utterances}
    try:
        scale = dimension_scale(config.corpus.name, config.targets, config.target_range)
    except ValueError as exc:
        raise SerkitError(f"targets: {exc}") from None
    classes = label_set.labels if label_set is not None else ()
    task = TaskSpec.of_recipe(config.task, classes, config.targets, scale, config.dimension_weight)
    try:
        values = task.dimension_values(utterances)
    except ValueError as exc:
        raise SerkitError(f"targets: {exc}") from None
    if task.kind == "regression":
        return task, {u.id: row for u, row in zip(utterances, values)}
    assert label_set is not None
    return task, {
        u.id: np.concatenate([[class_index(label_set, u)], row]).astype(np.float32)
        for u, row in zip(utterances, values)
    }


def load_utterances(
    config: ExperimentConfig, *, feature: FeatureConfig | None = None
) -> tuple[list[Utterance], LabelSet, list[str]]:
    """Utterances of the recipe's corpus after the label set, and notes on what was left out.

    Args:
        feature: the recipe's resolved feature (:attr:`serkit.recipe.Recipe.feature`); built from
            ``config.features`` when not given.

    Regression (``task: regression``) keeps the utterances rated on at least one of the recipe's ``targets``,
    whatever their emotion, and returns no label set (None).
    """
    corpus = config.corpus
    reads_audio = (feature if feature is not None else feature_from_dict(config.features)).reads_audio
    if corpus.manifest:
        utterances = read_manifest(corpus.manifest, corpus=corpus.name)
    else:
        if not corpus.root:
            raise SerkitError(
                "corpus: set corpus.root (the corpus folder) or corpus.manifest (a manifest CSV)."
            )
        # a text-only recipe (features: none) reads no audio, so it needs no durations or hashes of files that
        # may not exist (MELD's transcripts without their videos)
        utterances = load_corpus(
            corpus.name,
            corpus.root,
            options=corpus.options,
            durations=reads_audio,
            content_hashes=reads_audio,
            skip_unreadable=corpus.skip_unreadable and reads_audio,
        )
    if any(not u.content_hash for u in utterances) and reads_audio:
        utterances = fill_content_hashes(utterances)
    if config.task == "regression":
        return _rated_utterances(config, utterances)
    label_set = resolve_label_set(config.labels, present={u.emotion for u in utterances})
    kept, left_out = apply_label_set(utterances, label_set)
    notes = []
    if not (config.labels.set or config.labels.labels) and config.labels.target == "emotion":
        notes.append(f"labels: every emotion in the data ({', '.join(label_set.labels)})")
    if left_out:
        notes.append(
            "left out by the label set: " + ", ".join(f"{k} {v}" for k, v in sorted(left_out.items()))
        )
    if not kept:
        raise SerkitError(
            f"no utterance of corpus {corpus.name!r} has a label in {list(label_set.labels)}; "
            "check labels.set / labels.labels against `serkit corpus stats`."
        )
    return kept, label_set, notes


def _rated_utterances(
    config: ExperimentConfig, utterances: list[Utterance]
) -> tuple[list[Utterance], None, list[str]]:
    """Regression: the utterances rated on at least one target dimension (others left out, counted in a note)."""
    try:
        scale = dimension_scale(config.corpus.name, config.targets, config.target_range)
        values = dimension_matrix(utterances, config.targets, scale)
    except ValueError as exc:
        raise SerkitError(f"targets: {exc}") from None
    rated = ~np.isnan(values).all(axis=1)
    kept = [u for u, keep in zip(utterances, rated) if keep]
    if not kept:
        raise SerkitError(
            f"no utterance of corpus {config.corpus.name!r} is rated on {list(config.targets)}; check the "
            "targets against the corpus's dimensions (serkit corpus stats) or use task: classification."
        )
    notes = [
        f"dimensions: {', '.join(config.targets)} rescaled from [{scale.low:g}, {scale.high:g}] to [0, 1]"
    ]
    if len(kept) < len(utterances):
        notes.append(f"left out as not rated on {', '.join(config.targets)}: {len(utterances) - len(kept)}")
    return kept, None, notes


def run_experiment(
    config: ExperimentConfig, output_dir: str | Path, *, restart: bool = False
) -> dict[str, Any]:
    """Run every (fold, seed) of ``config`` into ``output_dir`` and write the summary; returns the summary dict.

    Finished runs are skipped and interrupted ones resumed, so rerunning the same command after a crash or a
    kill completes the experiment with the same numbers as an uninterrupted run. Keys that do not change results
    (seeds, folds, threads, workers, jobs, progress, tensorboard, cache_dir, name, notes) may differ between calls.

    With ``runner.jobs`` > 1 (or automatically, :func:`serkit.training.jobs.choose_jobs`) the pending runs are
    trained in worker processes, with the same results (:mod:`serkit.training.jobs`); the summary and figures are
    written here once all have finished.

    Args:
        restart: start afresh even if ``output_dir`` holds runs of another recipe: the files a run writes there
            (config.yaml, folds, runs/, summaries, figures, skipped-file lists) are moved to a new sibling folder
            ``<output_dir>.old-<YYYYmmdd-HHMMSS>``; nothing is deleted, other files stay, the feature cache is
            reused.

    Raises:
        SerkitError: ``output_dir`` holds runs of a recipe that differs in a key that changes results (without
            ``restart``); the message lists each changed key as ``key: old -> new``.
    """
    configure_torch(config.train.threads)  # the entry point owns the process-wide torch settings
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    saved = output_dir / "config.yaml"
    if restart:
        move_old_run(output_dir)
    else:
        check_resumable(config, output_dir)
    recipe = resolve(config)
    utterances, label_set, notes = load_utterances(config, feature=recipe.feature)
    precheck(utterances, strict=config.strict, where="train")  # logs corpus warnings; strict: true refuses
    write_yaml(saved, config)  # once the corpus is loaded and checked: a refused run leaves no recipe behind
    # config.yaml keeps `auto` (so a rerun of the same recipe resumes); everything from here on uses the choice
    protocol, protocol_notes = recipe.protocol.choose(utterances)
    recipe = recipe.with_protocol(protocol)
    notes = [*config.notes, *protocol_notes, *notes]
    task, targets = experiment_task(config, label_set, utterances)
    data = ExperimentData(utterances, task, targets)
    cache_dir = Path(config.cache_dir or output_dir / "feature_cache")
    stages = build_stages(resolve_stages(recipe), cache_dir)
    info = protocol_info(protocol.name)
    units: list[Unit] = []  # every (fold, seed) in order; the first one keeps the t-SNE figure's embeddings
    for seed in config.seeds:
        folds = protocol.make_folds(utterances, seed)
        if seed == config.seeds[0] or protocol.split_seed is None:
            write_folds(
                folds,
                output_dir / ("folds.json" if protocol.split_seed is not None else f"folds_seed{seed}.json"),
                protocol=protocol.name,
                seed=seed,
                options=protocol.options,
            )
        units += [Unit(f, seed, output_dir / "runs" / f.name / f"seed{seed}", not units) for f in folds]
    pending = [unit for unit in units if not (unit.run_dir / "metrics.json").is_file()]
    jobs = choose_jobs(config, [stage.recipe for stage in stages], task.num_outputs, len(pending))
    done = (
        run_in_workers(config, protocol, stages, data, pending, cache_dir=cache_dir, jobs=jobs)
        if jobs > 1
        else {}
    )
    records, histories, selections = [], {}, set()
    for unit in units:
        fold, seed, run_dir = unit.fold, unit.seed, unit.run_dir
        finished = run_dir / "metrics.json"
        if run_dir in done:  # trained by a worker process just now
            record = done[run_dir]
        elif finished.is_file():
            record = json.loads(finished.read_text(encoding="utf-8"))
            logger.info("skipping finished run %s", run_dir)
        else:
            logger.info(
                "run %s / seed %d: %d train, %d val, %d test utterances",
                fold.name,
                seed,
                len(fold.train),
                len(fold.val),
                len(fold.test),
            )
            record = run_stages(stages, fold, seed, run_dir, data, keep_embeddings=unit.keep_embeddings)
        records.append(record)
        selections.add(record["selection"])
        histories[f"{fold.name}/seed{seed}"] = json.loads(
            (run_dir / "history.json").read_text(encoding="utf-8")
        )
    for stage in stages:
        skipped, listed_in = skipped_files(stage, output_dir)
        if skipped:
            more = f"; ... {len(skipped) - 3} more" if len(skipped) > 3 else ""
            notes.append(
                f"{len(skipped)} unreadable or unusable audio file(s) skipped"
                f"{f' (stage {stage.name})' if stage.name else ''}: "
                + "; ".join(skipped[:3])
                + more
                + f" (full list: {listed_in})"
            )
        if stage.pipeline.short_utterances:
            inputs = stage.recipe.config.input
            notes.append(
                f"{len(stage.pipeline.short_utterances)} utterance(s) shorter than one "
                f"{inputs.window} s window handled by short_policy={inputs.short_policy!r}"
            )
    for note in sorted({r["model_note"] for r in records if r.get("model_note")}):
        notes.append(note)
    normalizations = {stage.recipe.config.input.normalize for stage in stages} - {"global"}
    if normalizations:  # the default (training statistics) goes without saying
        notes.append(
            f"input normalisation: {', '.join(sorted(NORMALIZATION_NOTES[n] for n in normalizations))}"
        )
    for stage in stages:  # "regularisation: label smoothing 0.1, EMA 0.999, ..." when any is on
        if note := regularisation_note(stage.recipe.config.train):
            notes.append(f"stage {stage.name}: {note}" if stage.name else note)
    for stage in stages:  # "training waveforms augmented on the fly, ..." when augment: is on
        if note := augment_note(stage.recipe.config.augment):
            notes.append(f"stage {stage.name}: {note}" if stage.name else note)
    selection = "test" if "test" in selections else min(selections)
    summary = summarize_runs(
        with_timings(records, output_dir / "runs"),  # each run's wall and CPU time (its timing.json)
        label_names=list(task.classes),
        protocol=protocol.name,
        protocol_info=info.to_dict(),
        selection=selection,
        title=config.name,
        notes=notes,
        transductive=any(stage.recipe.config.input.transductive for stage in stages),
    )
    write_summary(summary, output_dir)
    _write_figures(summary, histories, output_dir, list(task.classes), config.seeds[0], config.train.tsne)
    return summary


def _write_figures(
    summary: dict[str, Any],
    histories: dict[str, list],
    output_dir: Path,
    label_names: list[str],
    seed: int,
    tsne: bool = True,
) -> None:
    if summary.get("dimensions"):  # predicted against true values of every test utterance, all runs
        _plot_dimensions(summary, output_dir)
    if summary["confusion"] is not None:  # multi-label and regression runs have none
        plot_confusion_matrix(
            np.asarray(summary["confusion"]["normalized"]),
            label_names,
            output_dir / "confusion_matrix.png",
            title=f"{summary['title']} (all folds)",
        )
    plot_training_curves(histories, output_dir / "training_curves.png", title=summary["title"])
    # one model's embedding space: the test utterances of the first (fold, seed) run, embedded by that run's model
    # (embeddings of different folds come from different models and cannot share one map)
    first = summary["runs"][0]
    path = output_dir / "runs" / first["fold"] / f"seed{first['seed']}" / "embeddings.npz"
    if not tsne or not path.is_file():  # train.tsne: false
        return
    with np.load(path, allow_pickle=False) as data:
        embeddings, classes = data["embeddings"], data["targets"]
    if len(embeddings) < 5 or classes.ndim != 1:  # too few points, or multi-label targets (no single colour)
        return
    try:
        plot_tsne(
            embeddings,
            classes,
            label_names,
            output_dir / "tsne.png",
            seed=seed,
            title=f"{summary['title']}: test utterances of {first['fold']}/seed{first['seed']}",
        )
    except (
        ValueError
    ) as exc:  # e.g. identical embeddings: the run's results stand, only the figure is missing
        logger.warning("no t-SNE figure: %s", exc)


def _plot_dimensions(summary: dict[str, Any], output_dir: Path) -> None:
    """``dimensions.png``: predicted against true values of the test utterances of every run (predictions.csv)."""
    dimensions = summary["dimensions"]
    true, predicted = [], []
    for run in summary["runs"]:
        path = output_dir / "runs" / run["fold"] / f"seed{run['seed']}" / "outputs.npz"
        if not path.is_file():
            return
        with np.load(path, allow_pickle=False) as outputs:
            true.append(outputs["test_targets"][:, -len(dimensions) :])
            predicted.append(outputs["test_logits"][:, -len(dimensions) :])
    plot_regression_scatter(
        np.concatenate(true),
        np.concatenate(predicted),
        dimensions,
        output_dir / "dimensions.png",
        title=f"{summary['title']} (all runs, values on [0, 1])",
    )
