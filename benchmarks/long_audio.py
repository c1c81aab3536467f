"""``serkit predict --segments`` on an hour of audio: real-time factor and peak memory, against one minute.

RAVDESS files are concatenated (at 16 kHz, in file order, cycling) into a 1-minute and a 1-hour WAV in a work
folder outside the corpus (a temporary folder unless ``--workdir``; the files are kept there and reused). Each is
then predicted by ``serkit predict MODEL FILE --segments`` in a fresh process, which reports its wall time and its
peak resident memory (``resource.getrusage(RUSAGE_SELF).ru_maxrss``). Memory must not grow with the length: the
VAD reads a minute at a time and each region is read alone.

The model is a random-weight GLAM on 26 MFCCs (1.8 s windows every 0.2 s, as the GLAM recipes) unless ``--model``
gives a checkpoint, run folder or ``.onnx``: the speed does not depend on the weights. Not part of the test suite;
run by hand (about two minutes on 2 cores):

    python benchmarks/long_audio.py
    python benchmarks/long_audio.py --model runs/x/best.pt --threads 2 --workdir /tmp/long_audio

RTF = processing seconds / audio seconds (below 1: faster than real time). The files are written and predicted
in separate processes, and the parent holds no audio: on Linux a child's ``ru_maxrss`` starts at its parent's
resident size at the fork.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RAVDESS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ravdess"
RATE = 16000


def _concatenate(files: list[Path], seconds: float, path: Path) -> None:
    """Write ``seconds`` of the corpus files one after another (cycling) into ``path`` (16 kHz PCM_16 WAV)."""
    from serkit.audio import io as audio_io

    if path.exists():
        return
    pieces, total, index = [], 0, 0
    while total < seconds * RATE:
        piece = audio_io.load(files[index % len(files)], RATE)
        pieces.append(piece)
        total += len(piece)
        index += 1
    audio_io.save(path, np.concatenate(pieces)[: round(seconds * RATE)], RATE, subtype="PCM_16")


def _random_glam(path: Path) -> Path:
    """A GLAM with random weights and unit normalisation, saved as ``serkit train`` saves a checkpoint."""
    import torch

    from serkit.config import InputConfig
    from serkit.features.base import feature_from_dict
    from serkit.models import create_model
    from serkit.training.checkpoint import save_checkpoint

    if path.exists():
        return path
    torch.manual_seed(0)
    labels = ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"]
    save_checkpoint(
        path,
        {
            "serkit_version": "benchmark",
            "model_name": "glam",
            "model_args": {"num_classes": len(labels)},
            "label_names": labels,
            "feature": feature_from_dict({"name": "mfcc", "n_mfcc": 26}).to_dict(),
            "input": dataclasses.asdict(InputConfig(window=1.8, hop=0.2, eval_hop=0.2)),
            "standardizer": {"mean": [0.0] * 26, "std": [1.0] * 26},
            "epoch": 1,
            "state_dict": create_model("glam", num_classes=len(labels)).state_dict(),
        },
    )
    return path


def _child(model: str, audio: str, output: str, threads: int) -> None:
    """Run ``serkit predict --segments`` in this process; print its wall time and peak RSS as JSON."""
    from serkit.cli import main

    start = time.perf_counter()
    code = main(
        ["predict", model, audio, "--segments", "--format", "csv", "-o", output, "--threads", str(threads)]
    )
    seconds = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    print(json.dumps({"code": code, "seconds": seconds, "peak_mib": peak_mib}))


def _measure(model: Path, audio: Path, threads: int) -> dict:
    from serkit.audio import io as audio_io

    output = audio.with_suffix(".segments.csv")
    done = subprocess.run(
        [sys.executable, __file__, "--child", str(model), str(audio), str(output), "--threads", str(threads)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"{audio}: serkit predict --segments failed:\n{done.stderr}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    duration = audio_io.duration(audio)
    regions = len(output.read_text().splitlines()) - 1
    return {**result, "audio_seconds": duration, "rtf": result["seconds"] / duration, "regions": regions}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="checkpoint, run folder or .onnx (default: random GLAM)")
    parser.add_argument("--workdir", type=Path, help="where the long files go (default: a temporary folder)")
    parser.add_argument("--hours", type=float, default=1.0, help="length of the long file")
    parser.add_argument("--threads", type=int, default=1, help="model threads (serkit predict --threads)")
    parser.add_argument("--child", nargs=3, metavar=("MODEL", "AUDIO", "OUTPUT"), help=argparse.SUPPRESS)
    parser.add_argument("--build", nargs=2, metavar=("SECONDS|model", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child, args.threads)
        return
    if args.build:
        if args.build[0] == "model":
            _random_glam(Path(args.build[1]))
        else:
            _concatenate(
                sorted((RAVDESS / "audio").glob("*.flac")), float(args.build[0]), Path(args.build[1])
            )
        return
    files = sorted((RAVDESS / "audio").glob("*.flac"))
    if not files:
        raise SystemExit(f"{RAVDESS}: no RAVDESS audio found; this benchmark concatenates its files.")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="serkit_long_audio_"))
    if workdir.resolve().is_relative_to(RAVDESS.resolve()):
        raise SystemExit(
            f"--workdir {workdir}: lies inside the corpus {RAVDESS}; choose a folder outside it."
        )
    workdir.mkdir(parents=True, exist_ok=True)
    model = args.model or workdir / "glam_random.pt"
    if args.model is None:
        subprocess.run([sys.executable, __file__, "--build", "model", str(model)], check=True)
    results = {}
    for name, seconds in (("1 minute", 60.0), (f"{args.hours:g} hour", 3600.0 * args.hours)):
        audio = workdir / f"ravdess_{round(seconds)}s.wav"
        # in its own process: Linux reports the parent's peak at fork as the child's ru_maxrss floor
        subprocess.run([sys.executable, __file__, "--build", str(seconds), str(audio)], check=True)
        results[name] = _measure(model, audio, args.threads)
        r = results[name]
        print(
            f"{name:>10}: {r['audio_seconds']:7.0f} s audio, {r['regions']:5d} regions, {r['seconds']:7.1f} s "
            f"wall, RTF {r['rtf']:.4f}, peak RSS {r['peak_mib']:.0f} MiB",
            flush=True,
        )
    short, long = results.values()
    print(f"peak RSS hour / minute: {long['peak_mib'] / short['peak_mib']:.2f} (files in {workdir})")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
