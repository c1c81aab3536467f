"""``serkit features ssl``: hidden states of a pretrained speech encoder for every utterance of a manifest."""

from __future__ import annotations

import argparse
import sys

from serkit.cli.paths import ManifestPath, OutputPath

__all__ = ["add_commands"]


def _cmd_features_ssl(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from serkit.core.progress import progress_enabled
    from serkit.data.utterance import read_manifest
    from serkit.features.ssl import extract_ssl

    utterances = read_manifest(args.manifest)
    if args.limit:
        utterances = utterances[: args.limit]
    bar = tqdm(total=len(utterances), desc="ssl features", disable=not progress_enabled(not args.quiet))

    def progress(done: int, total: int) -> None:
        bar.update(done - bar.n)

    result = extract_ssl(
        utterances,
        args.output,
        model=args.model,
        layer=args.layer,
        layers=args.layers,
        sample_rate=args.sample_rate,
        max_seconds=args.max_seconds,
        batch_seconds=args.batch_seconds,
        device=args.device,
        cache_dir=args.cache_dir,
        progress=progress,
    )
    bar.close()
    print(
        f"{result['out_dir']}: {result['written']} utterance(s) encoded, {result['skipped']} already there "
        f"({result['total']} in the manifest); index in index.csv",
        file=sys.stderr,
    )
    for message in result["failed"]:
        print(f"skipped {message}", file=sys.stderr)
    return 1 if result["failed"] else 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    features = commands.add_parser("features", help="precompute features of a manifest (pretrained encoders)")
    feature_cmds = features.add_subparsers(dest="features_command", required=True, metavar="COMMAND")
    ssl = feature_cmds.add_parser(
        "ssl",
        help="hidden states of a Hugging Face speech encoder, one safetensors file per utterance",
        description="Encode every utterance of MANIFEST with a frozen wav2vec2 / HuBERT / WavLM / data2vec-audio "
        "model (eval mode, no gradients) and write OUT/<utt_id>.safetensors (tensor 'hidden_states', "
        "frames x hidden_dim) plus OUT/index.csv. Utterances are batched by length within "
        "--batch-seconds of padded audio; rerunning skips what is already written.",
    )
    ssl.add_argument("manifest", type=ManifestPath, help="manifest CSV (serkit corpus prepare)")
    ssl.add_argument(
        "--model",
        required=True,
        help="hub name (facebook/wav2vec2-base; needs internet or the HF cache), a local folder "
        "written by save_pretrained, or package:<python module>",
    )
    ssl.add_argument(
        "--layer",
        type=int,
        default=-1,
        help="hidden-state index: 0 = CNN output after projection, k = transformer layer k, "
        "-1 = last (default)",
    )
    ssl.add_argument(
        "--layers",
        choices=("one", "mean", "all"),
        default="one",
        help="one: the --layer; mean: average of all layers; all: every layer stacked",
    )
    ssl.add_argument("-o", "--output", type=OutputPath, required=True, help="output folder")
    ssl.add_argument(
        "--sample-rate", type=int, default=16000, help="rate the audio is loaded at (the encoder's)"
    )
    ssl.add_argument(
        "--max-seconds", type=float, default=None, help="keep only the first seconds of each file"
    )
    ssl.add_argument(
        "--batch-seconds",
        type=float,
        default=60.0,
        help="padded audio per batch (batch size x longest utterance): the memory budget",
    )
    ssl.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    ssl.add_argument(
        "--cache-dir",
        type=OutputPath,
        default=None,
        help="also fill this recipe feature cache (for a recipe with features: {name: ssl, "
        "model: <same>, layer: <same>} and input.mode: utterance with the same max_seconds)",
    )
    ssl.add_argument("--limit", type=int, default=0, help="only the first N utterances of the manifest")
    ssl.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    ssl.set_defaults(func=_cmd_features_ssl)
