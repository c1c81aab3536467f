"""Corpus statistics (``serkit corpus stats``): counts per emotion, speaker, session and gender, hours, duplicates.

:func:`corpus_stats` returns plain JSON-serialisable data (``--json``); :func:`format_stats` renders it as
Markdown tables that also read well in a terminal. :func:`format_table` is the table helper shared with the
fold descriptions.

Example:
    >>> from serkit.data.utterance import Utterance
    >>> stats = corpus_stats([Utterance(id="a", path="a.wav", speaker="s1", emotion="sad", duration=2.0)])
    >>> stats["utterances"], stats["emotions"], stats["duration"]["total_s"]
    (1, {'sad': 1}, 2.0)
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from serkit.data.utterance import CANONICAL_EMOTIONS, Utterance

__all__ = ["corpus_stats", "format_stats", "format_table", "natural_key"]

_NONE = "(none)"  # shown for an empty emotion / speaker / gender
_MAX_SPEAKER_ROWS = 60  # beyond this the speaker table is cut (the JSON output has them all)
_NUMBER = re.compile(r"^-?\d+(\.\d+)?%?$")  # cells of this form are right-aligned in tables


def natural_key(text: str) -> list:
    """Sort key that orders ``Actor_2`` before ``Actor_10`` (shared with the split protocols)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def _emotion_order(emotions: set[str]) -> list[str]:
    """Canonical order first (neutral, happy, ...), then anything else alphabetically."""
    canonical = [e for e in CANONICAL_EMOTIONS if e in emotions]
    return canonical + sorted(emotions - set(canonical))


def corpus_stats(utterances: Sequence[Utterance]) -> dict[str, Any]:
    """Counts and durations of a list of utterances, as plain JSON-serialisable data.

    Returns:
        A dict with ``utterances``, ``corpora``, ``duration`` (``total_s``, ``hours``, ``min_s``, ``mean_s``,
        ``max_s``, ``missing`` = utterances without a duration), ``emotions``, ``genders`` (utterances and
        speakers per gender), ``speakers`` (gender, utterances, seconds and emotion counts per speaker),
        ``sessions`` (utterances and speakers per session; empty when the corpus has none), ``splits`` (counts of
        ``extra["split"]`` where present) and ``duplicate_content`` (groups of ids sharing a content hash, plus
        the number of utterances without a hash).
    """
    durations = [u.duration for u in utterances if u.duration is not None]
    total = float(sum(durations))
    duration = {
        "total_s": round(total, 3),
        "hours": round(total / 3600, 4),
        "min_s": round(min(durations), 3) if durations else None,
        "mean_s": round(total / len(durations), 3) if durations else None,
        "max_s": round(max(durations), 3) if durations else None,
        "missing": len(utterances) - len(durations),
    }

    emotions = Counter(u.emotion or _NONE for u in utterances)
    speakers: dict[str, dict[str, Any]] = {}
    speaker_genders: dict[str, set[str]] = defaultdict(set)
    for utt in utterances:
        name = utt.speaker or _NONE
        entry = speakers.setdefault(
            name, {"gender": "", "utterances": 0, "seconds": 0.0, "emotions": Counter()}
        )
        entry["utterances"] += 1
        entry["seconds"] += utt.duration or 0.0
        entry["emotions"][utt.emotion or _NONE] += 1
        if utt.gender:
            speaker_genders[name].add(utt.gender)
    for name, entry in speakers.items():
        genders = speaker_genders[name]
        # A speaker recorded with two genders is a manifest error worth seeing, so show both.
        entry["gender"] = "/".join(sorted(genders))
        entry["seconds"] = round(entry["seconds"], 3)
        entry["emotions"] = {e: entry["emotions"][e] for e in _emotion_order(set(entry["emotions"]))}

    genders: dict[str, dict[str, int]] = {}
    for utt in utterances:
        entry = genders.setdefault(utt.gender or _NONE, {"utterances": 0, "speakers": 0})
        entry["utterances"] += 1
    for gender in genders:
        genders[gender]["speakers"] = len({u.speaker for u in utterances if (u.gender or _NONE) == gender})

    sessions: dict[str, dict[str, int]] = {}
    if any(u.session for u in utterances):
        members: dict[str, set[str]] = defaultdict(set)
        counts = Counter(u.session or _NONE for u in utterances)
        for utt in utterances:
            members[utt.session or _NONE].add(utt.speaker)
        sessions = {
            s: {"utterances": counts[s], "speakers": len(members[s])} for s in sorted(counts, key=natural_key)
        }

    by_hash: dict[str, list[str]] = defaultdict(list)
    for utt in utterances:
        if utt.content_hash:
            by_hash[utt.content_hash].append(utt.id)
    duplicates = sorted(sorted(ids) for ids in by_hash.values() if len(ids) > 1)
    splits = Counter(u.extra.get("split", "") for u in utterances if u.extra.get("split", ""))

    return {
        "utterances": len(utterances),
        "corpora": dict(sorted(Counter(u.corpus for u in utterances if u.corpus).items())),
        "duration": duration,
        "emotions": {e: emotions[e] for e in _emotion_order(set(emotions))},
        "genders": dict(sorted(genders.items())),
        "speakers": {s: speakers[s] for s in sorted(speakers, key=natural_key)},
        "sessions": sessions,
        "splits": dict(sorted(splits.items())),
        "duplicate_content": {
            "groups": duplicates,
            "without_hash": len(utterances) - sum(map(len, by_hash.values())),
        },
    }


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table with padded columns; columns of numbers (or percentages) are right-aligned.

    Example:
        >>> print(format_table(["name", "n"], [["a", 1], ["bb", 22]]))
        | name |  n |
        |------|---:|
        | a    |  1 |
        | bb   | 22 |
    """
    text = [[str(cell) for cell in row] for row in rows]
    numeric = [bool(rows) and all(_NUMBER.match(row[i]) for row in text) for i in range(len(headers))]
    widths = [max([len(h)] + [len(row[i]) for row in text]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        padded = [c.rjust(w) if num else c.ljust(w) for c, w, num in zip(cells, widths, numeric)]
        return "| " + " | ".join(padded) + " |"

    rule = (
        "|" + "|".join("-" * (w + 1) + ":" if num else "-" * (w + 2) for w, num in zip(widths, numeric)) + "|"
    )
    return "\n".join([line(headers), rule, *(line(row) for row in text)])


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def format_stats(stats: dict[str, Any]) -> str:
    """Render :func:`corpus_stats` output as Markdown sections and tables."""
    duration = stats["duration"]
    lines = [
        "## Corpus",
        "",
        f"utterances: {stats['utterances']}"
        + (
            f"  (corpus: {', '.join(f'{k} {v}' for k, v in stats['corpora'].items())})"
            if stats["corpora"]
            else ""
        ),
        f"duration: {duration['hours']:.3f} h ({duration['total_s']:.1f} s); per utterance min "
        f"{_seconds(duration['min_s'])} s, mean {_seconds(duration['mean_s'])} s, max {_seconds(duration['max_s'])} s"
        + (f"; {duration['missing']} utterance(s) without a duration" if duration["missing"] else ""),
        "",
        "## Emotions",
        "",
        format_table(
            ["emotion", "utterances", "share"],
            [[e, n, f"{100 * n / max(stats['utterances'], 1):.1f}%"] for e, n in stats["emotions"].items()],
        ),
        "",
        "## Genders",
        "",
        format_table(
            ["gender", "utterances", "speakers"],
            [[g, v["utterances"], v["speakers"]] for g, v in stats["genders"].items()],
        ),
    ]

    speakers = stats["speakers"]
    emotions = list(stats["emotions"])
    rows = [
        [
            name,
            entry["gender"] or "-",
            entry["utterances"],
            f"{entry['seconds'] / 60:.1f}",
            *(entry["emotions"].get(e, 0) for e in emotions),
        ]
        for name, entry in list(speakers.items())[:_MAX_SPEAKER_ROWS]
    ]
    lines += [
        "",
        f"## Speakers ({len(speakers)})",
        "",
        format_table(["speaker", "gender", "utterances", "minutes", *emotions], rows),
    ]
    if len(speakers) > _MAX_SPEAKER_ROWS:
        lines.append(f"... {len(speakers) - _MAX_SPEAKER_ROWS} more speakers (see --json)")

    if stats["sessions"]:
        lines += [
            "",
            f"## Sessions ({len(stats['sessions'])})",
            "",
            format_table(
                ["session", "utterances", "speakers"],
                [[s, v["utterances"], v["speakers"]] for s, v in stats["sessions"].items()],
            ),
        ]
    if stats["splits"]:
        lines += [
            "",
            "## Official splits",
            "",
            format_table(["split", "utterances"], [[s, n] for s, n in stats["splits"].items()]),
        ]

    duplicates = stats["duplicate_content"]
    lines += ["", "## Identical audio", ""]
    if duplicates["groups"]:
        lines.append(
            f"{len(duplicates['groups'])} group(s) of byte-identical files (kept on one side of every split):"
        )
        lines += [f"- {', '.join(group)}" for group in duplicates["groups"]]
    else:
        lines.append("no byte-identical files found.")
    if duplicates["without_hash"]:
        lines.append(
            f"{duplicates['without_hash']} utterance(s) have no content hash, so duplicates among them are "
            "not detected; `serkit corpus prepare` fills hashes unless --no-hash is given."
        )
    return "\n".join(lines)
