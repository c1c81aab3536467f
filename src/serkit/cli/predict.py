"""``serkit predict``: the emotion of audio files, folders or long recordings, from a trained model or run folder.

The command owns the process, so it sets the global torch settings of prediction
(:func:`serkit.inference.configure_torch`) before loading the model; the library never does. Given an ``.onnx``
file (``serkit export``), it predicts with the torch-free runtime (:class:`serkit.runtime.OnnxRecognizer`) and
never imports torch. MODEL may also be a model folder, a Hugging Face audio-classification folder or a hub id
``hf://owner/name[@revision]`` (:mod:`serkit.cli.recognizers`); ``--device cuda`` runs a torch model on the GPU.

A model of emotion dimensions (``task: regression`` or ``multitask``) adds the columns ``<dimension>`` (on the
training corpus's rating scale) and ``<dimension>_01`` (the model's [0, 1] value) after the class columns
(:mod:`serkit.inference.export`); a regression model has no ``label`` and ``p_<class>`` columns.
"""

from __future__ import annotations

import argparse

from serkit.cli.paths import CorpusPath, InputPath, OutputPath
from serkit.cli.recognizers import MODEL_HELP, add_model_options, load_recognizer, model_argument

__all__ = ["add_commands"]

#: ``--batch-size`` default: serkit.inference.export.DEFAULT_BATCH_FILES, written out so that building the parser
#: imports no torch (tests/inference/test_batching.py checks they agree).
DEFAULT_BATCH_FILES = 16


def _files_per_batch(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give a whole number of files, at least 1")
    return int(text)


def _threads(text: str) -> int:
    if not text.strip().isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: give a whole number of threads (0: all cores)")
    return int(text)


def _cmd_predict(args: argparse.Namespace) -> int:
    from serkit.inference.export import read_transcripts, write_predictions

    if args.segments and args.timeline:
        raise ValueError("--segments and --timeline are two ways to cut a recording: give one of them.")
    if args.vad is not None and not args.timeline:
        raise ValueError(
            f"--vad {args.vad} chooses the speech gate of --timeline; --segments always uses the silero VAD "
            "(its regions are the segments): drop --vad or add --timeline."
        )
    recognizer = load_recognizer(
        args.model, threads=args.threads, precision=args.precision, device=args.device
    )
    transcripts = read_transcripts(args.transcripts) if args.transcripts else None
    return write_predictions(
        recognizer,
        args.audio,
        output=args.output,
        fmt=args.format,
        timeline=args.timeline,
        window=args.window,
        hop=args.hop,
        transcripts=transcripts,
        batch_size=args.batch_size,
        segments=args.segments,
        vad=args.vad or "energy",
    )


def add_commands(commands: argparse._SubParsersAction) -> None:
    predict = commands.add_parser("predict", help="emotion of audio files, folders or long recordings")
    predict.add_argument("model", type=model_argument, help=MODEL_HELP)
    predict.add_argument("audio", type=CorpusPath, nargs="+", help="audio files or folders")
    predict.add_argument("--format", choices=("table", "csv", "json", "npz"), default="table")
    predict.add_argument("-o", "--output", type=OutputPath, help="write to this file instead of printing")
    predict.add_argument("--timeline", action="store_true", help="emotion over time, window by window")
    predict.add_argument(
        "--segments",
        action="store_true",
        help="one row per speech region of the silero VAD (serkit[vad]): start, end, label, p_<class> "
        "(and <dimension>, <dimension>_01 for a model of emotion dimensions)",
    )
    predict.add_argument(
        "--vad",
        choices=("energy", "silero"),
        default=None,
        help="speech gate of --timeline: energy (default: loud-enough 25 ms frames) or silero (the VAD model)",
    )
    predict.add_argument("--window", type=float, default=3.0, help="timeline window (s)")
    predict.add_argument("--hop", type=float, default=1.0, help="timeline hop (s)")
    predict.add_argument(
        "--transcripts", type=InputPath, help="CSV path,text: the transcript of each file (fusion models)"
    )
    predict.add_argument(
        "--batch-size",
        type=_files_per_batch,
        default=DEFAULT_BATCH_FILES,
        metavar="N",
        help=f"files predicted together, their chunks in shared model batches (default {DEFAULT_BATCH_FILES})",
    )
    add_model_options(
        predict,
        threads_default=0,
        threads_help="CPU threads of the model (default 0: all cores; 1 is often faster)",
        threads_type=_threads,
    )
    predict.set_defaults(func=_cmd_predict)
