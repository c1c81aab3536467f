"""Training and inference throughput of a model on MFCC segments, and the real-time factor of prediction.

Run by hand (never part of the tests):

    python benchmarks/training_throughput.py --model cnn_small --threads 1 2

Prints segments per second for training steps (forward + backward + Adam) and for inference, and the real-time
factor of ``Recognizer.timeline`` (audio seconds processed per wall-clock second, including reading, features and
the model) on a generated recording.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from serkit.config import InputConfig
from serkit.features.pipeline import InputPipeline, Normalizer
from serkit.inference.recognizer import Recognizer
from serkit.models import count_parameters, create_model


def _time(function, repeats: int) -> float:
    function()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="cnn_small")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--frames", type=int, default=57, help="frames per segment (GLAM 1.8 s MFCC: 57)")
    parser.add_argument("--features", type=int, default=26)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--recording-seconds", type=float, default=120.0)
    args = parser.parse_args()

    torch.manual_seed(0)
    model = create_model(args.model, num_classes=4, num_features=args.features)
    print(
        f"model {args.model}: {count_parameters(model):,} parameters; batch {args.batch_size} segments of "
        f"({args.frames} frames, {args.features} features)"
    )
    features = torch.randn(args.batch_size, args.frames, args.features)
    lengths = torch.full((args.batch_size,), args.frames)
    targets = torch.randint(0, 4, (args.batch_size,))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def train_step() -> None:
        model.train()
        loss = torch.nn.functional.cross_entropy(model(features, lengths), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    @torch.no_grad()
    def infer_step() -> None:
        model.eval()
        model(features, lengths)

    print("| threads | train segments/s | inference segments/s |")
    print("|---|---|---|")
    for threads in args.threads:
        torch.set_num_threads(threads)
        train = args.batch_size / _time(train_step, args.repeats)
        infer = args.batch_size / _time(infer_step, args.repeats)
        print(f"| {threads} | {train:,.0f} | {infer:,.0f} |")

    with tempfile.TemporaryDirectory() as folder:
        recording = Path(folder) / "long.wav"
        rng = np.random.default_rng(0)
        sf.write(
            recording,
            (0.05 * rng.standard_normal(int(args.recording_seconds * 16000))).astype(np.float32),
            16000,
        )
        pipeline = InputPipeline(
            {"name": "mfcc", "n_mfcc": args.features}, InputConfig(window=1.8, hop=0.2, eval_hop=0.2)
        )
        recognizer = Recognizer(model, pipeline, ["neutral", "happy", "sad", "angry"], Normalizer())
        print("\n| threads | predict --timeline real-time factor (audio s per wall s) |")
        print("|---|---|")
        for threads in args.threads:
            torch.set_num_threads(threads)
            start = time.perf_counter()
            entries = list(recognizer.timeline(recording, window=3.0, hop=3.0))
            elapsed = time.perf_counter() - start
            print(f"| {threads} | {args.recording_seconds / elapsed:,.0f}x ({len(entries)} windows) |")


if __name__ == "__main__":
    main()
