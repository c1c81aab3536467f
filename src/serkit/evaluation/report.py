"""Summaries of an experiment: mean ± std over folds × seeds, written as Markdown, CSV and JSON.

:func:`summarize_runs` (:mod:`serkit.evaluation.summary`) turns the runner's (fold, seed) runs into one summary
dict, :func:`format_summary` into the Markdown table the CLI prints, :func:`write_summary` into files (read back
by :func:`read_summary`), and :func:`compare_summaries` (:mod:`serkit.evaluation.compare`) into a side-by-side
table of several experiments. Every summary states the protocol, whether it is speaker-independent, the label
set and how the model was selected; a model selected on the test data is marked with
:data:`TEST_SELECTION_WARNING`. All of these are importable from here.
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

from serkit.core.fileio import atomic_write_json, atomic_write_text
from serkit.evaluation.compare import compare_summaries
from serkit.evaluation.markdown import METRIC_TITLES, headline_keys, markdown_table, number, percent
from serkit.evaluation.outputs import REGRESSION_HEADLINE_METRICS
from serkit.evaluation.summary import SELECTIONS, TEST_SELECTION_WARNING, summarize_runs

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

_SUMMARY_FILES = {
    "summary_md": "summary.md",
    "summary_csv": "summary.csv",
    "summary_json": "summary.json",
    "runs_csv": "runs.csv",
}


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


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.2f} h"


def _time_text(summary: Mapping[str, Any]) -> str | None:
    """The report's time line: wall and CPU time summed over the runs and per run (None without times)."""
    time = summary.get("time")
    if not time:
        return None
    runs = f"{time['n_timed']} of {summary['n_runs']} runs" if time["n_timed"] < summary["n_runs"] else "runs"
    return (
        f"{_duration(time['wall_seconds'])} wall, {_duration(time['cpu_seconds'])} CPU summed over the {runs}; "
        f"{_duration(time['wall_seconds_per_run'])} wall, {_duration(time['cpu_seconds_per_run'])} CPU per run "
        "(CPU: the process that trained the run)"
    )


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
        *([f"- Labels ({len(names)}): {', '.join(names)}"] if names else []),
        *_dimensions_line(summary),
        f"- Model selection: {_selection_text(summary)}",
        (
            f"- Runs: {summary['n_runs']} ({len(folds)} folds: {', '.join(folds)}; "
            f"{len(seeds)} seeds: {', '.join(map(str, seeds))})"
        ),
        f"- ±: {summary['std_definition']}",
    ]
    if _time_text(summary):
        lines.append(f"- Time: {_time_text(summary)}")
    if "session_independent" in info:  # IEMOCAP-style protocols also guarantee disjoint sessions
        lines.insert(
            lines.index(f"- Speaker-independent: {speaker}") + 1,
            f"- Session-independent: {'yes' if info['session_independent'] else 'no'}",
        )
    lines += [f"- Note: {note}" for note in summary["notes"]]

    headline = [key for key in headline_keys(summary) if key not in REGRESSION_HEADLINE_METRICS]
    if summary.get("dimensions"):
        lines += _dimension_tables(summary)
    if headline:
        lines += ["", "## All runs (mean ± std, %)", ""]
        lines += markdown_table(
            ["metric", "mean ± std", "n"],
            [
                [METRIC_TITLES[key], percent(summary["metrics"][key]), summary["metrics"][key]["n"]]
                for key in headline
            ],
        )
    for name, stats in (summary.get("references") or {}).items():
        shown = ("wa", "macro_f1", "weighted_f1")  # the UA of a constant predictor is always 1 / classes
        lines += [
            "",
            f"Reference, {name.replace('_', ' ')} on the same test utterances: "
            + "; ".join(
                f"{METRIC_TITLES[key]} {percent(stats[key])}" for key in shown if stats.get(key, {}).get("n")
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
    elif summary.get("confusion") is not None:
        lines += [
            "",
            (
                'micro-F1 equals WA for single-label classification; GLAM\'s README column "micro F1" is '
                "weighted-F1."
            ),
        ]

    if len(seeds) > 1 and len(folds) > 1 and headline:
        lines += [
            "",
            "## Over seeds (each seed averaged over its folds, then mean ± std across seeds, %)",
            "",
        ]
        lines += markdown_table(
            ["metric", "mean ± std", "seeds"],
            [
                [METRIC_TITLES[key], percent(summary["over_seeds"][key]), summary["over_seeds"][key]["n"]]
                for key in headline
            ],
        )
        lines += ["", f"±: {summary['over_seeds_std_definition']}."]

    if summary.get("multi_label"):
        lines += ["", "## Per label (mean ± std over runs, %)", ""]
        lines += markdown_table(
            ["label", "F1", "accuracy"],
            [
                [
                    name,
                    percent(summary["metrics"][f"f1.{name}"]),
                    percent(summary["metrics"][f"accuracy.{name}"]),
                ]
                for name in names
            ],
        )
        return "\n".join(lines) + "\n"

    if summary.get("confusion") is None:  # regression: no classes
        return "\n".join(lines) + "\n"
    counts = np.asarray(summary["confusion"]["counts"])
    lines += ["", "## Per class (mean ± std over the runs whose test set has the class, %)", ""]
    lines += markdown_table(
        ["class", "recall", "F1", "runs", "test utterances (all runs)"],
        [
            [
                name,
                percent(summary["metrics"][f"recall.{name}"]),
                percent(summary["metrics"][f"f1.{name}"]),
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
    lines += markdown_table(
        ["true \\ predicted", *names, "n"],
        [
            [name, *(f"{100 * value:.1f}" for value in normalized[i]), int(counts[i].sum())]
            for i, name in enumerate(names)
        ],
    )
    return "\n".join(lines) + "\n"


def _dimensions_line(summary: Mapping[str, Any]) -> list[str]:
    dimensions = summary.get("dimensions") or []
    if not dimensions:
        return []
    return [f"- Dimensions ({len(dimensions)}): {', '.join(dimensions)} (values rescaled to [0, 1])"]


def _dimension_tables(summary: Mapping[str, Any]) -> list[str]:
    """Per dimension CCC, Pearson r and MAE (mean ± std over runs; and over seeds when there are several)."""
    dimensions, metrics = summary["dimensions"], summary["metrics"]
    lines = [
        "",
        "## Dimensions (mean ± std over runs; CCC and Pearson r in [-1, 1], MAE on the [0, 1] scale)",
        "",
    ]
    rows = [
        [name, *(number(metrics[f"{kind}_{name}"]) for kind in REGRESSION_HEADLINE_METRICS)]
        + [metrics[f"ccc_{name}"]["n"]]
        for name in dimensions
    ]
    rows.append(
        ["**mean**", *(number(metrics[kind]) for kind in REGRESSION_HEADLINE_METRICS), metrics["ccc"]["n"]]
    )
    lines += markdown_table(["dimension", "CCC", "Pearson r", "MAE", "runs"], rows)
    if len(summary["seeds"]) > 1:
        over = summary["over_seeds"]
        lines += [
            "",
            "Over seeds (each seed averaged over its folds): CCC "
            + ", ".join(f"{name} {number(over[f'ccc_{name}'])}" for name in dimensions)
            + f"; mean {number(over['ccc'])}.",
        ]
    return lines


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
    one row per (fold, seed) run with its metrics, wall and CPU seconds. ``summary.json`` holds the whole summary
    dict.

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
    run_header = [
        "fold",
        "seed",
        "num_epochs",
        "best_epoch",
        "num_utterances",
        *keys,
        "wall_seconds",
        "cpu_seconds",
    ]
    run_rows = [
        [
            run["fold"],
            run["seed"],
            run["num_epochs"],
            run["best_epoch"],
            run["num_utterances"],
            *(run["metrics"][key] for key in keys),
            run.get("wall_seconds"),
            run.get("cpu_seconds"),
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
