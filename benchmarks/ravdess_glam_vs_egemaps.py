"""GLAM against the classical eGeMAPS + linear SVM reference on RAVDESS, same speaker-independent folds, one run.

Run by hand (never part of the tests); it takes a while on CPU:

    python benchmarks/ravdess_glam_vs_egemaps.py --out runs/bench_ravdess --glam-epochs 50 --seeds 0 1 2
    python benchmarks/ravdess_glam_vs_egemaps.py --out runs/quick --glam-epochs 10 --folds 0 1 --seeds 0

Both recipes use RAVDESS speech, 8 emotions, 6 folds of 4 actors as test with 4 other actors as validation
(recipes/glam/ravdess_glam.yaml and recipes/baselines/ravdess_egemaps_linear_svm.yaml). It prints UA / WA /
macro-F1 as mean ± std for both, the wall time of each, and writes both run folders under --out.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from serkit.evaluation.report import compare_summaries
from serkit.recipe import load_experiment
from serkit.training.runner import run_experiment

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("runs/bench_ravdess"))
    parser.add_argument("--root", default="../shared/data/ravdess", help="RAVDESS folder")
    parser.add_argument("--glam-epochs", type=int, default=50)
    parser.add_argument("--folds", type=int, nargs="*", default=[], help="fold indices (default: all 6)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    parser.add_argument("--cache-dir", default="", help="shared feature cache folder")
    parser.add_argument(
        "--glam-set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra override of the GLAM recipe, e.g. input.hop=0.4 (say so when you report)",
    )
    args = parser.parse_args()

    common = [
        f"corpus.root={args.root}",
        f"protocol.folds={list(args.folds)}",
        f"train.threads={args.threads}",
        "train.progress=false",
    ]
    if args.cache_dir:
        common.append(f"cache_dir={args.cache_dir}")
    runs = {
        "egemaps_linear_svm": load_experiment(
            RECIPES / "baselines" / "ravdess_egemaps_linear_svm.yaml", [*common, "seeds=[0]"]
        ),
        "glam": load_experiment(
            RECIPES / "glam" / "ravdess_glam.yaml",
            [*common, f"seeds={list(args.seeds)}", f"train.epochs={args.glam_epochs}", *args.glam_set],
        ),
    }
    summaries, names = [], []
    for name, config in runs.items():
        start = time.perf_counter()
        summary = run_experiment(config, args.out / name)
        elapsed = time.perf_counter() - start
        print(
            f"{name}: {summary['n_runs']} runs ({len(summary['folds'])} folds x {len(summary['seeds'])} seeds) "
            f"in {elapsed / 60:.1f} min (finished runs found in {args.out / name} are skipped, not retimed)"
        )
        summaries.append(summary)
        names.append(name)
    print()
    print(compare_summaries(summaries, names))


if __name__ == "__main__":
    main()
