"""RAVDESS ablation table: the recommended recipe with each technique on and off, beside the classical rows.

Every row is one ``serkit train`` command on the same 6 speaker-independent folds (RAVDESS speech, 8 emotions,
``speaker_groups`` of 4 actors, validation = the next group), run from the command line exactly as a user would,
and the table reports mean ± std over the folds (and seeds) of UA, WA and macro-F1 from its summary.json, the
wall time of the command and the command itself. Rows that normalise the test speakers with their own audio are
marked TRANSDUCTIVE (their summary says so too).

Not part of the test suite; run by hand (hours on 2 cores; finished rows are skipped, interrupted ones resume):

    python benchmarks/ravdess_ablation.py --out runs/ravdess_ablation              # every row
    python benchmarks/ravdess_ablation.py --out runs/ravdess_ablation --rows svm   # rows whose name has "svm"
    python benchmarks/ravdess_ablation.py --out runs/ravdess_ablation --rows recommended  # only that row (exact)
    python benchmarks/ravdess_ablation.py --out runs/ravdess_ablation --table      # only print the table
    python benchmarks/ravdess_ablation.py --list                                   # the rows and their commands

``--set KEY=VALUE`` is passed to every row (e.g. ``--set corpus.root=/data/RAVDESS``); ``--jobs N`` too.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RAVDESS = REPO.parent / "shared" / "data" / "ravdess"


@dataclass(frozen=True)
class Row:
    """One line of the table: a recipe (relative to the repository) and its overrides."""

    name: str
    recipe: str
    overrides: tuple[str, ...] = ()

    @property
    def slug(self) -> str:
        return re.sub(r"[^a-z0-9]+", "_", self.name.lower()).strip("_")

    def command(self, out: Path, extra: list[str], jobs: int | None) -> list[str]:
        sets = [item for value in (*self.overrides, *extra) for item in ("--set", value)]
        jobs_args = ["--jobs", str(jobs)] if jobs is not None else []
        return ["serkit", "train", str(REPO / self.recipe), "--out", str(out / self.slug), *sets, *jobs_args]


RECOMMENDED = "recipes/recommended/ravdess.yaml"
CLASSICAL_SPEAKER = ("input.normalize=speaker", "input.transductive=true")

#: The rows, in table order. "without X" rows switch one technique of the recommended recipe off.
ROWS: tuple[Row, ...] = (
    Row("eGeMAPS + linear SVM", "recipes/baselines/ravdess_egemaps_linear_svm.yaml"),
    Row("eGeMAPS + RBF SVM", "recipes/baselines/ravdess_egemaps_rbf_svm.yaml"),
    Row("ComParE + linear SVM", "recipes/baselines/ravdess_compare_linear_svm.yaml"),
    Row("ComParE + RBF SVM", "recipes/baselines/ravdess_compare_rbf_svm.yaml"),
    Row(
        "ComParE + RBF SVM, per-speaker norm (TRANSDUCTIVE)",
        "recipes/baselines/ravdess_compare_rbf_svm.yaml",
        CLASSICAL_SPEAKER,
    ),
    Row(
        "ComParE + linear SVM, per-speaker norm (TRANSDUCTIVE)",
        "recipes/baselines/ravdess_compare_linear_svm.yaml",
        CLASSICAL_SPEAKER,
    ),
    Row("recommended", RECOMMENDED),
    Row("recommended without per-utterance norm", RECOMMENDED, ("input.normalize=none",)),
    Row("recommended without EMA", RECOMMENDED, ("train.ema_decay=0",)),
    Row(
        "recommended without SpecAugment", RECOMMENDED, ("train.spec_time_masks=0", "train.spec_freq_masks=0")
    ),
    Row("recommended without label smoothing", RECOMMENDED, ("train.label_smoothing=0",)),
    Row(
        "recommended, per-speaker norm (TRANSDUCTIVE)",
        RECOMMENDED,
        ("input.normalize=speaker", "input.transductive=true"),
    ),
    Row(
        "GLAM as ported (raw MFCC, 50 epochs, hop 0.2 s, 3 seeds)",
        "recipes/glam/ravdess_glam.yaml",
    ),
    Row("DCNN-BLSTMwA", "recipes/dcnn/ravdess_dcnn_blstm.yaml"),
    Row("cnn_small", "recipes/baselines/ravdess_cnn_small.yaml"),
    Row(
        "cnn_small with the recommended options",  # those of recipes/recommended/ravdess.yaml that apply
        "recipes/baselines/ravdess_cnn_small.yaml",
        (
            *("input.hop=0.4", "input.eval_hop=0.4", "input.normalize=utterance", "seeds=[0]"),
            *("train.label_smoothing=0.1", "train.ema_decay=0.998", "train.early_stopping=0"),
            *("train.spec_time_masks=2", "train.spec_freq_masks=2", "train.spec_freq_width=3"),
        ),
    ),
)


def _percent(stats: dict) -> str:
    if stats.get("mean") is None:
        return "-"
    return f"{100 * stats['mean']:.1f} ± {100 * (stats.get('std') or 0.0):.1f}"


def _wall(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"


def run_row(row: Row, out: Path, extra: list[str], jobs: int | None) -> None:
    """Train one row (resuming a half-finished one); its command's wall time goes to ablation_wall.json."""
    command = row.command(out, extra, jobs)
    folder = out / row.slug
    record = folder / "ablation_wall.json"
    if (folder / "summary.json").is_file() and record.is_file():
        print(f"[done] {row.name}")
        return
    print(f"[run] {row.name}: {shlex.join(command)}", flush=True)
    folder.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with (folder / "ablation.log").open("a", encoding="utf-8") as log:
        subprocess.run(command, check=True, stdout=log, stderr=subprocess.STDOUT)
    previous = json.loads(record.read_text()) if record.is_file() else {"wall_seconds": 0.0}
    record.write_text(
        json.dumps(
            {"wall_seconds": previous["wall_seconds"] + time.monotonic() - started, "command": command}
        )
    )


def table(rows: list[Row], out: Path, extra: list[str], jobs: int | None) -> str:
    lines = [
        "| row | UA % | WA % | macro-F1 % | runs | transductive | wall time | command |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        folder = out / row.slug
        summary_path = folder / "summary.json"
        command = shlex.join(row.command(Path("OUT"), extra, jobs)).replace(str(REPO) + "/", "")
        if not summary_path.is_file():
            lines.append(f"| {row.name} | not run | | | | | | `{command}` |")
            continue
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        metrics = summary["metrics"]
        wall = folder / "ablation_wall.json"
        seconds = json.loads(wall.read_text())["wall_seconds"] if wall.is_file() else None
        lines.append(
            f"| {row.name} | {_percent(metrics['ua'])} | {_percent(metrics['wa'])} | "
            f"{_percent(metrics['macro_f1'])} | {summary['n_runs']} | "
            f"{'YES' if summary.get('transductive') else 'no'} | {_wall(seconds)} | `{command}` |"
        )
    return "\n".join(lines) + "\n"


def select_rows(filters: list[str]) -> list[Row]:
    """Rows whose name contains a filter (case-insensitive); a filter equal to a row's whole name picks only it."""
    names = {row.name.lower() for row in ROWS}
    exact = {k.lower() for k in filters if k.lower() in names}
    partial = [k.lower() for k in filters if k.lower() not in names]
    return [
        row
        for row in ROWS
        if not filters or row.name.lower() in exact or any(k in row.name.lower() for k in partial)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("runs/ravdess_ablation"), help="one folder per row")
    parser.add_argument(
        "--rows",
        nargs="*",
        default=[],
        help="rows whose name contains one of these (a whole name: only that row)",
    )
    parser.add_argument("--set", dest="extra", action="append", default=[], help="KEY=VALUE for every row")
    parser.add_argument("--jobs", type=int, default=None, help="passed to serkit train")
    parser.add_argument(
        "--table", action="store_true", help="print the table of finished rows, train nothing"
    )
    parser.add_argument("--list", action="store_true", help="print the rows and their commands")
    args = parser.parse_args()
    if not any(item.startswith("corpus.root=") for item in args.extra):
        if not RAVDESS.is_dir():
            sys.exit(f"RAVDESS not found at {RAVDESS}; pass --set corpus.root=/path/to/RAVDESS.")
        args.extra.insert(0, f"corpus.root={RAVDESS}")
    rows = select_rows(args.rows)
    if args.list:
        for row in rows:
            print(f"{row.name}\n  {shlex.join(row.command(args.out, args.extra, args.jobs))}")
        return
    if not args.table:
        for row in rows:
            run_row(row, args.out, args.extra, args.jobs)
    text = table(rows, args.out, args.extra, args.jobs)
    (args.out).mkdir(parents=True, exist_ok=True)
    (args.out / "ablation.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
