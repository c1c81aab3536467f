"""``serkit ensemble``: average the logits of the best runs (MAT/MNT's checkpoint ensembling), chosen on validation."""

from __future__ import annotations

import argparse

from serkit.cli.paths import InputPath, OutputPath

__all__ = ["add_commands"]


def _cmd_ensemble(args: argparse.Namespace) -> int:
    from serkit.training.ensemble import format_ensemble, run_ensemble

    record = run_ensemble(
        args.run_dirs,
        out_dir=args.out,
        metric=args.metric,
        top_k=args.top_k,
        select_on_test=args.select_on_test,
        combine=args.combine,
    )
    print(format_ensemble(record))
    print(f"wrote {record['out_dir']}/ensemble.md and ensemble.json")
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    ensemble = commands.add_parser(
        "ensemble",
        help="average the logits of the best runs; ensemble size chosen on validation",
        description="Rank finished runs (seeds of one recipe) by their validation score, average the logits of the "
        "top K, choose K on validation (or fix it with --top-k) and report the test set.",
    )
    ensemble.add_argument(
        "run_dirs",
        type=InputPath,
        nargs="+",
        help="run folders (runs/<fold>/seed<k>, with outputs.npz) or experiment folders",
    )
    ensemble.add_argument(
        "--top-k", type=int, default=None, help="fixed ensemble size instead of choosing it"
    )
    ensemble.add_argument(
        "--metric",
        default="wa",
        help="ranking/selection score: wa (accuracy, the original's), ua, macro_f1, weighted_f1, "
        "wa_ua_mean; multi-label: macro_f1, micro_f1, weighted_f1, subset_accuracy",
    )
    ensemble.add_argument(
        "--combine",
        choices=("logits", "calibrated"),
        default="logits",
        help="logits: average raw logits (seeds of one recipe); calibrated: temperature-scale each run on its "
        "validation utterances, then average log-probabilities (runs of different recipes or families, e.g. "
        "a network and an SVM)",
    )
    ensemble.add_argument(
        "--select-on-test",
        action="store_true",
        help="choose the ensemble size on the TEST set, as the original ensembling.py did; the "
        "report then carries a test-selection warning",
    )
    ensemble.add_argument(
        "-o",
        "--out",
        type=OutputPath,
        default=None,
        help="output folder (default: <experiment folder>/ensemble)",
    )
    ensemble.set_defaults(func=_cmd_ensemble)
