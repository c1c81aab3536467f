"""The (fold, seed) runs of a recipe in worker processes: ``runner.jobs`` / ``serkit train --jobs N``.

Small models train several times faster as N one-thread processes than as one N-thread process (their small
operations spend more time synchronising threads than computing), so :func:`run_in_workers` trains the runs of a
recipe in ``jobs`` worker processes, each with ``train.threads`` torch threads (default ``cores // jobs``):

1. features: each worker computes the features of one contiguous share of the utterances into the feature cache
   (:mod:`serkit.features.cache`, keyed by content), and reports the files it skipped;
2. runs: each worker reads every feature from the cache once, then takes the pending (fold, seed) runs one by one
   in the sequential order and runs exactly the code of a sequential run
   (:func:`serkit.training.stages.run_stages`): results are the same (byte for byte) whatever the number of jobs;
   finished runs are skipped and an interrupted one resumes from its ``last.pt``, as always.

Workers are started with ``spawn`` (a fresh interpreter: no forked thread pools) and a bare ``__main__``, so a
script that calls :func:`serkit.run_experiment` without an ``if __name__ == "__main__":`` guard is not run again
in each worker. Each worker logs through the parent's logging, every line prefixed by its run (``[fold1/seed0]
epoch 3/30: ...``), draws no progress bars, and exits when the parent dies. The first error stops the other workers
(their runs resume from ``last.pt`` on the next call) and is raised with the run folder named.

``runner.jobs: 0`` (the default) is :func:`auto_jobs`; the ``SERKIT_JOBS`` environment variable, when set, replaces
that automatic choice (the test suite pins 1).
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import multiprocessing
import os
import sys
import threading
import time
import types
from collections.abc import Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from serkit.config import ExperimentConfig
from serkit.core.errors import SerkitError
from serkit.core.torch_settings import configure_torch
from serkit.data.protocols import Fold
from serkit.data.utterance import Utterance
from serkit.models import model_arguments
from serkit.recipe import ProtocolSpec, Recipe, resolve, resolve_stages
from serkit.training.stages import (
    ExperimentData,
    Prepared,
    Stage,
    _prepare_chunks,
    _same_arrays,
    build_stages,
    run_stages,
)

__all__ = [
    "SMALL_MODEL_PARAMETERS",
    "Unit",
    "auto_jobs",
    "available_cores",
    "choose_jobs",
    "model_parameters",
    "run_in_workers",
    "threads_per_job",
]

logger = logging.getLogger(__name__)

#: Models with fewer parameters than this train in parallel by default (``runner.jobs: 0``); GLAM has 0.9 M,
#: cnn_small 0.07 M, AlexNet 57 M, HuBERT-base 94 M.
SMALL_MODEL_PARAMETERS = 5_000_000

#: Thread-pool sizes of the numerical libraries, set in the workers' environment before they import anything.
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@dataclass(frozen=True)
class Unit:
    """One (fold, seed) run: ``keep_embeddings`` for the first run of the experiment (the t-SNE figure's)."""

    fold: Fold
    seed: int
    run_dir: Path
    keep_embeddings: bool

    @property
    def label(self) -> str:
        return f"{self.fold.name}/seed{self.seed}"


# -- how many jobs ---------------------------------------------------------------------------------------------


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the system has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def model_parameters(recipe: Recipe, num_classes: int) -> int | None:
    """Parameters of the recipe's model, counted on the ``meta`` device (no memory, no weights loaded), or None
    when it is not known before the data is seen or is not the whole cost: a model with a pretrained encoder
    (``pretrained`` or ``weights`` set), features or transcripts encoded by one (the ``ssl`` feature, a frozen text
    encoder: every worker would load it), a model whose size depends on its text input (MAT's vocabulary), or one
    that cannot be built without real tensors."""
    spec = recipe.model
    arguments = {**model_arguments(spec.name), **spec.args}
    if any(isinstance(arguments.get(name), str) and arguments[name] for name in ("pretrained", "weights")):
        return None
    if any(isinstance(getattr(recipe.feature, name, None), str) for name in ("model", "pretrained")):
        return None  # reading its size would load the encoder's configuration (from the hub, when not local)
    if recipe.text is not None and not recipe.text.learns_from_data:
        return None
    inputs = recipe.config.input
    window = round(inputs.window * inputs.sample_rate)
    try:
        with torch.device("meta"):
            model = spec.build(
                num_classes=num_classes,
                num_features=recipe.feature.num_features,
                num_frames=recipe.feature.num_frames(window),
            )
    except Exception:  # noqa: BLE001 - any failure only means "size unknown", which counts as large
        return None
    return sum(parameter.numel() for parameter in model.parameters())


def auto_jobs(recipes: list[Recipe], num_classes: int, units: int, *, cores: int | None = None) -> int:
    """``runner.jobs: 0``: one job per core (at most one per run) when every stage's model has fewer than
    :data:`SMALL_MODEL_PARAMETERS` parameters; 1 for larger models or ones of unknown size (pretrained encoders:
    their large matrix products use threads well, and N copies would need N times the memory) and on a GPU."""
    cores = available_cores() if cores is None else cores
    if units <= 1 or cores <= 1 or torch.cuda.is_available():
        return 1
    sizes = [model_parameters(recipe, num_classes) for recipe in recipes]
    if any(size is None or size >= SMALL_MODEL_PARAMETERS for size in sizes):
        return 1
    return min(cores, units)


def choose_jobs(config: ExperimentConfig, recipes: list[Recipe], num_classes: int, units: int) -> int:
    """The number of worker processes for ``units`` pending runs: ``runner.jobs`` if set, else ``SERKIT_JOBS``,
    else :func:`auto_jobs`; never more than the runs. 1 means the runs are trained in this process, as always
    under ``accelerate launch`` (several processes already share each run)."""
    jobs = config.runner.jobs
    if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1:
        return 1
    if jobs == 0 and os.environ.get("SERKIT_JOBS", "").strip():
        try:
            jobs = int(os.environ["SERKIT_JOBS"])
        except ValueError:
            raise SerkitError(
                f"SERKIT_JOBS={os.environ['SERKIT_JOBS']!r}: give a number of jobs (0 = automatic)."
            ) from None
    if jobs == 0:
        jobs = auto_jobs(recipes, num_classes, units)
    return max(1, min(jobs, units))


def threads_per_job(jobs: int, threads: int = 0, *, cores: int | None = None) -> int:
    """Torch threads of each worker: ``train.threads`` if set, else the cores shared out (at least 1)."""
    return threads if threads > 0 else max(1, (available_cores() if cores is None else cores) // jobs)


# -- the parent's side -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Inputs:
    """What every worker receives once: the recipe, the chosen protocol and the experiment's shared data."""

    config: ExperimentConfig
    protocol: ProtocolSpec
    cache_dir: Path
    data: ExperimentData
    threads: int
    levels: dict[str, int]


class _Forward(logging.Handler):
    """Hands a worker's log record to the parent's logger of the same name (its handlers, levels, pytest's caplog)."""

    def emit(self, record: logging.LogRecord) -> None:
        logging.getLogger(record.name).handle(record)


@contextlib.contextmanager
def _worker_start(threads: int) -> Iterator[None]:
    """While workers are started: a bare ``__main__`` (so that spawn does not run the caller's script again in
    each worker; the workers need nothing from it), thread-pool sizes and no progress bars in their environment."""
    main = sys.modules.get("__main__")
    saved = {name: os.environ.get(name) for name in (*_THREAD_VARIABLES, "SERKIT_PROGRESS")}
    sys.modules["__main__"] = types.ModuleType("__main__")
    os.environ.update({name: str(threads) for name in _THREAD_VARIABLES}, SERKIT_PROGRESS="0")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _stop(executor: ProcessPoolExecutor) -> None:
    """Cancel what has not started and end the running workers (an interrupted run resumes from last.pt)."""
    terminate = getattr(executor, "terminate_workers", None)  # Python 3.14
    if terminate is not None:
        terminate()
        return
    for process in list((getattr(executor, "_processes", None) or {}).values()):
        if process.is_alive():
            process.terminate()
    executor.shutdown(wait=True, cancel_futures=True)


def _wait_all(futures: list[Future]) -> list[Any]:
    """Results of ``futures`` in submission order; the first error ends the wait."""
    remaining = set(futures)
    while remaining:
        done, remaining = wait(remaining, return_when=FIRST_EXCEPTION)
        for future in done:
            if future.exception() is not None:
                raise future.exception()
    return [future.result() for future in futures]


def run_in_workers(
    config: ExperimentConfig,
    protocol: ProtocolSpec,
    stages: list[Stage],
    data: ExperimentData,
    units: list[Unit],
    *,
    cache_dir: Path,
    jobs: int,
) -> dict[Path, dict[str, Any]]:
    """Compute the features, then train ``units`` in ``jobs`` worker processes; returns each run's record by
    run folder (the same record a sequential run returns).

    ``stages`` are the parent's: they receive the skipped files and short utterances the workers met (for the
    summary's notes and ``skipped_files.txt``), but no feature arrays (the parent trains nothing).

    Raises:
        SerkitError: a run failed; the message names its run folder (the worker's traceback is the cause).
    """
    threads = threads_per_job(jobs, config.train.threads)
    levels = {name: logging.getLogger(name).getEffectiveLevel() for name in ("", "serkit")}
    inputs = _Inputs(config, protocol, Path(cache_dir), data, threads, levels)
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    listener = logging.handlers.QueueListener(queue, _Forward())
    logger.info("%d run(s) in %d worker processes with %d torch thread(s) each", len(units), jobs, threads)
    started = time.monotonic()
    listener.start()
    executor = ProcessPoolExecutor(jobs, context, initializer=_init_worker, initargs=(inputs, queue))
    failed = False
    try:
        shares = _shares(data.utterances, jobs)
        with _worker_start(threads):  # workers are started by submit, as long as none is idle
            tasks = [executor.submit(_extract, i, len(shares), share) for i, share in enumerate(shares)]
        _merge_features(stages, _wait_all(tasks))
        logger.info("workers started and features ready in %.1f s", time.monotonic() - started)
        with _worker_start(threads):
            tasks = [executor.submit(_train, unit) for unit in units]
        records = _wait_all(tasks)
    except BaseException as exc:
        failed = True
        if not isinstance(exc, KeyboardInterrupt):
            logger.warning("a worker failed; stopping the others (their runs resume from last.pt next time)")
        _stop(executor)
        raise
    finally:
        executor.shutdown(wait=True)
        if failed:  # a worker stopped mid-record (Ctrl-C) can leave the log pipe with half a record, which
            listener.enqueue_sentinel()  # listener.stop() would wait for forever: its daemon thread is left
            queue.cancel_join_thread()
        else:
            listener.stop()
        queue.close()
    return {unit.run_dir: record for unit, record in zip(units, records)}


def _shares(utterances: list[Utterance], jobs: int) -> list[list[Utterance]]:
    """``jobs`` contiguous shares of about equal size (in order: the skipped-file list keeps the corpus order)."""
    bounds = [round(i * len(utterances) / jobs) for i in range(jobs + 1)]
    return [utterances[bounds[i] : bounds[i + 1]] for i in range(jobs)]


def _merge_features(stages: list[Stage], shares: list[list[tuple[list[str], list[str]]]]) -> None:
    """Each stage's skipped files (in corpus order) and short utterances, from every worker's share."""
    for position, stage in enumerate(stages):
        skipped = [entry for share in shares for entry in share[position][0]]
        stage.prepared = Prepared({}, {}, skipped)
        stage.pipeline.short_utterances.update(name for share in shares for name in share[position][1])


# -- the workers' side -----------------------------------------------------------------------------------------

_state: dict[str, Any] = {}


class _RunPrefix(logging.Filter):
    """``[fold1/seed0] `` before every message of this worker, and the record made ready for the queue."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = f"[{_state.get('label', 'worker')}] {record.getMessage()}"
        record.args = None
        return True


def _watch_parent(parent: int) -> None:
    """Exit when the parent process has gone (killed): no run is then trained by an orphan."""
    while True:
        time.sleep(2.0)
        if os.getppid() != parent:
            os._exit(1)


def _init_worker(inputs: _Inputs, queue: Any) -> None:
    configure_torch(inputs.threads)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.handlers.QueueHandler(queue)
    handler.addFilter(_RunPrefix())
    root.addHandler(handler)
    for name, level in inputs.levels.items():
        logging.getLogger(name).setLevel(level)
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    _state["inputs"] = inputs


def _stages() -> list[Stage]:
    """This worker's stages (built once; their features are read from the cache by the first run)."""
    if "stages" not in _state:
        inputs: _Inputs = _state["inputs"]
        recipe = resolve(inputs.config).with_protocol(inputs.protocol)
        _state["stages"] = build_stages(resolve_stages(recipe), inputs.cache_dir)
    return _state["stages"]


def _extract(index: int, count: int, share: list[Utterance]) -> list[tuple[list[str], list[str]]]:
    """Features of one share of the utterances into the cache; per stage, (skipped files, short utterances)."""
    _state["label"] = f"features {index + 1}/{count}"
    try:
        stages, results = _stages(), []
        for position, stage in enumerate(stages):
            earlier = next(
                (i for i, other in enumerate(stages[:position]) if _same_arrays(stage, other)), None
            )
            if earlier is not None:  # views of an earlier stage's arrays (DCNN's frames and utterance stages)
                results.append(results[earlier])
                continue
            # computed or read from the cache, and not kept: every run reads them all back from the cache
            skipped = _prepare_chunks(share, stage.pipeline, progress=False).skipped
            results.append((skipped, sorted(stage.pipeline.short_utterances)))
        return results
    except Exception as exc:
        first = share[0].path if share else "-"
        raise SerkitError(
            f"features of utterances {first} and the {len(share) - 1} after it failed: {type(exc).__name__}: {exc}"
        ) from exc


def _train(unit: Unit) -> dict[str, Any]:
    """One (fold, seed) run, exactly as a sequential run does it."""
    _state["label"] = unit.label
    inputs: _Inputs = _state["inputs"]
    try:
        stages = _stages()
        fold = unit.fold
        logger.info(
            "run %s / seed %d: %d train, %d val, %d test utterances",
            fold.name,
            unit.seed,
            len(fold.train),
            len(fold.val),
            len(fold.test),
        )
        return run_stages(
            stages, fold, unit.seed, unit.run_dir, inputs.data, keep_embeddings=unit.keep_embeddings
        )
    except Exception as exc:
        # a plain SerkitError: it pickles whatever the original type, and the message names the run folder
        raise SerkitError(f"run {unit.run_dir} failed: {type(exc).__name__}: {exc}") from exc
