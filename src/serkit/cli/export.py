"""``serkit export``: a trained model as one ONNX file (features included) for the torch-free runtime.

``serkit export RUN_OR_CHECKPOINT --format onnx -o model.onnx`` writes the graph and metadata of
:func:`serkit.inference.onnx_export.export_onnx`; ``serkit predict model.onnx FILES`` then predicts without torch
(:class:`serkit.runtime.OnnxRecognizer`).
"""

from __future__ import annotations

import argparse

from serkit.cli.paths import InputPath, OutputPath

__all__ = ["add_commands"]


def _seed(text: str) -> int:
    if not text.strip().isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: give a seed number, e.g. 0 (the run folder seed0)")
    return int(text)


def _cmd_export(args: argparse.Namespace) -> int:
    from serkit.inference import configure_torch
    from serkit.inference.onnx_export import export_onnx

    configure_torch(args.threads)
    card = export_onnx(args.model, args.output, fold=args.fold, seed=args.seed)
    print(
        f"wrote {args.output}: {card.model} from {card.source}, {len(card.labels)} classes "
        f"({', '.join(card.labels)}), {card.window / card.sample_rate:g} s windows at {card.sample_rate} Hz; "
        f"predict with `serkit predict {args.output} FILES` (no torch needed)"
    )
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    export = commands.add_parser("export", help="a trained model as an ONNX file for the torch-free runtime")
    export.add_argument(
        "model",
        type=InputPath,
        help="best.pt of a finished run, or a run folder (one of its fold x seed models: --fold/--seed, "
        "default the first)",
    )
    export.add_argument("--format", choices=("onnx",), default="onnx", help="the file format (onnx)")
    export.add_argument(
        "-o", "--output", type=OutputPath, required=True, help="the file to write (model.onnx)"
    )
    export.add_argument("--fold", help="the fold of a run folder to export (its runs/<fold> folder name)")
    export.add_argument("--seed", type=_seed, help="the seed of a run folder to export (runs/<fold>/seed<k>)")
    export.add_argument("--threads", type=int, default=1, help="CPU threads of the export (default 1)")
    export.set_defaults(func=_cmd_export)
