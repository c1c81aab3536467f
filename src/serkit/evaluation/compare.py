"""Several experiments side by side: :func:`compare_summaries` (``serkit compare``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from serkit.evaluation.markdown import METRIC_TITLES, headline_keys, markdown_table, number, percent
from serkit.evaluation.outputs import REGRESSION_HEADLINE_METRICS

__all__ = ["compare_summaries"]


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
                ("dimensions", "dimensions"),
            )
            if summary.get(key) != reference.get(key)
        ]
        if summary["selected_on_test"]:
            flags.append("SELECTED ON TEST")
        if summary.get("transductive"):  # summaries from before the option have no key
            flags.append("TRANSDUCTIVE (test speakers' statistics)")
        flagged = flagged or bool(flags)
        speaker = "yes" if summary["speaker_independent"] else "NO"
        if headline_keys(summary) != headline_keys(reference):
            raise ValueError(
                f"{name} and {names[0]} report different metrics (single-label, multi-label, regression or "
                "multitask): compare experiments of one kind."
            )
        rows.append(
            [
                name,
                f"`{summary['protocol']}`",
                speaker,
                summary["selection"],
                len(summary["label_names"]),
                summary["n_runs"],
                *(
                    (number if key in REGRESSION_HEADLINE_METRICS else percent)(summary["metrics"][key])
                    for key in headline_keys(reference)
                ),
                "; ".join(flags) or "-",
            ]
        )
    lines = ["# Comparison (mean ± std over all runs; % except CCC, Pearson r and MAE)", ""]
    if flagged:
        lines += [
            (
                f"> **WARNING: flagged rows differ from the first row ({names[0]}) in protocol, model "
                "selection or label set, or were selected on the test set or are transductive: their numbers are not directly "
                "comparable.**"
            ),
            "",
        ]
    lines += markdown_table(
        [
            "run",
            "protocol",
            "speaker-indep.",
            "selection",
            "classes",
            "runs",
            *(METRIC_TITLES[key] for key in headline_keys(reference)),
            "flags",
        ],
        rows,
    )
    return "\n".join(lines) + "\n"
