"""A run folder's identity: resuming, refusing a changed recipe, and restarting.

A (fold, seed) run whose ``metrics.json`` exists is finished; ``run_experiment`` skips it, and continues an
interrupted one from its ``last.pt``. That is only sound while the folder's recipe is the same in every key that
changes results: :func:`check_resumable` compares the folder's ``config.yaml`` with the new recipe (execution keys
such as seeds, folds, threads or the title left out) and refuses a difference with the list of changed keys, unless
:func:`move_old_run` (``serkit train --restart``) has moved the earlier results aside.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from serkit.config import ConfigError, ExperimentConfig
from serkit.core.errors import SerkitError
from serkit.core.values import format_value, parse_value, read_yaml, to_dict
from serkit.recipe import load_experiment

__all__ = ["check_resumable", "move_old_run"]

logger = logging.getLogger(__name__)


#: Keys that choose which runs to do, how fast and under which title, not what a run computes: a run folder can
#: be continued with more seeds or folds, another thread or job count, cache folder, title or notes, or with
#: ``strict`` switched (it only gates the corpus checks at the start).
_EXECUTION_KEYS = {
    ("name",),
    ("notes",),
    ("seeds",),
    ("cache_dir",),
    ("strict",),
    ("runner",),
    ("protocol", "folds"),
    ("train", "threads"),
    ("train", "progress"),
    ("train", "num_workers"),
    ("train", "tensorboard"),
    ("train", "tsne"),
}

#: What run_experiment writes at the top of a run folder; ``restart=True`` moves exactly these aside. The feature
#: cache stays: it is keyed by the feature settings and each file's content, so reusing it cannot change results.
_RUN_FOLDER_ENTRIES = (
    "config.yaml",
    "folds.json",
    "folds_seed*.json",
    "runs",
    "summary.md",
    "summary.csv",
    "summary.json",
    "runs.csv",
    "confusion_matrix.png",
    "training_curves.png",
    "tsne.png",
    "skipped_files*.txt",
)


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
        identity["stages"] = {
            str(stage.get("name")): {
                "position": position,
                "init_from": stage.get("init_from", ""),
                "set": _stage_overrides(stage.get("set", [])),
            }
            for position, stage in enumerate(stages)
        }
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
            lines.append(
                f"{key}: {'(not set)' if before is missing else format_value(before)} -> "
                f"{'(not set)' if after is missing else format_value(after)}"
            )
    return lines


def _has_results(output_dir: Path) -> bool:
    """Whether any (fold, seed) run of the folder has started (a config alone, from a run that failed before
    training, protects nothing)."""
    runs = output_dir / "runs"  # a run's own config.yaml is written before training: it is no result yet
    return runs.is_dir() and any(path.is_file() and path.name != "config.yaml" for path in runs.rglob("*"))


def move_old_run(output_dir: Path) -> Path | None:
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
    logger.warning(
        "restart: moved the earlier run's %s to %s", ", ".join(entry.name for entry in entries), aside
    )
    return aside


def check_resumable(config: ExperimentConfig, output_dir: Path) -> None:
    """Refuse a folder whose runs come from a recipe that differs in a key that changes results."""
    saved = output_dir / "config.yaml"
    if not saved.is_file():
        return
    old, new = _saved_identity(saved), _identity(to_dict(config))
    if old == new:
        return
    changes = _changed_keys(old, new)
    if not _has_results(output_dir):
        logger.info(
            "%s: no run had started with its earlier config; replacing it (%s)",
            output_dir,
            "; ".join(changes),
        )
        return
    listed = "\n".join(f"  {line}" for line in changes)
    raise SerkitError(
        f"{output_dir} holds runs of a different recipe ({saved}); changed keys:\n{listed}\n"
        f"Use another --out folder to keep both, or rerun with --restart (run_experiment(..., "
        f"restart=True)) to move the old results to {output_dir}.old-<time> and start afresh."
    )
