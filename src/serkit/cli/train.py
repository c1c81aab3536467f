"""``serkit demo | train | report | compare | models``: run recipes, read their summaries, list the models."""

from __future__ import annotations

import argparse
from pathlib import Path

from serkit.cli.paths import InputPath, OutputPath, manifest_corpus

__all__ = ["add_commands"]

_JOBS_HELP = (
    "train the (fold, seed) runs in N worker processes, each with cores/N threads (runner.jobs; "
    "default 0 = automatic: one per core for models under 5 M parameters, else 1); results are the same"
)


def _cmd_demo(args: argparse.Namespace) -> int:
    from serkit.demo import run_demo

    return run_demo(args.output, seed=args.seed, epochs=args.epochs, jobs=args.jobs, task=args.task)


def _cmd_train(args: argparse.Namespace) -> int:
    from serkit.core.fileio import check_outputs, protect_inputs
    from serkit.evaluation.report import format_summary
    from serkit.recipe import load_experiment
    from serkit.training.runner import run_experiment

    overrides = [*(args.set or []), *([f"runner.jobs={args.jobs}"] if args.jobs is not None else [])]
    config = load_experiment(args.recipe, overrides)
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
            print(
                f"{name:<20} {'pretrained':>14} encoder {pretrained!r} (not built here)  defaults: {defaults}"
            )
            continue
        try:
            size = f"{count_parameters(create_model(name, num_classes=args.num_classes)):,}"
        except (
            TypeError,
            ValueError,
            OSError,
        ):  # size depends on a required input shape, or weights are missing
            size = "depends on input"
        print(f"{name:<20} {size:>14} parameters ({args.num_classes} classes)  defaults: {defaults}")
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    demo = commands.add_parser("demo", help="generate the synthetic demo corpus and run the pipeline on it")
    demo.add_argument("-o", "--output", type=OutputPath, default=Path("serkit_demo"), help="output folder")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--epochs", type=int, default=None, help="training epochs (default: the demo recipe's)")
    demo.add_argument("--jobs", type=int, default=None, metavar="N", help=_JOBS_HELP)
    demo.add_argument(
        "--task",
        choices=("classification", "dimensional"),
        default="classification",
        help="classification: 4 emotions (default); dimensional: arousal, valence and dominance (regression, CCC)",
    )
    demo.set_defaults(func=_cmd_demo)

    train = commands.add_parser("train", help="run a recipe: every fold x seed, then the summary")
    train.add_argument("recipe", type=InputPath, help="recipe YAML (see recipes/)")
    train.add_argument("--set", action="append", metavar="KEY.SUB=VALUE", help="override a recipe value")
    train.add_argument(
        "--out", type=OutputPath, help="run folder (default runs/<recipe name>); rerun to resume"
    )
    train.add_argument(
        "--restart",
        action="store_true",
        help="start the run folder afresh (the old results are moved aside) instead of resuming",
    )
    train.add_argument("--jobs", type=int, default=None, metavar="N", help=_JOBS_HELP)
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
