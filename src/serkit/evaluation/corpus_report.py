"""The report of ``serkit corpus check``: ``report.md``, ``findings.json`` and two figures, written atomically.

``report.md`` lists the errors, then the warnings, each with what was found, the fix and the numbers, then the
facts (info findings) and the speaker x emotion table; ``findings.json`` holds the same findings as data (``id,
level, message, fix, numbers, examples``) plus the exit code. The figures (``duration_histogram.png``,
``speaker_emotion.png``) are drawn with matplotlib's object API on the Agg backend, like
:mod:`serkit.evaluation.plots`.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from serkit.core.fileio import atomic_open, atomic_write_json, atomic_write_text
from serkit.data.check import LEVELS, CorpusCheck, Finding
from serkit.data.stats import format_table

__all__ = ["format_check_report", "plot_durations", "plot_speaker_emotion", "write_check_report"]

_VERDICT = {
    0: "clean: no warnings or errors",
    1: "warnings: results on this corpus are likely to be inflated or hard to interpret",
    2: "errors: results on this corpus cannot be trusted as it stands",
}
_MAX_TABLE_SPEAKERS = 60  # beyond this the speaker x emotion table is cut (findings.json has every count)


def _figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)  # the Agg renderer, no pyplot state
    return figure


def _save(figure: Figure, path: Path) -> Path:
    with atomic_open(path, "wb") as handle:
        figure.savefig(handle, format=path.suffix.lstrip(".") or "png", dpi=120)
    figure.clear()
    return path


def plot_durations(durations: list[float], path: str | os.PathLike, *, title: str = "") -> Path:
    """Histogram of utterance durations in seconds; a spike at one value shows a corpus cut to a fixed length."""
    figure = _figure(6.0, 3.5)
    axes = figure.add_subplot()
    values = np.asarray(durations, dtype=float)
    if len(values):
        span = float(values.max() - values.min())
        bins = 1 if span < 1e-6 else min(60, max(10, int(np.sqrt(len(values)))))
        axes.hist(values, bins=bins, color="tab:blue")
    axes.set_xlabel("duration (s)")
    axes.set_ylabel("utterances")
    axes.set_title(title or "utterance durations")
    return _save(figure, Path(path))


def plot_speaker_emotion(
    counts: Any, speakers: list[str], emotions: list[str], path: str | os.PathLike, *, title: str = ""
) -> Path:
    """Heat map of utterance counts, speakers (rows) x emotions (columns), each row as shares of the speaker's
    utterances: a row with one dark cell is a speaker recorded in one emotion only.

    Args:
        counts: (speakers, emotions) utterance counts.
    """
    matrix = np.asarray(counts, dtype=float)
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1.0)
    height = min(20.0, max(3.0, 0.22 * len(speakers) + 1.5))
    figure = _figure(max(4.0, 0.6 * len(emotions) + 2.5), height)
    axes = figure.add_subplot()
    image = axes.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0, aspect="auto")
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label="share of the speaker's utterances")
    axes.set_xticks(range(len(emotions)), labels=emotions, rotation=45, ha="right")
    step = max(1, len(speakers) // 60)  # at most ~60 speaker names on the axis
    axes.set_yticks(range(0, len(speakers), step), labels=speakers[::step], fontsize=7)
    axes.set_xlabel("emotion")
    axes.set_ylabel("speaker")
    axes.set_title(title or "speaker x emotion")
    return _save(figure, Path(path))


def _numbers_text(numbers: dict[str, Any]) -> str:
    parts = []
    for key, value in numbers.items():
        if isinstance(value, dict):
            if len(value) > 12:  # per-speaker maps: findings.json has them
                continue
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        parts.append(f"{key}: {value}")
    return "; ".join(parts)


def _finding_text(finding: Finding) -> list[str]:
    lines = [f"### [{finding.level}] `{finding.id}`", "", finding.message, ""]
    if finding.fix:
        lines += [f"**Fix:** {finding.fix}", ""]
    if finding.numbers:
        lines += [f"Numbers: {_numbers_text(dict(finding.numbers))}", ""]
    if finding.examples:
        lines += ["Examples: " + ", ".join(f"`{e}`" for e in finding.examples), ""]
    return lines


def format_check_report(result: CorpusCheck, *, title: str = "", figures: bool = True) -> str:
    """The Markdown report: verdict, errors and warnings with their fixes, facts, speaker x emotion table."""
    facts = result.facts
    levels = Counter(f.level for f in result.findings)
    lines = [
        f"# Corpus check{': ' + title if title else ''}",
        "",
        f"**Verdict: {_VERDICT[result.exit_code]}** (exit code {result.exit_code}; "
        + ", ".join(f"{levels[level]} {level}" for level in reversed(LEVELS))
        + f"). {facts.get('utterances', 0)} utterances, {len(facts.get('speakers', []))} speakers, "
        f"{len(facts.get('emotions', []))} emotions; audio "
        + (
            f"read ({facts.get('files_read', 0)} files)."
            if facts.get("audio_read")
            else "not read (--no-audio)."
        ),
        "",
    ]
    problems = result.problems()
    lines += ["## Problems", ""]
    for finding in problems:
        lines += _finding_text(finding)
    if not problems:
        lines += ["None.", ""]
    lines += ["## Facts", ""]
    for finding in (f for f in result.findings if f.level == "info"):
        lines += _finding_text(finding)
    speakers, emotions = facts.get("speakers", []), facts.get("emotions", [])
    if speakers and emotions:
        counts = facts["speaker_emotion"]
        rows = [[s, *row, sum(row)] for s, row in zip(speakers, counts)][:_MAX_TABLE_SPEAKERS]
        lines += ["## Speakers x emotions", "", format_table(["speaker", *emotions, "total"], rows), ""]
        if len(speakers) > _MAX_TABLE_SPEAKERS:
            lines += [f"(first {_MAX_TABLE_SPEAKERS} of {len(speakers)} speakers; all in findings.json)", ""]
    if figures:
        lines += ["## Figures", "", "![durations](duration_histogram.png)", ""]
        if speakers and emotions:
            lines += ["![speaker x emotion](speaker_emotion.png)", ""]
    return "\n".join(lines)


def write_check_report(result: CorpusCheck, output_dir: str | os.PathLike, *, title: str = "") -> Path:
    """Write ``report.md``, ``findings.json`` and the figures into ``output_dir``; returns the report's path."""
    output_dir = Path(output_dir)
    facts = result.facts
    plot_durations(facts.get("durations", []), output_dir / "duration_histogram.png", title=title)
    if facts.get("speakers") and facts.get("emotions"):
        plot_speaker_emotion(
            facts["speaker_emotion"],
            facts["speakers"],
            facts["emotions"],
            output_dir / "speaker_emotion.png",
            title=title,
        )
    atomic_write_json(
        output_dir / "findings.json",
        {
            "title": title,
            "exit_code": result.exit_code,
            "findings": [f.to_dict() for f in result.findings],
            "speakers": facts.get("speakers", []),
            "emotions": facts.get("emotions", []),
            "speaker_emotion": facts.get("speaker_emotion", []),
        },
    )
    report = output_dir / "report.md"
    atomic_write_text(report, format_check_report(result, title=title) + "\n")
    return report
