"""``serkit export``: a trained model as one ONNX file (features included) for the torch-free runtime, or as a
model folder for the Hugging Face hub.

``serkit export RUN_OR_CHECKPOINT --format onnx -o model.onnx`` writes the graph and metadata of
:func:`serkit.inference.onnx_export.export_onnx`; ``serkit predict model.onnx FILES`` then predicts without torch
(:class:`serkit.runtime.OnnxRecognizer`). ``--format folder -o DIR`` writes ``model.safetensors``, ``config.json``
and a model card ``README.md`` (:func:`serkit.inference.model_folder.export_folder`), loaded by
``Recognizer.from_pretrained(DIR)`` and ``serkit predict DIR FILES``.
"""

from __future__ import annotations

import argparse

from serkit.cli.paths import ModelPath, OutputPath

__all__ = ["add_commands"]


def _seed(text: str) -> int:
    if not text.strip().isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: give a seed number, e.g. 0 (the run folder seed0)")
    return int(text)


def _outputs(labels: list[str], dimensions: list[str], dimension_range) -> str:
    """What the exported model outputs, for the summary line: its classes and its emotion dimensions."""
    parts = [f"{len(labels)} classes ({', '.join(labels)})"] if labels or not dimensions else []
    if dimensions:
        low, high = dimension_range
        parts.append(f"dimensions {', '.join(dimensions)} (on [0, 1]; corpus scale {low:g}-{high:g})")
    return " and ".join(parts)


def _cmd_export(args: argparse.Namespace) -> int:
    from serkit.inference import configure_torch

    configure_torch(args.threads)
    if args.format == "folder":
        from serkit.inference.model_folder import export_folder

        config, difference = export_folder(args.model, args.output, fold=args.fold, seed=args.seed)
        outputs = _outputs(
            config["label_names"], config.get("dimensions") or [], config.get("dimension_range")
        )
        print(
            f"wrote {args.output}/ (model.safetensors, config.json, README.md): {config['model_name']} from "
            f"{config['source']}, {outputs}; same {'outputs' if config.get('dimensions') else 'probabilities'} "
            "as the checkpoint "
            f"(max difference {difference:.1g}); predict with `serkit predict {args.output} FILES`"
        )
        return 0
    from serkit.inference.onnx_export import export_onnx

    card = export_onnx(args.model, args.output, fold=args.fold, seed=args.seed)
    print(
        f"wrote {args.output}: {card.model} from {card.source}, "
        f"{_outputs(card.labels, card.dimensions, card.dimension_range)}, "
        f"{card.window / card.sample_rate:g} s windows at {card.sample_rate} Hz; "
        f"predict with `serkit predict {args.output} FILES` (no torch needed)"
    )
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    export = commands.add_parser(
        "export", help="a trained model as an ONNX file (torch-free runtime) or a model folder (the hub)"
    )
    export.add_argument(
        "model",
        type=ModelPath,
        help="best.pt of a finished run, or a run folder (one of its fold x seed models: --fold/--seed, "
        "default the first)",
    )
    export.add_argument(
        "--format",
        choices=("onnx", "folder"),
        default="onnx",
        help="onnx: one file for the torch-free runtime; folder: model.safetensors + config.json + model card "
        "README.md, for Recognizer.from_pretrained and the Hugging Face hub",
    )
    export.add_argument(
        "-o",
        "--output",
        type=OutputPath,
        required=True,
        help="the file (model.onnx) or folder (--format folder) to write",
    )
    export.add_argument("--fold", help="the fold of a run folder to export (its runs/<fold> folder name)")
    export.add_argument("--seed", type=_seed, help="the seed of a run folder to export (runs/<fold>/seed<k>)")
    export.add_argument("--threads", type=int, default=1, help="CPU threads of the export (default 1)")
    export.set_defaults(func=_cmd_export)
