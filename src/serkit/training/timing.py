"""Where a (fold, seed) run's time went: ``timing.json`` beside its ``metrics.json``.

``timing.json`` is kept apart from ``metrics.json`` so that ``metrics.json`` stays the same in every rerun of a
recipe. It holds ``wall_seconds`` and ``cpu_seconds`` (``time.process_time`` of the process that ran the run: all
its threads, but not DataLoader worker processes; with runs in worker processes, each run counts the CPU time of
its own worker only), ``features_seconds`` (features computed during this run: the first run computes, or reads
from the cache, those of every run), ``train_seconds`` and ``eval_seconds`` (sums over the epochs of
``history.json``), ``final_eval_seconds`` (test and validation outputs of the selected weights). A multi-stage run
sums its stages and lists each under ``stages``. Wall and CPU time count from the (re)start of the last call that
worked on the run; the history sums also count the epochs before an interruption.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["RunClock", "with_timings"]

#: The parts of a run's time in ``timing.json`` beside its wall and CPU time (seconds).
_TIME_PARTS = ("features_seconds", "train_seconds", "eval_seconds", "final_eval_seconds")


@dataclass
class RunClock:
    """Wall and CPU time of one stage of one (fold, seed) since the clock was made, with named parts and the
    ``timing.json`` of finished earlier stages (``earlier``: stage name -> timing)."""

    wall: float = field(default_factory=time.monotonic)
    cpu: float = field(default_factory=time.process_time)
    parts: dict[str, float] = field(default_factory=dict)
    earlier: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, part: str, seconds: float) -> None:
        self.parts[part] = self.parts.get(part, 0.0) + seconds

    def timing(self) -> dict[str, Any]:
        """What ``timing.json`` holds: this stage's time plus the earlier stages', rounded to the millisecond."""
        own = {
            "wall_seconds": time.monotonic() - self.wall,
            "cpu_seconds": time.process_time() - self.cpu,
            **{part: self.parts.get(part, 0.0) for part in _TIME_PARTS},
        }
        total = {
            key: value + sum(t.get(key, 0.0) for t in self.earlier.values()) for key, value in own.items()
        }
        timing: dict[str, Any] = {key: round(value, 3) for key, value in total.items()}
        if self.earlier:
            timing["stages"] = {**self.earlier, "final": {key: round(value, 3) for key, value in own.items()}}
        return timing


def with_timings(records: list[dict[str, Any]], runs_dir: Path) -> list[dict[str, Any]]:
    """The runs' records with ``timing`` from ``runs_dir/<fold>/seed<seed>/timing.json`` where it exists (a run
    finished before serkit wrote timings has none)."""
    timed = []
    for record in records:
        path = Path(runs_dir) / str(record["fold"]) / f"seed{record['seed']}" / "timing.json"
        timing = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
        timed.append({**record, "timing": timing} if timing is not None else record)
    return timed
