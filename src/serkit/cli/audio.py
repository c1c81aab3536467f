"""``serkit audio resample | normalize``: audio tools that mirror a folder tree into a new one."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from serkit.cli.paths import CorpusPath, OutputTree

if TYPE_CHECKING:
    from serkit.audio.tools import TreeReport

__all__ = ["add_commands"]


def _print_tree_report(report: TreeReport, what: str) -> int:
    print(f"{what}: {report.done} written, {report.skipped} already done, {len(report.failed)} failed")
    for path, message in report.failed:
        print(f"  FAILED {path}: {message}", file=sys.stderr)
    return 1 if report.failed else 0


def _cmd_resample(args: argparse.Namespace) -> int:
    from serkit.audio.tools import resample_tree

    report = resample_tree(args.src, args.dst, sample_rate=args.sr, progress=not args.quiet)
    return _print_tree_report(report, f"resample to {args.sr} Hz")


def _cmd_normalize(args: argparse.Namespace) -> int:
    from serkit.audio.tools import normalize_tree

    report = normalize_tree(args.src, args.dst, peak=args.peak, progress=not args.quiet)
    return _print_tree_report(report, f"peak-normalise to {args.peak}")


def add_commands(commands: argparse._SubParsersAction) -> None:
    audio = commands.add_parser("audio", help="audio tools that mirror a folder tree")
    audio_cmds = audio.add_subparsers(dest="audio_command", required=True)
    resample = audio_cmds.add_parser("resample", help="resample every audio file of SRC into DST")
    resample.add_argument("src", type=CorpusPath)
    resample.add_argument("dst", type=OutputTree)
    resample.add_argument("--sr", type=int, default=16000, help="target sample rate (Hz)")
    resample.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    resample.set_defaults(func=_cmd_resample)
    normalize = audio_cmds.add_parser("normalize", help="peak-normalise every audio file of SRC into DST")
    normalize.add_argument("src", type=CorpusPath)
    normalize.add_argument("dst", type=OutputTree)
    normalize.add_argument("--peak", type=float, default=1.0, help="target peak |x| (0 < peak <= 1)")
    normalize.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    normalize.set_defaults(func=_cmd_normalize)
