"""``serkit hubert ...``: the CPT-HuBERT stages (see :mod:`serkit.cpt`). Thin: parses, calls, prints.

    serkit hubert features MANIFEST.csv -o EXP/features/start_L9 --model facebook/hubert-base-ls960 --layer 9
    serkit hubert kmeans EXP/features/start_L9 -o EXP/kmeans500 --clusters 500 [--ids train.csv]
    serkit hubert kmeans --import km500.bin --trust-pickle -o EXP/kmeans500
    serkit hubert labels EXP/features/start_L9 --kmeans EXP/kmeans500 -o EXP/labels_train.tsv [--ids train.csv]
    serkit hubert pretrain --init facebook/hubert-base-ls960 --train EXP/labels_train.tsv
                           --valid EXP/labels_valid.tsv -o EXP/pretrain --set num_classes=500
    serkit hubert export EXP/pretrain -o EXP/tapt_model [--which best_valid]
    serkit hubert export --finetuned runs/.../best.pt -o EXP/finetuned_encoder
    serkit hubert chain recipes/cpt_hubert/iemocap_loso_cpt.chain.yaml --out runs/cpt_hubert [--set key=value]

Multi-GPU / multi-node pre-training: ``accelerate launch -m serkit.cli hubert pretrain ...``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from serkit.cli.paths import InputPath, ManifestPath, OutputPath

__all__ = ["add_commands"]


def _ids(manifest: Path | None) -> list[str] | None:
    if manifest is None:
        return None
    from serkit.data.utterance import read_manifest

    return [u.id for u in read_manifest(manifest)]


def _cmd_features(args: argparse.Namespace) -> int:
    import torch

    from serkit.cpt.features import extract_features
    from serkit.data.utterance import read_manifest

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    out = extract_features(
        read_manifest(args.manifest),
        args.output,
        model=args.model,
        layer=args.layer,
        num_shards=args.num_shards,
        shards=args.shard,
        device=device,
        progress=not args.quiet,
    )
    print(f"features: {out}")
    return 0


def _cmd_kmeans(args: argparse.Namespace) -> int:
    from serkit.cpt.kmeans import fit_kmeans, import_kmeans

    if args.import_file is not None:
        out = import_kmeans(args.import_file, args.output, trust_pickle=args.trust_pickle)
    else:
        if args.features is None or args.clusters is None:
            raise ValueError("kmeans: give FEATURES and --clusters (or --import FILE --trust-pickle).")
        out = fit_kmeans(
            args.features,
            args.output,
            clusters=args.clusters,
            ids=_ids(args.ids),
            n_init=args.n_init,
            batch_size=args.batch_size,
            max_iter=args.max_iter,
            max_no_improvement=args.max_no_improvement,
            seed=args.seed,
            fraction=args.fraction,
        )
    info = json.loads((out / "kmeans.json").read_text(encoding="utf-8"))
    print(f"kmeans: {out} ({info['settings']['clusters']} clusters, {info['source']})")
    return 0


def _cmd_labels(args: argparse.Namespace) -> int:
    from serkit.cpt.labels import assign_labels

    print(f"labels: {assign_labels(args.features, args.kmeans, args.output, ids=_ids(args.ids))}")
    return 0


def _cmd_pretrain(args: argparse.Namespace) -> int:
    from serkit.core.torch_settings import configure_torch
    from serkit.cpt.pretrain import load_pretrain_config, pretrain

    config = load_pretrain_config(args.config, args.set)
    configure_torch(config.threads, flush_denormal=False)  # as pre-training always ran: the same numbers
    result = pretrain(
        config, init=args.init, train_labels=args.train, valid_labels=args.valid, out_dir=args.output
    )
    print(
        f"pretrain: {args.output}: {result['steps']} updates, {result['epochs']} epochs, best validation loss "
        f"{result['best_valid_loss']}, best training loss {result['best_train_loss']}"
    )
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from serkit.cpt.export import export_finetuned, export_pretrained

    if (args.pretrain_dir is None) == (args.finetuned is None):
        raise ValueError("export: give either a pre-training folder or --finetuned best.pt.")
    if args.finetuned is not None:
        out = export_finetuned(args.finetuned, args.output)
    else:
        out = export_pretrained(args.pretrain_dir, args.output, which=args.which)
    print(f"export: {out} (load with AutoModel.from_pretrained or model.args.pretrained={out})")
    return 0


def _cmd_chain(args: argparse.Namespace) -> int:
    from serkit.cpt.chain import format_report, load_chain, run_chain

    config, recipe = load_chain(args.chain, args.set)
    output = args.out or Path("runs") / config.name
    report = run_chain(config, recipe, output)
    print(format_report(report))
    print(f"chain folder: {output} (report.md, report.json, folds/<fold>/...)")
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    from serkit.cpt.pretrain_config import EXPORT_CHOICES  # torch-free, unlike serkit.cpt.export

    hubert = commands.add_parser(
        "hubert", help="CPT-HuBERT stages: features, kmeans, labels, pretrain, export, chain"
    )
    stages = hubert.add_subparsers(dest="hubert_command", required=True)

    features = stages.add_parser("features", help="layer-k hidden states of a manifest's utterances, sharded")
    features.add_argument(
        "manifest", type=ManifestPath, help="manifest CSV (serkit corpus prepare) of the utterances"
    )
    features.add_argument("-o", "--output", type=OutputPath, required=True, help="feature folder (resumable)")
    features.add_argument("--model", required=True, help="hub name or save_pretrained folder")
    features.add_argument("--layer", type=int, default=9, help="hidden-state index (0 = CNN output; CPT: 9)")
    features.add_argument("--num-shards", type=int, default=1)
    features.add_argument("--shard", type=int, action="append", help="compute only this shard (repeatable)")
    features.add_argument("--device", default="", help="torch device (default: cuda if present)")
    features.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    features.set_defaults(func=_cmd_features)

    kmeans = stages.add_parser("kmeans", help="MiniBatchKMeans on the frames of a feature folder")
    kmeans.add_argument("features", type=InputPath, nargs="?", help="feature folder")
    kmeans.add_argument("-o", "--output", type=OutputPath, required=True, help="k-means folder")
    kmeans.add_argument("--clusters", type=int, help="k (TAPT 500, emotional states 50)")
    kmeans.add_argument(
        "--ids", type=InputPath, help="manifest CSV: cluster only these utterances (a fold's train)"
    )
    kmeans.add_argument("--n-init", type=int, default=20)
    kmeans.add_argument("--batch-size", type=int, default=10000)
    kmeans.add_argument("--max-iter", type=int, default=100)
    kmeans.add_argument("--max-no-improvement", type=int, default=100)
    kmeans.add_argument("--seed", type=int, default=1337)
    kmeans.add_argument(
        "--fraction", type=float, default=1.0, help="fraction of the utterances used (1 = all)"
    )
    kmeans.add_argument(
        "--import",
        dest="import_file",
        type=InputPath,
        help="use the centroids of a pickled scikit-learn k-means (fairseq km500.bin)",
    )
    kmeans.add_argument(
        "--trust-pickle",
        action="store_true",
        help="allow --import to unpickle the file (runs code from it: trusted sources only)",
    )
    kmeans.set_defaults(func=_cmd_kmeans)

    labels = stages.add_parser("labels", help="nearest centroid per frame: a pre-training label list")
    labels.add_argument("features", type=InputPath, help="feature folder")
    labels.add_argument("--kmeans", type=InputPath, required=True, help="k-means folder")
    labels.add_argument("-o", "--output", type=OutputPath, required=True, help="label list (.tsv)")
    labels.add_argument("--ids", type=InputPath, help="manifest CSV: label only these utterances")
    labels.set_defaults(func=_cmd_labels)

    pretrain = stages.add_parser("pretrain", help="HuBERT masked-prediction pre-training (resumable)")
    pretrain.add_argument("--init", required=True, help="starting model: hub name or save_pretrained folder")
    pretrain.add_argument("--train", type=InputPath, required=True, help="training label list")
    pretrain.add_argument("--valid", type=InputPath, help="validation label list")
    pretrain.add_argument("-o", "--output", type=OutputPath, required=True, help="run folder")
    pretrain.add_argument("--config", type=InputPath, help="YAML of settings (see PretrainConfig)")
    pretrain.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="a setting, e.g. num_classes=500, max_updates=20000, precision=fp16",
    )
    pretrain.set_defaults(func=_cmd_pretrain)

    export = stages.add_parser("export", help="an encoder as a Hugging Face save_pretrained folder")
    export.add_argument("pretrain_dir", type=InputPath, nargs="?", help="finished pre-training folder")
    export.add_argument("--finetuned", type=InputPath, help="instead: a hubert_ser best.pt of a runner run")
    export.add_argument("-o", "--output", type=OutputPath, required=True)
    export.add_argument("--which", choices=EXPORT_CHOICES, default="best_valid")
    export.set_defaults(func=_cmd_export)

    chain = stages.add_parser("chain", help="all phases for every fold, then the report (resumable)")
    chain.add_argument("chain", type=InputPath, help="chain YAML (recipes/cpt_hubert/*.chain.yaml)")
    chain.add_argument(
        "--out", type=OutputPath, help="experiment folder (default runs/<name>); rerun to resume"
    )
    chain.add_argument("--set", action="append", metavar="KEY.SUB=VALUE", help="override a chain value")
    chain.set_defaults(func=_cmd_chain)
