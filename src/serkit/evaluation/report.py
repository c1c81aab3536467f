"""Summaries of an experiment: mean ± std over folds × seeds, written as Markdown, CSV and JSON.

The runner gives one dict per (fold, seed) run::

    {"fold": "fold0", "seed": 0, "metrics": classification_metrics(...), "num_epochs": 30, "best_epoch": 21}

:func:`summarize_runs` turns them into one summary dict, :func:`format_summary` into the Markdown table the CLI
prints, :func:`write_summary` into files, and :func:`compare_summaries` into a side-by-side table of several
experiments. Every summary states the protocol, whether it is speaker-independent, the label set and how the
model was selected; a model selected on the test data is marked with :data:`TEST_SELECTION_WARNING`.

Standard deviations are sample standard deviations (``ddof=1``, what ``numpy.std(ddof=1)`` and most papers'
"± std" over seeds compute) whenever there are at least two values; a single run gets std 0 and the report says
``n=1``.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from serkit import __version__
from serkit.core.fileio import atomic_write_json, atomic_write_text
from serkit.data.stats import natural_key
from serkit.evaluation.metrics import HEADLINE_METRICS, MULTILABEL_HEADLINE_METRICS

__all__ = [
    "METRIC_TITLES",
    "SELECTIONS",
    "TEST_SELECTION_WARNING",
    "compare_summaries",
    "format_summary",
    "read_summary",
    "summarize_runs",
    "write_summary",
]

#: How the reported model of each run was chosen. ``validation``: best epoch on a held-out validation set;
#: ``test``: best epoch on the test set (an original paper's protocol); ``none``: a fixed budget, no choice;
#: ``last_epoch``: the final epoch.
SELECTIONS = ("validation", "test", "none", "last_epoch")

#: The line every report of a model selected on the test set carries.
TEST_SELECTION_WARNING = "MODEL SELECTED ON THE TEST SET: numbers are optimistic"

#: Display names of the headline metrics.
METRIC_TITLES = {
    "wa": "WA (accuracy)",
    "ua": "UA (macro recall)",
    "macro_f1": "macro-F1",
    "micro_f1": "micro-F1",
    "weighted_f1": "weighted-F1",
    "micro_f1_non_neutral": "micro-F1 non-neutral (CASE)",
    "micro_f1_without_neutral": "micro-F1 without neutral",
    "label_accuracy": "accuracy per label (mean)",
    "subset_accuracy": "exact-match accuracy",
}

_PROTOCOL_INFO_KEYS = ("speaker_independent", "selects_on_test", "description")
_SUMMARY_FILES = {
    "summary_md": "summary.md",
    "summary_csv": "summary.csv",
    "summary_json": "summary.json",
    "runs_csv": "runs.csv",
}


# --------------------------------------------------------------------------------------------------------------------
# Aggregation
# --------------------------------------------------------------------------------------------------------------------


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
) -> dict[str, Any]:
    """Mean ± std of every metric over all (fold, seed) runs, per-seed means, and the summed confusion matrix.

    Args:
        runs: one dict per run with ``fold`` (str), ``seed`` (int), ``metrics`` (the output of
            :func:`~serkit.evaluation.metrics.classification_metrics`) and optionally ``num_epochs`` and
            ``best_epoch``.
        label_names: the ordered label set every run was evaluated on.
        protocol: name of the split protocol.
        protocol_info: at least ``speaker_independent``, ``selects_on_test`` and ``description`` (the dict of
            :class:`serkit.data.protocols.ProtocolInfo`).
        selection: how each run's model was chosen, one of :data:`SELECTIONS`.
        title: heading of the report.
        notes: extra lines for the report (e.g. utterances skipped as unreadable).

    Returns:
        A JSON-serialisable dict. ``metrics`` maps each metric (``wa``, ``ua``, ``macro_f1``, ``micro_f1``,
        ``weighted_f1``, ``recall.<class>``, ``f1.<class>``) to ``{"mean", "std", "n"}`` over all runs; a
        per-class value is averaged over the runs whose test set contains the class, hence its own ``n``.
        ``over_seeds`` holds the same over seeds: each seed's metrics are first averaged over its folds
        (``per_seed``), then mean ± std is taken across seeds, the usual "± std over seeds" of papers.
        ``confusion`` has ``counts`` summed over all runs (an utterance counts once per seed) and
        ``normalized`` (each true-class row divided by its total; rows with no utterance stay 0).
        Also: ``title``, ``protocol``, ``protocol_info``, ``speaker_independent``, ``selection``,
        ``selected_on_test``, ``warnings``, ``label_names``, ``notes``, ``n_runs``, ``folds``, ``seeds``,
        ``std_definition``, ``runs`` and ``serkit_version``.

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
    multi_label = "per_label" in runs[0].get("metrics", {})
    optional = [key for key in OPTIONAL_METRICS if all(key in run.get("metrics", {}) for run in runs)]
    keys = _multilabel_keys(names) if multi_label else _metric_keys(names, optional)

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
        flat = _flatten_metrics(run["metrics"], names, where)
        if not multi_label:
            matrix = np.asarray(run["metrics"]["confusion"], dtype=np.int64)
            if matrix.shape != confusion.shape:
                raise ValueError(
                    f"{where}: confusion matrix has shape {matrix.shape}, expected {confusion.shape}."
                )
            confusion += matrix
        rows.append(
            {
                "fold": fold,
                "seed": seed,
                "num_epochs": run.get("num_epochs"),
                "best_epoch": run.get("best_epoch"),
                "num_utterances": run["metrics"].get("num_utterances"),
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
        if multi_label
        else {"counts": confusion.tolist(), "normalized": normalized.tolist()},
        "multi_label": multi_label,
        "headline_metrics": list(
            MULTILABEL_HEADLINE_METRICS if multi_label else (*HEADLINE_METRICS, *optional)
        ),
        "references": _references(runs, [*HEADLINE_METRICS, *optional]),
        "runs": rows,
    }


# --------------------------------------------------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------------------------------------------------


def _percent(stats: Mapping[str, Any]) -> str:
    if stats.get("mean") is None:
        return "n/a"
    return f"{100 * stats['mean']:.2f} ± {100 * stats['std']:.2f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines


def _selection_text(summary: Mapping[str, Any]) -> str:
    descriptions = {
        "validation": "best epoch on a held-out validation set (the test set was not used for selection)",
        "test": "best epoch on the TEST set",
        "none": "no selection (fixed training budget)",
        "last_epoch": "last epoch (the test set was not used for selection)",
    }
    text = descriptions.get(summary["selection"], summary["selection"])
    if summary["protocol_info"].get("selects_on_test") and summary["selection"] != "test":
        text += "; the protocol's validation set IS the test set"
    return text


def _headline(summary: Mapping[str, Any]) -> list[str]:
    """The headline metric keys of a summary (summaries written before multi-label support have none stored)."""
    return list(summary.get("headline_metrics") or HEADLINE_METRICS)


def format_summary(summary: Mapping[str, Any]) -> str:
    """The Markdown report of a :func:`summarize_runs` summary (what ``serkit train`` and ``serkit report`` print)."""
    names = summary["label_names"]
    info = summary["protocol_info"]
    lines = [f"# {summary.get('title') or 'serkit experiment summary'}", ""]
    lines += [f"> **WARNING: {warning}**" for warning in summary["warnings"]]
    if summary["warnings"]:
        lines.append("")
    speaker = "yes" if summary["speaker_independent"] else "NO (a speaker may be in training and test)"
    folds, seeds = summary["folds"], summary["seeds"]
    lines += [
        f"- Protocol: `{summary['protocol']}`"
        + (f" ({info['description']})" if info.get("description") else ""),
        f"- Speaker-independent: {speaker}",
        f"- Labels ({len(names)}): {', '.join(names)}",
        f"- Model selection: {_selection_text(summary)}",
        (
            f"- Runs: {summary['n_runs']} ({len(folds)} folds: {', '.join(folds)}; "
            f"{len(seeds)} seeds: {', '.join(map(str, seeds))})"
        ),
        f"- ±: {summary['std_definition']}",
    ]
    if "session_independent" in info:  # IEMOCAP-style protocols also guarantee disjoint sessions
        lines.insert(
            lines.index(f"- Speaker-independent: {speaker}") + 1,
            f"- Session-independent: {'yes' if info['session_independent'] else 'no'}",
        )
    lines += [f"- Note: {note}" for note in summary["notes"]]

    headline = _headline(summary)
    lines += ["", "## All runs (mean ± std, %)", ""]
    lines += _table(
        ["metric", "mean ± std", "n"],
        [
            [METRIC_TITLES[key], _percent(summary["metrics"][key]), summary["metrics"][key]["n"]]
            for key in headline
        ],
    )
    for name, stats in (summary.get("references") or {}).items():
        shown = ("wa", "macro_f1", "weighted_f1")  # the UA of a constant predictor is always 1 / classes
        lines += [
            "",
            f"Reference, {name.replace('_', ' ')} on the same test utterances: "
            + "; ".join(
                f"{METRIC_TITLES[key]} {_percent(stats[key])}" for key in shown if stats.get(key, {}).get("n")
            ),
        ]
    if summary.get("multi_label"):
        lines += [
            "",
            (
                "Multi-label: a label is predicted where its logit is > 0; F1 averages over the labels "
                "present or predicted in a run."
            ),
        ]
    else:
        lines += [
            "",
            (
                'micro-F1 equals WA for single-label classification; GLAM\'s README column "micro F1" is '
                "weighted-F1."
            ),
        ]

    if len(seeds) > 1 and len(folds) > 1:
        lines += [
            "",
            "## Over seeds (each seed averaged over its folds, then mean ± std across seeds, %)",
            "",
        ]
        lines += _table(
            ["metric", "mean ± std", "seeds"],
            [
                [METRIC_TITLES[key], _percent(summary["over_seeds"][key]), summary["over_seeds"][key]["n"]]
                for key in headline
            ],
        )
        lines += ["", f"±: {summary['over_seeds_std_definition']}."]

    if summary.get("multi_label"):
        lines += ["", "## Per label (mean ± std over runs, %)", ""]
        lines += _table(
            ["label", "F1", "accuracy"],
            [
                [
                    name,
                    _percent(summary["metrics"][f"f1.{name}"]),
                    _percent(summary["metrics"][f"accuracy.{name}"]),
                ]
                for name in names
            ],
        )
        return "\n".join(lines) + "\n"

    counts = np.asarray(summary["confusion"]["counts"])
    lines += ["", "## Per class (mean ± std over the runs whose test set has the class, %)", ""]
    lines += _table(
        ["class", "recall", "F1", "runs", "test utterances (all runs)"],
        [
            [
                name,
                _percent(summary["metrics"][f"recall.{name}"]),
                _percent(summary["metrics"][f"f1.{name}"]),
                summary["metrics"][f"recall.{name}"]["n"],
                int(counts[i].sum()),
            ]
            for i, name in enumerate(names)
        ],
    )

    normalized = summary["confusion"]["normalized"]
    lines += [
        "",
        (
            "## Confusion matrix (summed over all runs, each row divided by its total, %; "
            "rows = true, columns = predicted)"
        ),
        "",
    ]
    lines += _table(
        ["true \\ predicted", *names, "n"],
        [
            [name, *(f"{100 * value:.1f}" for value in normalized[i]), int(counts[i].sum())]
            for i, name in enumerate(names)
        ],
    )
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------------------------------


def _csv_text(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([["" if cell is None else cell for cell in row] for row in rows])
    return buffer.getvalue()


def write_summary(summary: Mapping[str, Any], out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write ``summary.md``, ``summary.csv``, ``summary.json`` and ``runs.csv`` into ``out_dir``, atomically.

    ``summary.csv`` has one row per metric (``metric, mean, std, n``; fractions in [0, 1]): all-run rows first,
    then the same metrics over seeds named ``over_seeds.<metric>`` (``n`` = number of seeds). ``runs.csv`` has
    one row per (fold, seed) run with its metrics. ``summary.json`` holds the whole summary dict.

    Returns:
        ``{"summary_md", "summary_csv", "summary_json", "runs_csv"}`` -> path written.
    """
    out = Path(out_dir)
    paths = {key: out / name for key, name in _SUMMARY_FILES.items()}
    keys = list(summary["metrics"])

    metric_rows = [
        [key, stats["mean"], stats["std"], stats["n"]] for key, stats in summary["metrics"].items()
    ]
    metric_rows += [
        [f"over_seeds.{key}", stats["mean"], stats["std"], stats["n"]]
        for key, stats in summary["over_seeds"].items()
    ]
    run_header = ["fold", "seed", "num_epochs", "best_epoch", "num_utterances", *keys]
    run_rows = [
        [
            run["fold"],
            run["seed"],
            run["num_epochs"],
            run["best_epoch"],
            run["num_utterances"],
            *(run["metrics"][key] for key in keys),
        ]
        for run in summary["runs"]
    ]

    atomic_write_text(paths["summary_md"], format_summary(summary))
    atomic_write_text(paths["summary_csv"], _csv_text(["metric", "mean", "std", "n"], metric_rows))
    atomic_write_json(paths["summary_json"], summary)
    atomic_write_text(paths["runs_csv"], _csv_text(run_header, run_rows))
    return paths


def read_summary(path: str | os.PathLike) -> dict[str, Any]:
    """Load a summary written by :func:`write_summary`: the ``summary.json`` file or the folder holding it."""
    path = Path(path)
    if path.is_dir():
        path = path / _SUMMARY_FILES["summary_json"]
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no summary here; run the experiment first (serkit train) or pass the "
            "folder that holds summary.json."
        )
    try:
        with open(path, encoding="utf-8") as handle:
            summary = json.load(handle)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"{path} is not valid JSON ({error}); it is damaged or not serkit's: write it again "
            "from the runs' metrics with summarize_runs and write_summary."
        ) from None
    if not isinstance(summary, dict) or "metrics" not in summary or "label_names" not in summary:
        raise ValueError(f"{path} is not a serkit summary (no 'metrics' or 'label_names').")
    return summary


def compare_summaries(summaries: Sequence[Mapping[str, Any]], names: Sequence[str]) -> str:
    """A Markdown table of several experiments side by side, one row each (for ``serkit compare``).

    The first summary is the reference: a row whose protocol, model selection or label set differs from it is
    flagged, and so is every row whose model was selected on the test set, because such numbers are not
    comparable with the others.

    Args:
        summaries: summaries from :func:`summarize_runs` or :func:`read_summary`.
        names: one display name per summary (e.g. the run folders).
    """
    if not summaries:
        raise ValueError("nothing to compare: pass at least one summary.")
    if len(names) != len(summaries):
        raise ValueError(f"got {len(summaries)} summaries but {len(names)} names; give one name per summary.")
    reference = summaries[0]
    rows, flagged = [], False
    for name, summary in zip(names, summaries):
        flags = [
            f"{what} differs"
            for what, key in (
                ("protocol", "protocol"),
                ("selection", "selection"),
                ("label set", "label_names"),
            )
            if summary[key] != reference[key]
        ]
        if summary["selected_on_test"]:
            flags.append("SELECTED ON TEST")
        flagged = flagged or bool(flags)
        speaker = "yes" if summary["speaker_independent"] else "NO"
        if _headline(summary) != _headline(reference):
            raise ValueError(
                f"{name} is a {'multi' if summary.get('multi_label') else 'single'}-label experiment "
                f"and {names[0]} is not: compare experiments of one kind."
            )
        rows.append(
            [
                name,
                f"`{summary['protocol']}`",
                speaker,
                summary["selection"],
                len(summary["label_names"]),
                summary["n_runs"],
                *(_percent(summary["metrics"][key]) for key in _headline(reference)),
                "; ".join(flags) or "-",
            ]
        )
    lines = ["# Comparison (mean ± std over all runs, %)", ""]
    if flagged:
        lines += [
            (
                f"> **WARNING: flagged rows differ from the first row ({names[0]}) in protocol, model "
                "selection or label set, or were selected on the test set: their numbers are not directly "
                "comparable.**"
            ),
            "",
        ]
    lines += _table(
        [
            "run",
            "protocol",
            "speaker-indep.",
            "selection",
            "classes",
            "runs",
            *(METRIC_TITLES[key] for key in _headline(reference)),
            "flags",
        ],
        rows,
    )
    return "\n".join(lines) + "\n"
