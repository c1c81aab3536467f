"""The ``serkit`` command. Thin: parses arguments, calls library functions, prints results.

Errors that come from bad input (:class:`serkit.core.errors.SerkitError`, unknown names, bad options) are printed as
one line ``serkit: error: ...`` with exit code 2, operating-system errors (disk full, permissions, a folder
where a file is expected) as one line naming the path with exit code 1; ``--debug`` or ``SERKIT_DEBUG=1`` shows
the traceback. Anything else is a bug and keeps its traceback. Path arguments use the types of
:mod:`serkit.cli.paths`, so no command writes over one of its inputs.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from serkit import __version__
from serkit.cli.paths import (
    CorpusPath,
    InputPath,
    ManifestPath,
    OutputPath,
    OutputTree,
    guard_arguments,
    manifest_corpus,
)
from serkit.core.errors import SerkitError

__all__ = ["build_parser", "main"]

#: Modules that add their own sub-commands: each defines ``add_commands(commands)`` taking the sub-parsers object
#: of ``serkit`` and setting ``func`` on every parser it adds. One module per family keeps this file thin.
_COMMAND_MODULES = ("serkit.cli.config", "serkit.cli.ensemble", "serkit.cli.features", "serkit.cli.cpt")


def _cmd_corpus_list(args: argparse.Namespace) -> int:
    import inspect

    from serkit.data.corpora import CORPORA
    from serkit.core.options import option_names

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


def _load_labelled(args: argparse.Namespace):
    """Corpus utterances after the optional --labels/--merge filter, and a note on what was left out."""
    from serkit.data.corpora import load_corpus
    from serkit.data.labels import apply_label_set, parse_label_set
    from serkit.core.options import parse_key_values

    utterances = load_corpus(args.name, args.root, options=parse_key_values(args.opt),
                             durations=not args.no_durations, content_hashes=not args.no_hash,
                             skip_unreadable=args.skip_unreadable)
    if args.labels:
        label_set = parse_label_set(args.labels, parse_key_values(args.merge, what="--merge"))
        utterances, left_out = apply_label_set(utterances, label_set)
        if left_out:
            print(f"label set {list(label_set.labels)}: left out "
                  + ", ".join(f"{k} {v}" for k, v in sorted(left_out.items())), file=sys.stderr)
    return utterances


def _cmd_corpus_prepare(args: argparse.Namespace) -> int:
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


def _cmd_corpus_stats(args: argparse.Namespace) -> int:
    from serkit.data.stats import corpus_stats, format_stats
    from serkit.data.utterance import read_manifest

    stats = corpus_stats(read_manifest(args.manifest))
    if args.json:
        import json

        print(json.dumps(stats, indent=2, ensure_ascii=False))
    else:
        print(format_stats(stats))
    return 0


def _cmd_corpus_folds(args: argparse.Namespace) -> int:
    from serkit.data.protocols import choose_protocol, describe_folds, make_folds, write_folds
    from serkit.data.utterance import read_manifest
    from serkit.core.options import parse_key_values

    utterances = read_manifest(args.manifest)
    options = parse_key_values(args.opt)
    protocol = args.protocol
    if protocol == "auto":
        protocol, chosen, warnings = choose_protocol(utterances)
        options = {**chosen, **options}
        print(f"protocol auto -> {protocol} {options}")
        for warning in warnings:
            print(f"warning: {warning}", file=sys.stderr)
    folds = make_folds(utterances, protocol, seed=args.seed, options=options)
    write_folds(folds, args.output, protocol=protocol, seed=args.seed, manifest=str(args.manifest),
                options=options)
    print(describe_folds(folds, utterances))
    print(f"wrote {args.output}")
    return 0


def _print_tree_report(report, what: str) -> int:
    print(f"{what}: {report.done} written, {report.skipped} already done, {len(report.failed)} failed")
    for path, message in report.failed:
        print(f"  FAILED {path}: {message}", file=sys.stderr)
    return 1 if report.failed else 0


def _cmd_audio_resample(args: argparse.Namespace) -> int:
    from serkit.audio.tools import resample_tree

    report = resample_tree(args.src, args.dst, sample_rate=args.sr, progress=not args.quiet)
    return _print_tree_report(report, f"resample to {args.sr} Hz")


def _cmd_audio_normalize(args: argparse.Namespace) -> int:
    from serkit.audio.tools import normalize_tree

    report = normalize_tree(args.src, args.dst, peak=args.peak, progress=not args.quiet)
    return _print_tree_report(report, f"peak-normalise to {args.peak}")


def _cmd_demo(args: argparse.Namespace) -> int:
    from serkit.demo import run_demo

    return run_demo(args.output, seed=args.seed, epochs=args.epochs)


def _cmd_train(args: argparse.Namespace) -> int:
    from serkit.config import load_experiment
    from serkit.evaluation.report import format_summary
    from serkit.core.fileio import check_outputs, protect_inputs
    from serkit.training.runner import run_experiment

    config = load_experiment(args.recipe, args.set)
    output = args.out or Path("runs") / config.name
    # the recipe names further inputs: its corpus folder (or manifest) is never written into
    corpus = config.corpus
    inputs = [corpus.manifest or None]
    folders = manifest_corpus(Path(corpus.manifest)) if corpus.manifest else [corpus.root or None]
    check_outputs([output, config.cache_dir or None], inputs=inputs, read_folders=folders)
    with protect_inputs(inputs, folders):
        summary = run_experiment(config, output, restart=args.restart)
    print(format_summary(summary))
    print(f"\nrun folder: {output} (summary.md, summary.csv, summary.json, figures)")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from serkit.evaluation.report import format_summary, read_summary

    print(format_summary(read_summary(args.run_dir)))
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from serkit.evaluation.report import compare_summaries, read_summary

    print(compare_summaries([read_summary(d) for d in args.run_dirs], [str(d) for d in args.run_dirs]))
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    from serkit.models import count_parameters, create_model, list_models, model_arguments

    for name in list_models():
        defaults = {k: v for k, v in model_arguments(name).items() if k != "num_classes"}
        pretrained = defaults.get("pretrained")
        if isinstance(pretrained, str) and pretrained and not Path(pretrained).is_dir():
            # its size is that of a hub model; building it would try to download the weights
            print(f"{name:<20} {'pretrained':>14} encoder {pretrained!r} (not built here)  defaults: {defaults}")
            continue
        try:
            size = f"{count_parameters(create_model(name, num_classes=args.num_classes)):,}"
        except (TypeError, ValueError, OSError):  # size depends on a required input shape, or weights are missing
            size = "depends on input"
        print(f"{name:<20} {size:>14} parameters ({args.num_classes} classes)  defaults: {defaults}")
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from serkit.inference.export import read_transcripts, write_predictions
    from serkit.inference.recognizer import Recognizer

    recognizer = Recognizer.from_checkpoint(args.model)
    transcripts = read_transcripts(args.transcripts) if args.transcripts else None
    return write_predictions(recognizer, args.audio, output=args.output, fmt=args.format, timeline=args.timeline,
                             window=args.window, hop=args.hop, transcripts=transcripts)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="serkit", description="Speech emotion recognition toolkit.")
    parser.add_argument("--version", action="version", version=f"serkit {__version__}")
    parser.add_argument("-v", "--verbose-log", action="store_true", help="debug logging")
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of an error (also: environment variable SERKIT_DEBUG=1)")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="generate the synthetic demo corpus and run the pipeline on it")
    demo.add_argument("-o", "--output", type=OutputPath, default=Path("serkit_demo"), help="output folder")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--epochs", type=int, default=None, help="training epochs (default: the demo recipe's)")
    demo.set_defaults(func=_cmd_demo)

    train = commands.add_parser("train", help="run a recipe: every fold x seed, then the summary")
    train.add_argument("recipe", type=InputPath, help="recipe YAML (see recipes/)")
    train.add_argument("--set", action="append", metavar="KEY.SUB=VALUE", help="override a recipe value")
    train.add_argument("--out", type=OutputPath, help="run folder (default runs/<recipe name>); rerun to resume")
    train.add_argument("--restart", action="store_true",
                       help="start the run folder afresh (the old results are moved aside) instead of resuming")
    train.set_defaults(func=_cmd_train)

    report = commands.add_parser("report", help="print the summary of a run folder")
    report.add_argument("run_dir", type=InputPath)
    report.set_defaults(func=_cmd_report)

    compare = commands.add_parser("compare", help="several run folders side by side")
    compare.add_argument("run_dirs", type=InputPath, nargs="+")
    compare.set_defaults(func=_cmd_compare)

    models = commands.add_parser("models", help="registered models with parameter counts")
    models.add_argument("--num-classes", type=int, default=4)
    models.set_defaults(func=_cmd_models)

    predict = commands.add_parser("predict", help="emotion of audio files, folders or long recordings")
    predict.add_argument("model", type=InputPath,
                         help="best.pt of a finished run, or a run folder (its fold x seed models averaged)")
    predict.add_argument("audio", type=CorpusPath, nargs="+", help="audio files or folders")
    predict.add_argument("--format", choices=("table", "csv", "json", "npz"), default="table")
    predict.add_argument("-o", "--output", type=OutputPath, help="write to this file instead of printing")
    predict.add_argument("--timeline", action="store_true", help="emotion over time, window by window")
    predict.add_argument("--window", type=float, default=3.0, help="timeline window (s)")
    predict.add_argument("--hop", type=float, default=1.0, help="timeline hop (s)")
    predict.add_argument("--transcripts", type=InputPath, help="CSV path,text: the transcript of each file (fusion models)")
    predict.set_defaults(func=_cmd_predict)

    corpus = commands.add_parser("corpus", help="corpus loaders, manifests, statistics, folds")
    corpus_cmds = corpus.add_subparsers(dest="corpus_command", required=True)

    listing = corpus_cmds.add_parser("list", help="registered corpora (with --verbose: layout and options)")
    listing.add_argument("--verbose", action="store_true")
    listing.set_defaults(func=_cmd_corpus_list)

    prepare = corpus_cmds.add_parser("prepare", help="read a corpus folder and write a manifest CSV")
    prepare.add_argument("name", help="corpus name (see `serkit corpus list`)")
    prepare.add_argument("root", type=CorpusPath, help="corpus folder (or list file for generic lists)")
    prepare.add_argument("-o", "--output", type=OutputPath, required=True, help="manifest CSV to write")
    prepare.add_argument("--opt", action="append", metavar="KEY=VALUE", help="loader option (repeatable)")
    prepare.add_argument("--labels", help="label set name (e.g. iemocap_4class) or comma list of emotions to keep")
    prepare.add_argument("--merge", action="append", metavar="FROM=TO", help="merge an emotion into another")
    prepare.add_argument("--no-hash", action="store_true", help="do not hash file contents (duplicate detection)")
    prepare.add_argument("--no-durations", action="store_true",
                         help="do not read audio headers (text-only use, e.g. MELD with --opt missing_audio=keep)")
    prepare.add_argument("--skip-unreadable", action="store_true", help="leave unreadable files out with a warning")
    prepare.add_argument("--absolute", action="store_true", help="write absolute audio paths")
    prepare.set_defaults(func=_cmd_corpus_prepare)

    stats = corpus_cmds.add_parser("stats", help="counts per emotion, speaker, session; hours")
    stats.add_argument("manifest", type=ManifestPath)
    stats.add_argument("--json", action="store_true", help="print JSON instead of tables")
    stats.set_defaults(func=_cmd_corpus_stats)

    folds = corpus_cmds.add_parser("folds", help="split a manifest into train/validation/test folds")
    folds.add_argument("manifest", type=ManifestPath)
    folds.add_argument("--protocol", required=True,
                       help="protocol name, or auto: chosen from the number of speakers (see the README)")
    folds.add_argument("--seed", type=int, default=0)
    folds.add_argument("--opt", action="append", metavar="KEY=VALUE", help="protocol option (repeatable)")
    folds.add_argument("-o", "--output", type=OutputPath, required=True, help="folds JSON to write")
    folds.set_defaults(func=_cmd_corpus_folds)

    audio = commands.add_parser("audio", help="audio tools that mirror a folder tree")
    audio_cmds = audio.add_subparsers(dest="audio_command", required=True)
    resample = audio_cmds.add_parser("resample", help="resample every audio file of SRC into DST")
    resample.add_argument("src", type=CorpusPath)
    resample.add_argument("dst", type=OutputTree)
    resample.add_argument("--sr", type=int, default=16000, help="target sample rate (Hz)")
    resample.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    resample.set_defaults(func=_cmd_audio_resample)
    normalize = audio_cmds.add_parser("normalize", help="peak-normalise every audio file of SRC into DST")
    normalize.add_argument("src", type=CorpusPath)
    normalize.add_argument("dst", type=OutputTree)
    normalize.add_argument("--peak", type=float, default=1.0, help="target peak |x| (0 < peak <= 1)")
    normalize.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    normalize.set_defaults(func=_cmd_audio_normalize)

    import importlib

    for module_name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:  # the module exists but one of its imports is missing: a real error
                raise
            continue
        module.add_commands(commands)
    return parser


def _os_error_line(exc: OSError) -> str:
    """``path: reason`` for an OS error, plus the fix for the common ones."""
    import errno
    import os

    where = " -> ".join(str(name) for name in (exc.filename, exc.filename2) if name is not None)
    reason = exc.strerror or str(exc)
    hints = {errno.ENOSPC: "free some space or write elsewhere; no partial file was left behind",
             errno.EACCES: "check the permissions, or write elsewhere",
             errno.EROFS: "the file system is read-only; write elsewhere",
             errno.EISDIR: "give a file name, not a folder",
             errno.ENOTDIR: "a part of the path is a file, not a folder",
             errno.ENOENT: "check the path"}
    # our own messages (atomic_open's) already say what to do; the system's terse ones get the hint
    hint = hints.get(exc.errno) if exc.errno is not None and reason == os.strerror(exc.errno) else None
    return f"{where + ': ' if where else ''}{reason}{f' ({hint})' if hint else ''}"


def main(argv: list[str] | None = None) -> int:
    """Run ``serkit``; bad input ends as one ``serkit: error: ...`` line and exit code 2 (1 for an OS error).

    ``--debug`` or the environment variable ``SERKIT_DEBUG=1`` shows the traceback instead.
    """
    import os

    from serkit.core.fileio import protect_inputs

    parser = build_parser()
    args = parser.parse_args(argv)
    debug = args.debug or os.environ.get("SERKIT_DEBUG", "") not in ("", "0")
    logging.basicConfig(level=logging.DEBUG if args.verbose_log else logging.INFO, format="%(levelname)s: %(message)s")
    try:
        inputs, corpora = guard_arguments(args)
        with protect_inputs(inputs, corpora):
            return args.func(args)
    except BrokenPipeError:  # output piped into `head` and closed early
        return 0
    except (SerkitError, KeyError, ValueError, OSError) as exc:
        if debug:
            raise
        if isinstance(exc, SerkitError) or not isinstance(exc, OSError):
            message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            code = 2
        else:
            message, code = _os_error_line(exc), 1
        print(f"serkit: error: {message}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
