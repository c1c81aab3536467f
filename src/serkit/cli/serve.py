"""``serkit serve``: a trained model behind an HTTP API and a web page (:mod:`serkit.serve`), run with uvicorn.

``serkit serve MODEL [--host 127.0.0.1 --port 8000 --device cpu]``: MODEL is what ``serkit predict`` takes (a run
folder, a ``best.pt``, a model folder, a Hugging Face audio-classification folder, ``hf://owner/name``, or a
``model.onnx``, served without torch). The model is loaded once, before the server starts.
"""

from __future__ import annotations

import argparse
import os

from serkit.cli.recognizers import MODEL_HELP, add_model_options, load_recognizer, model_argument

__all__ = ["add_commands"]


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give a positive number")
    return value


def _count(text: str) -> int:
    if not text.strip().isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: give a whole number (0: the default)")
    return int(text)


def _cmd_serve(args: argparse.Namespace) -> int:
    from serkit.serve.app import create_app, require_serve_packages

    require_serve_packages()  # before the model is loaded: a missing package fails at once
    import uvicorn

    recognizer = load_recognizer(
        args.model, threads=args.threads, precision=args.precision, device=args.device
    )
    app = create_app(
        recognizer,
        max_upload_mb=args.max_upload_mb,
        max_seconds=args.max_seconds,
        concurrency=args.concurrency or None,
        model_name=os.path.basename(os.path.normpath(args.model)),
    )
    print(f"serving {args.model} on http://{args.host}:{args.port}/ (Ctrl+C stops)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser("serve", help="a model behind an HTTP API and a web page")
    serve.add_argument("model", type=model_argument, help=MODEL_HELP)
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 opens it to the network, "
        "without any authentication)",
    )
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument(
        "--max-upload-mb", type=_positive, default=20.0, help="largest upload in MB (default 20)"
    )
    serve.add_argument(
        "--max-seconds", type=_positive, default=600.0, help="longest audio in seconds (default 600)"
    )
    serve.add_argument(
        "--concurrency",
        type=_count,
        default=0,
        help="predictions run at once, the others wait (default 0: one per CPU core)",
    )
    add_model_options(
        serve,
        threads_default=1,
        threads_help="CPU threads of the model per prediction (default 1: concurrent requests use the cores; 0: all)",
        threads_type=_count,
    )
    serve.set_defaults(func=_cmd_serve)
