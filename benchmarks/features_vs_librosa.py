"""Feature throughput: serkit's torch features against librosa, measured in the same run.

Times GLAM's MFCC (26 coefficients, librosa defaults) and DCNN-BLSTMwA's three-channel 64-band log-mel
(static + delta + delta-delta) on N clips of a few seconds, one clip at a time ("per clip") and all clips in one
call ("batched"; for librosa that is its multichannel input), with torch limited to 1 and then 2 threads (BLAS
behind numpy is limited the same way when threadpoolctl is installed, as it is with scikit-learn).

Not part of the test suite; run by hand:

    python benchmarks/features_vs_librosa.py                  # RAVDESS clips if ../shared/data is present
    python benchmarks/features_vs_librosa.py --source synthetic --clips 32 --seconds 3

It prints one table (clips per second and the ratio ours / librosa) and the largest difference between the two
implementations on the first clip, so a speed-up never hides a numerical change.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch

from serkit.audio import load
from serkit.audio.transforms import pad_or_truncate, pre_emphasis
from serkit.features import MFCCConfig, ThreeChannelLogMelConfig

SAMPLE_RATE = 16000
RAVDESS = Path(__file__).resolve().parents[2] / "shared" / "data" / "ravdess" / "audio"


def synthetic_clips(count: int, seconds: float, seed: int) -> np.ndarray:
    """(count, samples) float32: harmonic tones with vibrato plus noise, different per clip."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    clips = []
    for _ in range(count):
        f0 = rng.uniform(100, 300)
        phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.05 * np.sin(2 * np.pi * 5 * t))) / SAMPLE_RATE
        voice = sum(np.sin(k * phase) / k for k in range(1, 8)) * (0.5 + 0.5 * np.sin(2 * np.pi * 0.7 * t))
        clips.append(0.2 * voice + 0.01 * rng.standard_normal(t.size))
    return np.stack(clips).astype(np.float32)


def ravdess_clips(count: int, seconds: float) -> np.ndarray:
    """(count, samples) float32: the first ``count`` RAVDESS files (read in place), cut or padded to ``seconds``."""
    files = sorted(RAVDESS.glob("*.flac")) + sorted(RAVDESS.glob("*.wav"))
    if len(files) < count:
        raise SystemExit(f"{RAVDESS} has {len(files)} files; ask for --clips <= {len(files)}.")
    num_samples = int(seconds * SAMPLE_RATE)
    return np.stack([pad_or_truncate(load(path, SAMPLE_RATE), num_samples) for path in files[:count]])


def librosa_mfcc(librosa, clips: np.ndarray) -> np.ndarray:
    """GLAM's call: librosa.feature.mfcc(y, sr=16000, n_mfcc=26)."""
    return librosa.feature.mfcc(y=clips, sr=SAMPLE_RATE, n_mfcc=26)


def librosa_dcnn(librosa, clips: np.ndarray) -> np.ndarray:
    """The DCNN image with librosa: pre-emphasis, +1e-8, HTK mel (64 bands, 20 Hz-8 kHz), log, deltas."""
    mel = librosa.feature.melspectrogram(
        y=pre_emphasis(clips, 0.97) + 1e-8,
        sr=SAMPLE_RATE,
        n_fft=400,
        hop_length=160,
        n_mels=64,
        fmin=20.0,
        htk=True,
        pad_mode="reflect",
    )
    static = np.log(mel + 1e-10)
    delta = librosa.feature.delta(static, width=5, mode="nearest")
    return np.stack([static, delta, librosa.feature.delta(delta, width=5, mode="nearest")], axis=-3)


def best_time(function: Callable[[], object], repeats: int) -> float:
    """Fastest of ``repeats`` runs after one warm-up run, in seconds."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def run(function: Callable[[np.ndarray], object], clips: np.ndarray, mode: str) -> None:
    """Apply ``function`` to every clip ("per clip") or once to the (clips, samples) array ("batched")."""
    if mode == "per clip":
        for clip in clips:
            function(clip)
    else:
        function(clips)


@contextlib.contextmanager
def thread_limit(threads: int) -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # then numpy's BLAS uses its own default
        limiter = contextlib.nullcontext()
    else:
        limiter = threadpool_limits(limits=threads)
    try:
        with limiter:
            yield
    finally:
        torch.set_num_threads(previous)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=32, help="number of clips (default 32)")
    parser.add_argument("--seconds", type=float, default=3.0, help="clip length in seconds (default 3)")
    parser.add_argument(
        "--source",
        choices=("auto", "ravdess", "synthetic"),
        default="auto",
        help="auto = RAVDESS when ../shared/data/ravdess is present, else synthetic",
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per measurement; the best is kept")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts to measure")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic clips")
    args = parser.parse_args()

    import librosa  # a benchmark-only dependency

    source = args.source
    if source == "auto":
        source = "ravdess" if RAVDESS.is_dir() else "synthetic"
    clips = (
        ravdess_clips(args.clips, args.seconds)
        if source == "ravdess"
        else synthetic_clips(args.clips, args.seconds, args.seed)
    )

    mfcc = MFCCConfig()
    dcnn = ThreeChannelLogMelConfig()
    features = {
        "mfcc (GLAM, 26)": (lambda x: mfcc.compute(x), lambda x: librosa_mfcc(librosa, x)),
        "3ch log-mel (DCNN, 64)": (lambda x: dcnn.compute(x), lambda x: librosa_dcnn(librosa, x)),
    }

    print(
        f"{len(clips)} clips of {args.seconds:g} s ({source}), torch {torch.__version__}, "
        f"librosa {librosa.__version__}, best of {args.repeats}\n"
    )
    for name, (ours, reference) in features.items():
        difference = np.abs(ours(clips[0]).numpy() - reference(clips[0])).max()
        print(f"{name}: max |ours - librosa| on clip 0 = {difference:.2e}")
    print()

    header = f"| {'feature':<24} | {'mode':<9} | threads | ours clips/s | librosa clips/s | ours / librosa |"
    print(header)
    print("|" + "|".join("-" * (len(part)) for part in header.split("|")[1:-1]) + "|")
    for name, (ours, reference) in features.items():
        for threads in args.threads:
            with thread_limit(threads):
                for mode in ("per clip", "batched"):
                    ours_rate = len(clips) / best_time(lambda f=ours, m=mode: run(f, clips, m), args.repeats)
                    reference_rate = len(clips) / best_time(
                        lambda f=reference, m=mode: run(f, clips, m), args.repeats
                    )
                    print(
                        f"| {name:<24} | {mode:<9} | {threads:>7} | {ours_rate:>12.1f} | {reference_rate:>15.1f} "
                        f"| {ours_rate / reference_rate:>13.2f}x |"
                    )
    print(
        "\nbatched librosa = librosa's multichannel input (one call on a (clips, samples) array); note that "
        "librosa then applies MFCC's top_db floor over the whole batch, serkit per clip."
    )


if __name__ == "__main__":
    main()
