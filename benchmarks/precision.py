"""fp32 against ``train.precision: auto`` (bf16 autocast where the CPU has AVX512-BF16 / AMX) on RAVDESS GLAM.

Run by hand (never part of the tests); about 40 minutes on 2 otherwise idle cores with the defaults:

    python benchmarks/precision.py --out runs/bench_precision --epochs 5 --folds 0 1 2 --seed 0

Trains ``recipes/glam/ravdess_glam.yaml`` (speaker-independent folds, selection on validation) for the same epochs
in both precisions and prints, per fold, test UA / WA of the selected checkpoint, then the per-epoch training and
validation seconds of each and their ratio. Speed is measured side by side: ``--workers`` processes (1 torch thread
each) run the (fold, precision) runs interleaved, every worker alternating the two precisions, so both see the
same machine load. The runs' figures (and t-SNE) are skipped. A finished run found under ``--out`` is read back,
not retrained (its timings are the stored ones).

``--step-ratio`` instead times GLAM training steps in both precisions, interleaved in blocks in one process (the
speed ratio least affected by other load on the machine). ``--eval-batches`` instead times evaluation by batch size and precision on random segments: this is why
``train.eval_batch_size`` stays 64 (on a CPU, larger batches are slower for these models).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from statistics import mean, pstdev

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "glam" / "ravdess_glam.yaml"
PRECISIONS = ("no", "auto")


def _timed_engine() -> dict[str, list[float]]:
    """Wrap the training loop's loader and evaluation to time each epoch's training and validation parts."""
    from serkit.training import engine

    times: dict[str, list[float]] = {"train": [], "eval": []}
    state = {"epoch_start": None}
    make_loader, evaluate = engine.make_loader, engine._evaluate

    def timed_loader(*args, **kwargs):
        state["epoch_start"] = time.perf_counter()  # the training loader is made at the start of each epoch
        return make_loader(*args, **kwargs)

    def timed_evaluate(*args, **kwargs):
        start = time.perf_counter()
        if state["epoch_start"] is not None:
            times["train"].append(start - state["epoch_start"])
            state["epoch_start"] = None
        result = evaluate(*args, **kwargs)
        times["eval"].append(time.perf_counter() - start)
        return result

    engine.make_loader, engine._evaluate = timed_loader, timed_evaluate
    return times


def _worker(plan: list[dict], out: Path, root: str, epochs: int, seed: int) -> None:
    """Train the planned (fold, precision) runs one after another in this process (1 torch thread)."""
    import dataclasses
    import logging

    from serkit.config import ExperimentConfig
    from serkit.recipe import load_experiment
    from serkit.training import runner
    from serkit.training.runner import run_experiment

    runner._write_figures = lambda *args, **kwargs: (
        None
    )  # figures and t-SNE: the same cost for both, not measured

    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s [worker {plan[0]['precision']}] %(message)s")
    has_runner = any(f.name == "runner" for f in dataclasses.fields(ExperimentConfig))
    times = _timed_engine()
    for item in plan:
        fold, precision = item["fold"], item["precision"]
        run_out = out / precision / f"fold{fold}"
        result_path = run_out / "bench.json"
        if result_path.is_file():
            continue
        overrides = [
            f"corpus.root={root}",
            f"protocol.folds=[{fold}]",
            f"seeds=[{seed}]",
            f"train.epochs={epochs}",
            f'train.precision="{precision}"',
            "train.threads=1",
            "train.progress=false",
            f"cache_dir={out / 'feature_cache'}",
            *(["runner.jobs=1"] if has_runner else []),
        ]
        config = load_experiment(RECIPE, overrides)
        times["train"].clear()
        times["eval"].clear()
        start = time.perf_counter()
        run_experiment(config, run_out)
        wall = time.perf_counter() - start
        (run_dir,) = (run_out / "runs").glob(f"*/seed{seed}")
        metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))["metrics"]
        history = json.loads((run_dir / "history.json").read_text(encoding="utf-8"))
        result = {
            "fold": fold,
            "precision": precision,
            "precision_used": sorted({str(h.get("precision", "?")) for h in history}),
            "ua": metrics["ua"],
            "wa": metrics["wa"],
            "epochs": len(history),
            "train_seconds": list(times["train"]),
            "eval_seconds": list(times["eval"]),
            "wall_seconds": wall,
        }
        result_path.write_text(json.dumps(result, indent=1), encoding="utf-8")
        print(f"[{precision} fold {fold}] {json.dumps(result)}", flush=True)


def _plans(folds: list[int], workers: int) -> list[list[dict]]:
    """Spread the (fold, precision) runs over the workers, each alternating precisions (fp32 first in even ones)."""
    runs = [
        {"fold": fold, "precision": PRECISIONS[(index + fold) % 2]} for fold in folds for index in range(2)
    ]
    plans: list[list[dict]] = [[] for _ in range(workers)]
    for index, run in enumerate(runs):
        plans[index % workers].append(run)
    return plans


def _eval_batch_sweep(models: list[str], segments: int, repeats: int) -> None:
    """Evaluation speed by batch size and precision on 1 thread, as a ratio to fp32 at batch 64 (interleaved)."""
    import numpy as np
    import torch

    from serkit.models import create_model
    from serkit.training.data import ChunkSet, utterance_logits

    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    sizes, precisions = (16, 32, 64, 128, 256), ("no", "bf16")
    print(f"evaluation speed vs fp32 at batch 64 ({segments} random segments, 1 thread, best of {repeats})")
    header = [f"{'bf16' if p == 'bf16' else 'fp32'}@{b}" for p in precisions for b in sizes]
    print(f"{'model':>14} " + " ".join(f"{h:>8}" for h in header))
    for name in models:
        torch.manual_seed(0)
        model = create_model(name, num_classes=8, **({"num_features": 26} if name == "cnn_small" else {}))
        shape = tuple(model.example_input(1)[0].shape[1:])
        rng = np.random.default_rng(0)
        chunks = [rng.normal(scale=20, size=shape).astype(np.float32) for _ in range(segments)]
        dataset = ChunkSet(
            chunks, np.arange(segments) // 8, np.arange(segments // 8) % 8, list(range(segments // 8))
        )
        seconds: dict[tuple[int, str], float] = {}
        for _ in range(repeats):
            for size in sizes:
                for precision in precisions:
                    start = time.perf_counter()
                    utterance_logits(model, dataset, batch_size=size, precision=precision)
                    elapsed = time.perf_counter() - start
                    seconds[size, precision] = min(seconds.get((size, precision), elapsed), elapsed)
        ratios = " ".join(f"{seconds[64, 'no'] / seconds[b, p]:7.2f}x" for p in precisions for b in sizes)
        print(f"{name:>14} {ratios}")


def _step_ratio(blocks: int, steps: int) -> None:
    """GLAM training steps (batch 32, mixup 0.5, Adam) in fp32 and in bf16 autocast, alternating blocks of
    ``steps`` in one process on 1 thread, so that both see the same machine load; wall and CPU time."""
    import torch

    from serkit.models import create_model
    from serkit.models.losses import mixup

    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    torch.manual_seed(0)
    model = create_model("glam", num_classes=8)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    shape = tuple(model.example_input(1)[0].shape[1:])
    batches = [(torch.randn(32, *shape) * 20, torch.randint(0, 8, (32,))) for _ in range(steps)]
    lengths = torch.full((32,), shape[0])
    generator = torch.Generator().manual_seed(0)
    totals = {"no": [0.0, 0.0], "bf16": [0.0, 0.0]}
    model.train()
    for block in range(blocks + 1):  # block 0 warms both up and is not counted
        for precision in ("no", "bf16") if block % 2 else ("bf16", "no"):
            wall, cpu = time.perf_counter(), time.process_time()
            for features, targets in batches:
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
                    mixed = mixup(features, targets, 0.5, generator)
                    loss = mixed.loss(torch.nn.functional.cross_entropy, model(mixed.features, lengths))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            if block:
                totals[precision][0] += time.perf_counter() - wall
                totals[precision][1] += time.process_time() - cpu
    (fp32_wall, fp32_cpu), (bf16_wall, bf16_cpu) = totals["no"], totals["bf16"]
    print(
        f"GLAM training step, batch 32, {shape}, {blocks} x {steps} steps each, interleaved, 1 thread: "
        f"fp32 {fp32_wall / (blocks * steps) * 1e3:.0f} ms, bf16 {bf16_wall / (blocks * steps) * 1e3:.0f} ms "
        f"per step; ratio fp32 / bf16 {fp32_wall / bf16_wall:.2f}x wall, {fp32_cpu / bf16_cpu:.2f}x CPU time"
    )


def _row(values: list[float]) -> str:
    return f"{mean(values):.4f} ± {pstdev(values):.4f}" if values else "-"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("runs/bench_precision"))
    parser.add_argument("--root", default="../shared/data/ravdess", help="RAVDESS folder")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--folds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2, help="processes, 1 torch thread each")
    parser.add_argument(
        "--eval-batches",
        nargs="*",
        metavar="MODEL",
        help="instead: evaluation speed by batch size and precision for these models (default glam mhcnn aacnn "
        "cnn_small), on random segments",
    )
    parser.add_argument(
        "--step-ratio",
        action="store_true",
        help="instead: GLAM training steps in fp32 and bf16, interleaved in one process (a few minutes)",
    )
    parser.add_argument("--worker-plan", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.out = args.out.resolve()
    if args.step_ratio:
        _step_ratio(blocks=6, steps=20)
        return
    if args.eval_batches is not None:
        _eval_batch_sweep(args.eval_batches or ["glam", "mhcnn", "aacnn", "cnn_small"], 512, 3)
        return

    if args.worker_plan:
        _worker(json.loads(args.worker_plan), args.out, args.root, args.epochs, args.seed)
        return
    start = time.perf_counter()
    common = [
        *(
            "--out",
            str(args.out),
            "--root",
            args.root,
            "--epochs",
            str(args.epochs),
            "--seed",
            str(args.seed),
        ),
    ]
    workers = [
        subprocess.Popen([sys.executable, __file__, *common, "--worker-plan", json.dumps(plan)])
        for plan in _plans(args.folds, args.workers)
        if plan
    ]
    if any(worker.wait() for worker in workers):
        raise SystemExit("a worker failed; rerun the same command to finish the missing runs.")
    results = {
        (r["precision"], r["fold"]): r
        for r in (
            json.loads((args.out / p / f"fold{f}" / "bench.json").read_text(encoding="utf-8"))
            for p in PRECISIONS
            for f in args.folds
        )
    }
    used = {p: sorted({u for f in args.folds for u in results[p, f]["precision_used"]}) for p in PRECISIONS}
    print(
        f"\nRAVDESS GLAM ({RECIPE.name}), folds {args.folds}, {args.epochs} epochs, seed {args.seed}, "
        f"{args.workers} interleaved processes x 1 thread; total {(time.perf_counter() - start) / 60:.1f} min"
    )
    print(f"precision used: no -> {', '.join(used['no'])}; auto -> {', '.join(used['auto'])}")
    print(
        f"\n{'fold':>6} | {'fp32 UA':>8} {'fp32 WA':>8} | {'auto UA':>8} {'auto WA':>8} | {'dUA':>7} {'dWA':>7}"
    )
    for fold in args.folds:
        a, b = results["no", fold], results["auto", fold]
        print(
            f"{fold:>6} | {a['ua']:8.4f} {a['wa']:8.4f} | {b['ua']:8.4f} {b['wa']:8.4f} | "
            f"{b['ua'] - a['ua']:+7.4f} {b['wa'] - a['wa']:+7.4f}"
        )
    for key in ("ua", "wa"):
        print(
            f"{'mean ' + key.upper():>10}: fp32 {_row([results['no', f][key] for f in args.folds])}, "
            f"auto {_row([results['auto', f][key] for f in args.folds])} (mean ± std over folds)"
        )
    print("\nseconds per epoch (mean over folds and epochs; ratio = fp32 / auto, > 1 means auto is faster)")
    for part in ("train", "eval"):
        per = {p: [s for f in args.folds for s in results[p, f][f"{part}_seconds"]] for p in PRECISIONS}
        if per["no"] and per["auto"]:
            ratio = mean(per["no"]) / mean(per["auto"])
            print(
                f"{part:>6}: fp32 {mean(per['no']):7.1f} s, auto {mean(per['auto']):7.1f} s, ratio {ratio:.2f}x"
            )
    walls = {p: sum(results[p, f]["wall_seconds"] for f in args.folds) for p in PRECISIONS}
    print(
        f"  runs: fp32 {walls['no'] / 60:.1f} min, auto {walls['auto'] / 60:.1f} min "
        f"(whole runs incl. features and final evaluation), ratio {walls['no'] / walls['auto']:.2f}x"
    )


if __name__ == "__main__":
    main()
