"""Mean ± std of an experiment's metrics over its folds × seeds: :func:`summarize_runs`.

The runner gives one dict per (fold, seed) run::

    {"fold": "fold0", "seed": 0, "metrics": classification_metrics(...), "num_epochs": 30, "best_epoch": 21,
     "timing": {"wall_seconds": 812.4, "cpu_seconds": 1530.2, ...}}

(``timing`` is the run's ``timing.json``, see :mod:`serkit.training.timing`; a run without it is left out of the
time totals) and :func:`summarize_runs` turns them into one JSON-serialisable summary dict, which
:mod:`serkit.evaluation.report` formats and writes. Every summary states the protocol, whether it is
speaker-independent, the label set and how the model was selected; a model selected on the test data is marked
with :data:`TEST_SELECTION_WARNING`.

Standard deviations are sample standard deviations (``ddof=1``, what ``numpy.std(ddof=1)`` and most papers'
"± std" over seeds compute) whenever there are at least two values; a single run gets std 0 and the report says
``n=1``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from serkit import __version__
from serkit.data.stats import natural_key
from serkit.evaluation.metrics import HEADLINE_METRICS, MULTILABEL_HEADLINE_METRICS
from serkit.evaluation.outputs import REGRESSION_HEADLINE_METRICS

__all__ = [
    "OPTIONAL_METRICS",
    "SELECTIONS",
    "TEST_SELECTION_WARNING",
    "TRANSDUCTIVE_WARNING",
    "summarize_runs",
]

#: How the reported model of each run was chosen. ``validation``: best epoch on a held-out validation set;
#: ``test``: best epoch on the test set (an original paper's protocol); ``none``: a fixed budget, no choice;
#: ``last_epoch``: the final epoch.
SELECTIONS = ("validation", "test", "none", "last_epoch")

#: The line every report of a model selected on the test set carries.
TEST_SELECTION_WARNING = "MODEL SELECTED ON THE TEST SET: numbers are optimistic"

#: The line every report of a transductive run carries (``input.normalize: speaker``).
TRANSDUCTIVE_WARNING = (
    "TRANSDUCTIVE: the test speakers were normalised with statistics of their own unlabelled test audio "
    "(input.normalize: speaker); a test score depends on the other test utterances of its speaker"
)

_PROTOCOL_INFO_KEYS = ("speaker_independent", "selects_on_test", "description")


def _mean_std(values: Sequence[float]) -> dict[str, Any]:
    """``{"mean", "std", "n"}``; sample std (ddof=1) from two values on, 0 for one value, None for none."""
    if not values:
        return {"mean": None, "std": None, "n": 0}
    array = np.asarray(values, dtype=float)
    std = float(array.std(ddof=1)) if len(array) >= 2 else 0.0
    return {"mean": float(array.mean()), "std": std, "n": len(array)}


#: Scores that classification_metrics adds only for some label sets (with neutral: KEMDy20's non-neutral F1s).
OPTIONAL_METRICS = ("micro_f1_non_neutral", "micro_f1_without_neutral")


def _metric_keys(label_names: Sequence[str], optional: Sequence[str] = ()) -> list[str]:
    """Flat metric names: the headline metrics, the optional ones every run has, then ``recall.<class>`` and
    ``f1.<class>`` per class."""
    per_class = [f"{kind}.{name}" for name in label_names for kind in ("recall", "f1")]
    return [*HEADLINE_METRICS, *optional, *per_class]


def _multilabel_keys(label_names: Sequence[str]) -> list[str]:
    """Multi-label runs: their headline metrics, then ``f1.<label>`` and ``accuracy.<label>``."""
    return [
        *MULTILABEL_HEADLINE_METRICS,
        *(f"{kind}.{name}" for name in label_names for kind in ("f1", "accuracy")),
    ]


def _flatten_multilabel(
    metrics: Mapping[str, Any], label_names: Sequence[str], where: str
) -> dict[str, float]:
    if list(metrics.get("label_names", [])) != list(label_names):
        raise ValueError(
            f"{where}: metrics are for labels {metrics.get('label_names')} but the summary's "
            f"label_names are {list(label_names)}."
        )
    flat = {key: float(metrics[key]) for key in MULTILABEL_HEADLINE_METRICS}
    for name in label_names:
        flat[f"f1.{name}"] = float(metrics["per_label"][name]["f1"])
        flat[f"accuracy.{name}"] = float(metrics["per_label"][name]["accuracy"])
    return flat


def _dimension_keys(dimensions: Sequence[str]) -> list[str]:
    """Regression (and multitask) runs: the means over the dimensions, then CCC, Pearson and MAE per dimension."""
    per_dimension = [f"{kind}_{name}" for name in dimensions for kind in REGRESSION_HEADLINE_METRICS]
    return [*REGRESSION_HEADLINE_METRICS, *per_dimension]


def _flatten_dimensions(
    metrics: Mapping[str, Any], dimensions: Sequence[str], where: str
) -> dict[str, float | None]:
    """A run's dimension metrics; NaN (a dimension without two rated test utterances) becomes None."""
    if list(metrics.get("dimensions", [])) != list(dimensions):
        raise ValueError(
            f"{where}: metrics are for dimensions {metrics.get('dimensions')} but the summary's are "
            f"{list(dimensions)}; summarise runs of one task together."
        )
    values = {key: metrics.get(key) for key in _dimension_keys(dimensions)}
    return {
        key: None if value is None or not np.isfinite(value) else float(value)
        for key, value in values.items()
    }


def _flatten_metrics(
    metrics: Mapping[str, Any], label_names: Sequence[str], where: str
) -> dict[str, float | None]:
    """One run's metrics as ``{metric key: value}``; per-class values are None when the class had no test
    utterance in that run (its recall is undefined, and a 0 would drag the mean down)."""
    if "per_label" in metrics:  # multi-label (multilabel_metrics)
        return _flatten_multilabel(metrics, label_names, where)
    missing = [key for key in (*HEADLINE_METRICS, "per_class", "confusion") if key not in metrics]
    if missing:
        raise ValueError(
            f"{where}: metrics lack {missing}; pass the dict returned by classification_metrics()."
        )
    per_class = metrics["per_class"]
    run_names = list(metrics.get("label_names", per_class))
    if run_names != list(label_names) or set(per_class) != set(label_names):
        raise ValueError(
            f"{where}: metrics are for classes {run_names} but the summary's label_names are "
            f"{list(label_names)}; summarise runs of one label set (in one order) together."
        )
    flat: dict[str, float | None] = {key: float(metrics[key]) for key in HEADLINE_METRICS}
    flat.update({key: float(metrics[key]) for key in OPTIONAL_METRICS if key in metrics})
    for name in label_names:
        present = int(per_class[name]["support"]) > 0
        flat[f"recall.{name}"] = float(per_class[name]["recall"]) if present else None
        flat[f"f1.{name}"] = float(per_class[name]["f1"]) if present else None
    return flat


def _aggregate(
    flat_runs: Sequence[Mapping[str, float | None]], keys: Sequence[str]
) -> dict[str, dict[str, Any]]:
    return {key: _mean_std([run[key] for run in flat_runs if run[key] is not None]) for key in keys}


def _references(runs: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Mean ± std of trivial predictors scored on each run's test set (``run["reference"]``: name -> metrics),
    when every run has them, e.g. ``always_neutral`` on a neutral-dominated corpus."""
    names = set.intersection(*(set(run.get("reference", {})) for run in runs)) if runs else set()
    return {
        name: {
            key: _mean_std(
                [float(run["reference"][name][key]) for run in runs if key in run["reference"][name]]
            )
            for key in keys
        }
        for name in sorted(names)
    }


def _time_totals(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Wall and CPU seconds summed over the timed runs and their mean per run; None when no run is timed."""
    timed = [
        row for row in rows if row.get("wall_seconds") is not None and row.get("cpu_seconds") is not None
    ]
    if not timed:
        return None
    wall = float(sum(row["wall_seconds"] for row in timed))
    cpu = float(sum(row["cpu_seconds"] for row in timed))
    return {
        "n_timed": len(timed),
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "wall_seconds_per_run": wall / len(timed),
        "cpu_seconds_per_run": cpu / len(timed),
    }


def _std_definition(n: int, what: str) -> str:
    if n >= 2:
        return f"sample standard deviation (ddof=1) over {n} {what}"
    return f"n=1: a single {what.rstrip('s')}, std reported as 0"


def _check_protocol_info(protocol_info: Mapping[str, Any]) -> dict[str, Any]:
    missing = [key for key in _PROTOCOL_INFO_KEYS if key not in protocol_info]
    if missing:
        raise ValueError(
            f"protocol_info lacks {missing}; pass serkit.data.protocols.protocol_info(name).to_dict() "
            f"or a dict with keys {list(_PROTOCOL_INFO_KEYS)}."
        )
    return dict(protocol_info)


def summarize_runs(
    runs: Sequence[Mapping[str, Any]],
    *,
    label_names: Sequence[str],
    protocol: str,
    protocol_info: Mapping[str, Any],
    selection: str,
    title: str = "",
    notes: Sequence[str] = (),
    transductive: bool = False,
) -> dict[str, Any]:
    """Mean ± std of every metric over all (fold, seed) runs, per-seed means, and the summed confusion matrix.

    Args:
        runs: one dict per run with ``fold`` (str), ``seed`` (int), ``metrics`` (the output of
            :func:`~serkit.evaluation.metrics.classification_metrics`) and optionally ``num_epochs``,
            ``best_epoch`` and ``timing`` (``wall_seconds``, ``cpu_seconds``).
        label_names: the ordered label set every run was evaluated on.
        protocol: name of the split protocol.
        protocol_info: at least ``speaker_independent``, ``selects_on_test`` and ``description`` (the dict of
            :class:`serkit.data.protocols.ProtocolInfo`).
        selection: how each run's model was chosen, one of :data:`SELECTIONS`.
        title: heading of the report.
        notes: extra lines for the report (e.g. utterances skipped as unreadable).
        transductive: the test inputs were normalised with statistics of the test speakers' audio; the report
            carries :data:`TRANSDUCTIVE_WARNING` and ``transductive`` is True.

    Returns:
        A JSON-serialisable dict. ``metrics`` maps each metric (``wa``, ``ua``, ``macro_f1``, ``micro_f1``,
        ``weighted_f1``, ``recall.<class>``, ``f1.<class>``) to ``{"mean", "std", "n"}`` over all runs; a
        per-class value is averaged over the runs whose test set contains the class, hence its own ``n``.
        ``over_seeds`` holds the same over seeds: each seed's metrics are first averaged over its folds
        (``per_seed``), then mean ± std is taken across seeds, the usual "± std over seeds" of papers.
        ``confusion`` has ``counts`` summed over all runs (an utterance counts once per seed) and
        ``normalized`` (each true-class row divided by its total; rows with no utterance stay 0).
        Also: ``title``, ``protocol``, ``protocol_info``, ``speaker_independent``, ``selection``,
        ``selected_on_test``, ``transductive``, ``warnings``, ``label_names``, ``notes``, ``n_runs``, ``folds``, ``seeds``,
        ``std_definition``, ``runs`` (each with its ``wall_seconds`` and ``cpu_seconds``, None when untimed),
        ``time`` (``wall_seconds`` and ``cpu_seconds`` summed over the ``n_timed`` timed runs, and their means
        ``wall_seconds_per_run`` and ``cpu_seconds_per_run``; None when no run is timed) and ``serkit_version``.

    Raises:
        ValueError: no runs, a duplicate (fold, seed), a bad ``selection``, incomplete ``protocol_info``, or a
            run evaluated on another label set.
    """
    if not runs:
        raise ValueError("no runs to summarise: the experiment produced no finished (fold, seed) run.")
    if selection not in SELECTIONS:
        raise ValueError(f"selection {selection!r} is not one of {list(SELECTIONS)}.")
    info = _check_protocol_info(protocol_info)
    names = [str(name) for name in label_names]
    first = runs[0].get("metrics", {})
    multi_label = "per_label" in first
    dimensions = [str(name) for name in first.get("dimensions", [])]  # task: regression or multitask
    has_classes = "confusion" in first or multi_label
    optional = [key for key in OPTIONAL_METRICS if all(key in run.get("metrics", {}) for run in runs)]
    keys = _multilabel_keys(names) if multi_label else _metric_keys(names, optional) if has_classes else []
    keys += _dimension_keys(dimensions) if dimensions else []

    rows: list[dict[str, Any]] = []
    seen: set[tuple[str, int]] = set()
    confusion = np.zeros((len(names), len(names)), dtype=np.int64)
    for index, run in enumerate(runs):
        for key in ("fold", "seed", "metrics"):
            if key not in run:
                raise ValueError(f"run #{index} lacks {key!r}; each run needs fold, seed and metrics.")
        fold, seed = str(run["fold"]), int(run["seed"])
        where = f"run fold={fold} seed={seed}"
        if (fold, seed) in seen:
            raise ValueError(f"{where} appears twice; each (fold, seed) must be summarised once.")
        seen.add((fold, seed))
        if ("per_label" in run["metrics"]) != multi_label:
            raise ValueError(f"{where}: single-label and multi-label runs cannot be summarised together.")
        if list(run["metrics"].get("dimensions", [])) != dimensions or ("confusion" in run["metrics"]) != (
            has_classes and not multi_label
        ):
            raise ValueError(
                f"{where}: runs of different tasks (classes / dimensions) cannot be summarised together."
            )
        flat = _flatten_metrics(run["metrics"], names, where) if has_classes else {}
        flat.update(_flatten_dimensions(run["metrics"], dimensions, where) if dimensions else {})
        if has_classes and not multi_label:
            matrix = np.asarray(run["metrics"]["confusion"], dtype=np.int64)
            if matrix.shape != confusion.shape:
                raise ValueError(
                    f"{where}: confusion matrix has shape {matrix.shape}, expected {confusion.shape}."
                )
            confusion += matrix
        timing = run.get("timing") or {}
        rows.append(
            {
                "fold": fold,
                "seed": seed,
                "num_epochs": run.get("num_epochs"),
                "best_epoch": run.get("best_epoch"),
                "num_utterances": run["metrics"].get("num_utterances"),
                "wall_seconds": timing.get("wall_seconds"),
                "cpu_seconds": timing.get("cpu_seconds"),
                "metrics": flat,
            }
        )

    folds = sorted({row["fold"] for row in rows}, key=natural_key)
    seeds = sorted({row["seed"] for row in rows})
    per_seed = []
    for seed in seeds:
        seed_rows = [row["metrics"] for row in rows if row["seed"] == seed]
        means = {key: stats["mean"] for key, stats in _aggregate(seed_rows, keys).items()}
        per_seed.append({"seed": seed, "n_folds": len(seed_rows), "metrics": means})

    selected_on_test = bool(info["selects_on_test"]) or selection == "test"
    warnings = [TEST_SELECTION_WARNING] if selected_on_test else []
    if transductive:
        warnings.append(TRANSDUCTIVE_WARNING)
    missing = [f"{fold}/seed {seed}" for seed in seeds for fold in folds if (fold, seed) not in seen]
    if missing:
        warnings.append(
            f"incomplete grid: {len(rows)} of {len(folds) * len(seeds)} fold x seed runs present "
            f"(missing {', '.join(missing)}); per-seed means cover different folds."
        )

    row_totals = confusion.sum(axis=1, keepdims=True)
    normalized = np.divide(confusion, row_totals, out=np.zeros(confusion.shape), where=row_totals > 0)
    return {
        "title": title,
        "serkit_version": __version__,
        "protocol": protocol,
        "protocol_info": info,
        "speaker_independent": bool(info["speaker_independent"]),
        "selection": selection,
        "selected_on_test": selected_on_test,
        "transductive": bool(transductive),
        "warnings": warnings,
        "label_names": names,
        "notes": [str(note) for note in notes],
        "n_runs": len(rows),
        "folds": folds,
        "seeds": seeds,
        "std_definition": _std_definition(len(rows), "runs"),
        "metrics": _aggregate([row["metrics"] for row in rows], keys),
        "over_seeds": _aggregate([entry["metrics"] for entry in per_seed], keys),
        "over_seeds_std_definition": _std_definition(len(seeds), "seeds"),
        "per_seed": per_seed,
        "confusion": None
        if multi_label or not has_classes
        else {"counts": confusion.tolist(), "normalized": normalized.tolist()},
        "multi_label": multi_label,
        "dimensions": dimensions,
        "headline_metrics": [
            *(
                MULTILABEL_HEADLINE_METRICS
                if multi_label
                else (*HEADLINE_METRICS, *optional)
                if has_classes
                else ()
            ),
            *(REGRESSION_HEADLINE_METRICS if dimensions else ()),
        ],
        "references": _references(runs, [*HEADLINE_METRICS, *optional]),
        "time": _time_totals(rows),
        "runs": rows,
    }
