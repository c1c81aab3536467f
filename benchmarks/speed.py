"""serkit's speed in one table, every figure a ratio against a reference measured in the same run.

Run by hand (never part of the tests), on an otherwise idle machine; about 6 minutes on 2 cores:

    python benchmarks/speed.py --out runs/bench_speed          # RAVDESS from ../shared/data/ravdess
    python benchmarks/speed.py --only prediction               # the prediction rows alone (one recipe epoch first)

Rows (1 torch thread unless the row says otherwise):

- training step: items per second of the recipe's training pass (``recipes/glam/ravdess_glam.yaml``, fold group1,
  one epoch, ``train.precision: auto``, mixup, data loading included) against a plain fp32 eager PyTorch loop
  (forward, cross-entropy, backward, Adam) over the same model and batches of the same fold, loading excluded;
- whole epoch: the same recipe epoch's training items per second of training **plus** validation against the
  plain loop's training step alone (the issue's target: >= 2x);
- 2 cores: the recipe with ``--jobs 2`` (two folds at once, 1 thread each) against the plain loop on 2 threads;
- features: serkit's batched MFCC and 3-channel log-mel against librosa one clip at a time (interleaved runs,
  ``benchmarks/features_vs_librosa.py`` has the full table and the numerical differences);
- prediction: ``serkit predict``'s real-time factor on 3 s files, one file and 100 files, in the precision the model
  was trained in (auto) against the same model in fp32, and on 100 files the model exported to ONNX
  (``serkit export --format onnx``) on onnxruntime (1 thread) against the checkpoint in fp32 (all interleaved);
- start-up: ``serkit --help`` and ``serkit predict --help`` as whole processes against ``python -c "import torch"``.

``--only GROUP`` (repeatable: training, features, prediction, startup) runs those rows alone; the prediction rows
use the recipe epoch's checkpoint (trained first when the training rows are not run) or ``--checkpoint``.

The plain loop runs before and after the recipe epoch and their mean is the reference, so a drift in machine speed
affects both sides. The recipe's own figures come from its ``history.json`` (``train_seconds``, ``eval_seconds``,
``train_items``).
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import soundfile as sf
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import features_vs_librosa as fvl  # noqa: E402  (the feature helpers of the neighbouring benchmark)

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "glam" / "ravdess_glam.yaml"
GROUPS = ("training", "features", "prediction", "startup")  # the rows --only chooses from


def recipe_epoch(out: Path, root: str, folds: list[int], jobs: int) -> tuple[list[dict], dict]:
    """One epoch of the GLAM recipe on ``folds`` (1 thread per run): the epoch records and the training set and
    batch size of the first fold (captured from the loop's loader, for the plain reference)."""
    from serkit.recipe import load_experiment
    from serkit.training import engine
    from serkit.training.runner import run_experiment

    captured: dict = {}
    make_loader = engine.make_loader

    def capturing_loader(dataset, **kwargs):
        if kwargs.get("shuffle") and not captured:
            captured.update(dataset=dataset, batch_size=kwargs["batch_size"])
        return make_loader(dataset, **kwargs)

    engine.make_loader = capturing_loader
    overrides = [
        f"corpus.root={root}",
        f"protocol.folds=[{', '.join(map(str, folds))}]",
        "seeds=[0]",
        "train.epochs=1",
        "train.threads=1",
        "train.tsne=false",
        "train.progress=false",
        f"runner.jobs={jobs}",
        f"cache_dir={out.parent / 'feature_cache'}",
    ]
    try:
        run_experiment(load_experiment(RECIPE, overrides), out, restart=True)
    finally:
        engine.make_loader = make_loader
    records = [json.loads(path.read_text())[0] for path in sorted(out.glob("runs/*/seed0/history.json"))]
    return records, captured


def plain_items_per_second(dataset, batch_size: int, steps: int, threads: int) -> float:
    """A plain fp32 eager training loop (GLAM, cross-entropy, Adam 1e-3) over the first ``steps`` batches of the
    fold's training segments, batches made beforehand (the step alone is timed)."""
    from serkit.models import create_model
    from serkit.training.data import make_loader

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    batches = []
    for batch in make_loader(dataset, batch_size=batch_size, shuffle=True):
        batches.append((batch["features"], batch["lengths"], batch["targets"]))
        if len(batches) == steps + 2:
            break
    model = create_model("glam", num_classes=8, input_shape=tuple(batches[0][0].shape[:0:-1]))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    items, start = 0, None
    for index, (features, lengths, targets) in enumerate(batches):
        if index == 2:  # two warm-up steps
            items, start = 0, time.perf_counter()
        loss = torch.nn.functional.cross_entropy(model(features, lengths), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        items += len(targets)
    return items / (time.perf_counter() - start)


def speech_files(folder: Path, count: int, seconds: float) -> list[Path]:
    """``count`` generated 3-s voice-like files (harmonic tones with vibrato) at 16 kHz."""
    clips = fvl.synthetic_clips(count, seconds, seed=1)
    paths = []
    for index, clip in enumerate(clips):
        paths.append(folder / f"clip{index:03d}.wav")
        sf.write(paths[-1], clip, fvl.SAMPLE_RATE)
    return paths


def prediction_rtf(
    checkpoint: Path, files: list[Path], repeats: int, onnx_model: Path
) -> dict[tuple[str, int], float]:
    """Real-time factor (wall seconds / audio seconds) of prediction rows as ``serkit predict`` makes them, in the
    trained precision (``auto``), in fp32 (``no``) and through onnxruntime (``onnx``: ``onnx_model``, the export of
    ``checkpoint``), 1 thread each, interleaved: all files best of ``repeats``, one file best of 30."""
    from serkit.inference import Recognizer
    from serkit.inference.export import prediction_rows
    from serkit.runtime import OnnxRecognizer

    torch.set_num_threads(1)
    recognizers = {name: Recognizer.from_checkpoint(checkpoint, precision=name) for name in ("auto", "no")}
    recognizers["onnx"] = OnnxRecognizer(onnx_model, threads=1)
    seconds = sf.info(files[0]).duration
    best = {}
    for count, times in ((1, 30), (len(files), repeats)):
        functions = {
            (name, count): (lambda r=recognizer, c=count: list(prediction_rows(r, files[:c])))
            for name, recognizer in recognizers.items()
        }
        best.update(fvl.best_times(functions, times))
    return {key: value / (seconds * key[1]) for key, value in best.items()}


def process_seconds(command: list[str], repeats: int) -> float:
    """Median wall time of a whole process."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def feature_ratios(repeats: int) -> list[tuple[str, float, float]]:
    """(feature, ours batched clips/s, librosa per-clip clips/s) on 32 RAVDESS (else generated) 3-s clips."""
    import librosa

    from serkit.features import MFCCConfig, ThreeChannelLogMelConfig

    clips = fvl.ravdess_clips(32, 3.0) if fvl.RAVDESS.is_dir() else fvl.synthetic_clips(32, 3.0, 0)
    mfcc, dcnn = MFCCConfig(), ThreeChannelLogMelConfig()
    rows = []
    with fvl.thread_limit(1):
        for name, ours, reference in (
            ("MFCC (GLAM)", mfcc.compute, lambda x: fvl.librosa_mfcc(librosa, x)),
            ("3-ch log-mel (DCNN)", dcnn.compute, lambda x: fvl.librosa_dcnn(librosa, x)),
        ):
            best = fvl.best_times(
                {
                    "ours": lambda f=ours: fvl.run(f, clips, "batched"),
                    "librosa": lambda f=reference: fvl.run(f, clips, "per clip"),
                },
                repeats,
            )
            rows.append((name, len(clips) / best["ours"], len(clips) / best["librosa"]))
    return rows


def training_rows(out: Path, root: str, steps: int) -> list[tuple[str, str, str, float]]:
    """The training rows: one recipe epoch (1 thread) between two plain-loop measurements, then ``--jobs 2``."""
    torch.set_num_threads(1)
    records, captured = recipe_epoch(out / "epoch", root, [0], jobs=1)
    dataset, batch_size = captured["dataset"], captured["batch_size"]
    plain_1 = statistics.mean(plain_items_per_second(dataset, batch_size, steps, 1) for _ in range(2))
    (record,) = records
    train_rate = record["train_items"] / record["train_seconds"]
    epoch_rate = record["train_items"] / (record["train_seconds"] + record["eval_seconds"])
    precision = record.get("precision", "?")
    rows = [
        (
            f"training step, recipe loop ({precision}) vs plain fp32 eager loop",
            f"{train_rate:.0f} items/s",
            f"{plain_1:.0f} items/s",
            train_rate / plain_1,
        ),
        (
            "whole epoch (train + validation) vs plain loop's training step alone",
            f"{epoch_rate:.0f} items/s",
            f"{plain_1:.0f} items/s",
            epoch_rate / plain_1,
        ),
    ]
    # 2 cores: --jobs 2 (two folds at once) against the plain loop on 2 threads
    records_2, _ = recipe_epoch(out / "jobs2", root, [1, 2], jobs=2)
    machine_rate = sum(r["train_items"] for r in records_2) / max(
        r["train_seconds"] + r["eval_seconds"] for r in records_2
    )
    plain_2 = plain_items_per_second(dataset, batch_size, steps, 2)
    rows.append(
        (
            "2 cores: whole epochs with --jobs 2 vs plain loop on 2 threads",
            f"{machine_rate:.0f} items/s",
            f"{plain_2:.0f} items/s",
            machine_rate / plain_2,
        )
    )
    return rows


def prediction_table_rows(checkpoint: Path, files: int, repeats: int) -> list[tuple[str, str, str, float]]:
    """The prediction rows of ``checkpoint`` on ``files`` generated 3-s files (ratio > 1: faster than the
    reference)."""
    from serkit.inference.onnx_export import export_onnx

    with tempfile.TemporaryDirectory() as folder:
        onnx_model = Path(folder) / "model.onnx"
        export_onnx(checkpoint, onnx_model)
        rtf = prediction_rtf(checkpoint, speech_files(Path(folder), files, 3.0), repeats, onnx_model)
    rows = [
        (
            f"prediction RTF, {count} x 3 s file(s), trained precision vs fp32",
            f"{rtf['auto', count]:.4f}",
            f"{rtf['no', count]:.4f}",
            rtf["no", count] / rtf["auto", count],
        )
        for count in (1, files)
    ]
    rows.append(
        (
            f"prediction RTF, {files} x 3 s files, ONNX runtime vs torch checkpoint (fp32, 1 thread)",
            f"{rtf['onnx', files]:.4f}",
            f"{rtf['no', files]:.4f}",
            rtf["no", files] / rtf["onnx", files],
        )
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("runs/bench_speed"), help="work folder (replaced)")
    parser.add_argument("--root", default=str(fvl.RAVDESS.parent), help="RAVDESS folder")
    parser.add_argument("--steps", type=int, default=60, help="plain-loop steps per measurement (default 60)")
    parser.add_argument(
        "--files", type=int, default=100, help="generated 3-s files for prediction (default 100)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats of the short measurements")
    parser.add_argument(
        "--only", choices=GROUPS, action="append", help="run only these rows (repeatable; default: all)"
    )
    parser.add_argument(
        "--checkpoint",
        type=Path,
        help="GLAM best.pt for the prediction rows (default: the recipe epoch's, trained first if needed)",
    )
    args = parser.parse_args()
    out = args.out.resolve()
    groups = args.only or GROUPS
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")  # the runs' one line per epoch
    rows: list[tuple[str, str, str, float]] = []  # (what, ours, reference, ours / reference)

    if "training" in groups:
        rows += training_rows(out, args.root, args.steps)

    if "features" in groups:
        for name, ours, reference in feature_ratios(args.repeats):
            rows.append(
                (
                    f"{name}, batched vs librosa per clip",
                    f"{ours:.0f} clips/s",
                    f"{reference:.0f} clips/s",
                    ours / reference,
                )
            )

    if "prediction" in groups:
        checkpoint = args.checkpoint
        if checkpoint is None:
            if "training" not in groups:  # the same checkpoint as a whole run's: one recipe epoch on fold 0
                torch.set_num_threads(1)
                recipe_epoch(out / "epoch", args.root, [0], jobs=1)
            (checkpoint,) = sorted((out / "epoch").glob("runs/*/seed0/best.pt"))
        rows += prediction_table_rows(checkpoint, args.files, args.repeats)

    if "startup" in groups:
        import_torch = process_seconds([sys.executable, "-c", "import torch"], 5)
        for command in (["--help"], ["predict", "--help"]):
            seconds = process_seconds([str(Path(sys.executable).with_name("serkit")), *command], 5)
            rows.append(
                (
                    f"start-up: serkit {' '.join(command)} vs python -c 'import torch'",
                    f"{seconds:.2f} s",
                    f"{import_torch:.2f} s",
                    import_torch / seconds,
                )
            )

    print(
        f"\nserkit speed, torch {torch.__version__}, 1 thread per process unless said; ratio > 1 = serkit faster\n"
    )
    print("| measurement | serkit | reference | ratio |")
    print("|---|---|---|---|")
    for what, ours, reference, ratio in rows:
        print(f"| {what} | {ours} | {reference} | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
