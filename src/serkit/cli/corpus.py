"""``serkit corpus list | prepare | stats | check | folds``: corpus loaders, manifests, statistics, checks and split
protocols."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from serkit.cli.paths import CorpusPath, ManifestPath, OutputPath

if TYPE_CHECKING:
    from serkit.data.utterance import Utterance

__all__ = ["add_commands"]


def _cmd_list(args: argparse.Namespace) -> int:
    import inspect

    from serkit.core.options import option_names
    from serkit.data.corpora import CORPORA

    for name in CORPORA.names():
        loader = CORPORA.get(name)
        module_doc = inspect.getdoc(sys.modules[loader.__module__]) or ""
        # a module that registers several corpora (generic lists) describes each in the loader's docstring
        shared = sum(CORPORA.get(other).__module__ == loader.__module__ for other in CORPORA.names()) > 1
        doc = (inspect.getdoc(loader) or "") if shared else module_doc
        summary = doc.splitlines()[0] if doc else ""
        options = ", ".join(option_names(loader))
        print(f"{name:<16} {summary}")
        if args.verbose:
            print(f"{'':<16} options: {options or '(none)'}")
            print("\n".join(f"{'':<16} {line}" for line in module_doc.splitlines()[1:] if line.strip()))
            print()
    return 0


def _load_labelled(args: argparse.Namespace) -> list[Utterance]:
    """Corpus utterances after the optional --labels/--merge filter (what was left out is printed to stderr)."""
    from serkit.core.options import parse_key_values
    from serkit.data.corpora import load_corpus
    from serkit.data.labels import apply_label_set, parse_label_set

    utterances = load_corpus(
        args.name,
        args.root,
        options=parse_key_values(args.opt),
        durations=not args.no_durations,
        content_hashes=not args.no_hash,
        skip_unreadable=args.skip_unreadable,
    )
    if args.labels:
        label_set = parse_label_set(args.labels, parse_key_values(args.merge, what="--merge"))
        utterances, left_out = apply_label_set(utterances, label_set)
        if left_out:
            print(
                f"label set {list(label_set.labels)}: left out "
                + ", ".join(f"{k} {v}" for k, v in sorted(left_out.items())),
                file=sys.stderr,
            )
    return utterances


def _cmd_prepare(args: argparse.Namespace) -> int:
    from collections import Counter

    from serkit.data.protocols import choose_protocol
    from serkit.data.utterance import write_manifest

    utterances = _load_labelled(args)
    path = write_manifest(utterances, args.output, relative=not args.absolute)
    hours = sum(u.duration or 0.0 for u in utterances) / 3600
    speakers = {u.speaker for u in utterances if u.speaker}
    print(f"wrote {path}: {len(utterances)} utterances, {len(speakers)} speakers, {hours:.3f} h")
    emotions = Counter(u.emotion or "(none)" for u in utterances)
    print("emotions: " + ", ".join(f"{emotion} {count}" for emotion, count in emotions.most_common()))
    if speakers and all(u.speaker for u in utterances):
        protocol, options, warnings = choose_protocol(utterances)
        print(f"protocol auto (recipes with protocol.name: auto) -> {protocol} {options}")
        for warning in warnings:
            print(f"warning: {warning}", file=sys.stderr)
    return 0


def _cmd_stats(args: argparse.Namespace) -> int:
    from serkit.data.stats import corpus_stats, format_stats
    from serkit.data.utterance import read_manifest

    stats = corpus_stats(read_manifest(args.manifest))
    if args.json:
        import json

        print(json.dumps(stats, indent=2, ensure_ascii=False))
    else:
        print(format_stats(stats))
    return 0


def _corpus_or_manifest(text: str) -> Path | str:
    """``check``'s first argument: a manifest CSV, a corpus folder (holding manifest.csv), or a corpus name."""
    path = Path(text)
    if path.is_dir():
        return CorpusPath(text)
    if path.is_file() or path.suffix.lower() == ".csv":
        return ManifestPath(text)
    return text


def _cmd_check(args: argparse.Namespace) -> int:
    from serkit.core.errors import ManifestError, SerkitError
    from serkit.core.fileio import check_outputs, corpus_folder
    from serkit.core.options import parse_key_values
    from serkit.data.check import check_corpus
    from serkit.data.labels import apply_label_set, parse_label_set
    from serkit.data.utterance import read_manifest
    from serkit.evaluation.corpus_report import write_check_report

    target = args.corpus
    if args.root is not None:  # NAME ROOT, read by the corpus loader
        args.name, args.no_durations, args.no_hash, args.skip_unreadable = str(target), True, True, False
        utterances, title = _load_labelled(args), f"{target} ({args.root})"
    else:
        manifest = Path(target) / "manifest.csv" if isinstance(target, CorpusPath) else Path(target)
        if isinstance(target, str) or not manifest.is_file():
            raise SerkitError(
                f"{target}: not a manifest CSV nor a folder holding manifest.csv; give a manifest, or the corpus "
                f"name and its folder (`serkit corpus check NAME ROOT`, names: `serkit corpus list`)."
            )
        try:
            utterances, title = read_manifest(manifest), str(manifest)
        except ManifestError as exc:  # e.g. a list of the user's own recordings (path, speaker, emotion)
            raise ManifestError(
                f"{exc} A list of your own recordings is read by `serkit corpus check recordings {target}`."
            ) from None
        # a manifest at the top of its corpus (audio below it): the report may not go into that folder either
        if any(
            Path(folder).is_relative_to(manifest.parent.resolve())
            for folder in corpus_folder(u.path for u in utterances)
        ):
            check_outputs([args.output], read_folders=[manifest.parent])
        if args.labels:
            label_set = parse_label_set(args.labels, parse_key_values(args.merge, what="--merge"))
            utterances, _ = apply_label_set(utterances, label_set)
    result = check_corpus(utterances, audio=not args.no_audio)
    report = write_check_report(result, args.output, title=args.title or title)
    for finding in result.problems():
        print(f"[{finding.level}] {finding.id}: {finding.message}")
        if finding.fix:
            print(f"    fix: {finding.fix}")
    verdict = ("clean", "warnings", "errors")[result.exit_code]
    print(
        f"{verdict} (exit code {result.exit_code}); wrote {report} and findings.json, figures in {args.output}"
    )
    return result.exit_code


def _cmd_folds(args: argparse.Namespace) -> int:
    from serkit.core.options import parse_key_values
    from serkit.data.check import precheck
    from serkit.data.protocols import choose_protocol, describe_folds, make_folds, write_folds
    from serkit.data.utterance import read_manifest

    utterances = read_manifest(args.manifest)
    precheck(utterances, strict=args.strict, where="corpus folds")
    options = parse_key_values(args.opt)
    protocol = args.protocol
    if protocol == "auto":
        protocol, chosen, warnings = choose_protocol(utterances)
        options = {**chosen, **options}
        print(f"protocol auto -> {protocol} {options}")
        for warning in warnings:
            print(f"warning: {warning}", file=sys.stderr)
    folds = make_folds(utterances, protocol, seed=args.seed, options=options)
    write_folds(
        folds, args.output, protocol=protocol, seed=args.seed, manifest=str(args.manifest), options=options
    )
    print(describe_folds(folds, utterances))
    print(f"wrote {args.output}")
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    corpus = commands.add_parser("corpus", help="corpus loaders, manifests, statistics, folds")
    corpus_cmds = corpus.add_subparsers(dest="corpus_command", required=True)

    listing = corpus_cmds.add_parser("list", help="registered corpora (with --verbose: layout and options)")
    listing.add_argument("--verbose", action="store_true")
    listing.set_defaults(func=_cmd_list)

    prepare = corpus_cmds.add_parser("prepare", help="read a corpus folder and write a manifest CSV")
    prepare.add_argument("name", help="corpus name (see `serkit corpus list`)")
    prepare.add_argument("root", type=CorpusPath, help="corpus folder (or list file for generic lists)")
    prepare.add_argument("-o", "--output", type=OutputPath, required=True, help="manifest CSV to write")
    prepare.add_argument("--opt", action="append", metavar="KEY=VALUE", help="loader option (repeatable)")
    prepare.add_argument(
        "--labels", help="label set name (e.g. iemocap_4class) or comma list of emotions to keep"
    )
    prepare.add_argument("--merge", action="append", metavar="FROM=TO", help="merge an emotion into another")
    prepare.add_argument(
        "--no-hash", action="store_true", help="do not hash file contents (duplicate detection)"
    )
    prepare.add_argument(
        "--no-durations",
        action="store_true",
        help="do not read audio headers (text-only use, e.g. MELD with --opt missing_audio=keep)",
    )
    prepare.add_argument(
        "--skip-unreadable", action="store_true", help="leave unreadable files out with a warning"
    )
    prepare.add_argument("--absolute", action="store_true", help="write absolute audio paths")
    prepare.set_defaults(func=_cmd_prepare)

    stats = corpus_cmds.add_parser("stats", help="counts per emotion, speaker, session; hours")
    stats.add_argument("manifest", type=ManifestPath)
    stats.add_argument("--json", action="store_true", help="print JSON instead of tables")
    stats.set_defaults(func=_cmd_stats)

    check = corpus_cmds.add_parser(
        "check",
        help="find the traps that inflate results (speaker/emotion confounding, duplicates, clipping, ...); "
        "exit code 0 clean, 1 warnings, 2 errors",
    )
    check.add_argument(
        "corpus",
        type=_corpus_or_manifest,
        metavar="CORPUS_OR_MANIFEST",
        help="a manifest CSV, a folder holding manifest.csv, or a corpus name followed by ROOT",
    )
    check.add_argument(
        "root", type=CorpusPath, nargs="?", help="corpus folder, when the first argument is a name"
    )
    check.add_argument(
        "-o",
        "--output",
        type=OutputPath,
        default="corpus_check",
        help="report folder (default: corpus_check)",
    )
    check.add_argument("--no-audio", action="store_true", help="metadata and file headers only (fast)")
    check.add_argument("--opt", action="append", metavar="KEY=VALUE", help="loader option (repeatable)")
    check.add_argument("--labels", help="label set name or comma list of emotions to keep")
    check.add_argument("--merge", action="append", metavar="FROM=TO", help="merge an emotion into another")
    check.add_argument("--title", default="", help="report title (default: the manifest or corpus)")
    check.set_defaults(func=_cmd_check)

    folds = corpus_cmds.add_parser("folds", help="split a manifest into train/validation/test folds")
    folds.add_argument("manifest", type=ManifestPath)
    folds.add_argument(
        "--protocol",
        required=True,
        help="protocol name, or auto: chosen from the number of speakers (see the README)",
    )
    folds.add_argument("--seed", type=int, default=0)
    folds.add_argument("--opt", action="append", metavar="KEY=VALUE", help="protocol option (repeatable)")
    folds.add_argument("-o", "--output", type=OutputPath, required=True, help="folds JSON to write")
    folds.add_argument(
        "--strict",
        action="store_true",
        help="refuse a corpus whose metadata checks warn (see `corpus check`)",
    )
    folds.set_defaults(func=_cmd_folds)
