"""Feature throughput: serkit's torch features against librosa, measured in the same run.

Times GLAM's MFCC (26 coefficients, librosa defaults) and DCNN-BLSTMwA's three-channel 64-band log-mel
(static + delta + delta-delta) on N clips of a few seconds, one clip at a time ("per clip") and all clips in one
call ("batched"; for librosa that is its multichannel input), with torch limited to 1 and then 2 threads (BLAS
behind numpy is limited the same way when threadpoolctl is installed, as it is with scikit-learn). The four
variants of a feature are timed interleaved (one run of each in turn, best of ``--repeats``), so that load from
other processes hits them alike.

Not part of the test suite; run by hand:

    python benchmarks/features_vs_librosa.py                  # RAVDESS clips if ../shared/data is present
    python benchmarks/features_vs_librosa.py --source synthetic --clips 32 --seconds 3

It prints the largest difference between the two implementations (ours batched against librosa clip by clip, over
all clips), then one table: clips per second, ours / librosa in the same mode, and for the batched rows ours /
librosa per clip (the figure of the speed requirement: the batched path >= 5x librosa per clip on 1 thread).

Numerical difference (float32 audio, ``--source synthetic --clips 32 --seconds 3``, torch 2.13, librosa 0.11):
max |ours - librosa| over the 32 clips is 1.5e-4 for the MFCC (1.1e-4 on clip 0; coefficients of magnitude up to
~600) and 7.2e-4 for the 3-channel log-mel (natural-log units; 4.9e-4 on clip 0), the same maxima as before the
banded mel product and the chunking, which change only the float summation order. The difference comes from
float32: librosa runs its FFT in float64.
"""

from __future__ import annotations

import argparse
import contextlib
import math
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


def best_times(
    functions: dict[str, Callable[[], object]], repeats: int, *, min_seconds: float = 0.25
) -> dict[str, float]:
    """Fastest of ``repeats`` measurements of each function, in seconds per call, after one warm-up call.

    The functions take turns (interleaved), so a burst of load from elsewhere slows all of them rather than one.
    Each measurement times a block of back-to-back calls lasting at least ``min_seconds`` (as ``timeit.autorange``
    does): on this VM a core that has just been idle or busy with other code runs the next few milliseconds
    slower, and one call of a fast function (a batched feature: ~10 ms) would carry that fixed cost far more than
    one call of a slow one (librosa clip by clip: ~60 ms).
    """
    calls = {}
    for name, function in functions.items():
        start = time.perf_counter()
        function()
        calls[name] = max(1, math.ceil(min_seconds / max(time.perf_counter() - start, 1e-6)))
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            for _ in range(calls[name]):
                function()
            times[name].append((time.perf_counter() - start) / calls[name])
    return {name: min(values) for name, values in times.items()}


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
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per measurement; the best is kept")
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
        batched = ours(clips).numpy()
        difference = max(np.abs(batched[index] - reference(clip)).max() for index, clip in enumerate(clips))
        print(f"{name}: max |ours batched - librosa per clip| over the {len(clips)} clips = {difference:.2e}")
    print()

    header = (
        f"| {'feature':<24} | {'mode':<9} | threads | ours clips/s | librosa clips/s | ours / librosa "
        "| ours / librosa per clip |"
    )
    print(header)
    print("|" + "|".join("-" * (len(part)) for part in header.split("|")[1:-1]) + "|")
    modes = ("per clip", "batched")
    for name, (ours, reference) in features.items():
        for threads in args.threads:
            with thread_limit(threads):
                functions = {
                    (who, mode): (lambda f=function, m=mode: run(f, clips, m))
                    for who, function in (("ours", ours), ("librosa", reference))
                    for mode in modes
                }
                rates = {
                    key: len(clips) / seconds for key, seconds in best_times(functions, args.repeats).items()
                }
            for mode in modes:
                ours_rate, reference_rate = rates["ours", mode], rates["librosa", mode]
                versus_per_clip = (
                    f"{ours_rate / rates['librosa', 'per clip']:.2f}x" if mode == "batched" else ""
                )
                print(
                    f"| {name:<24} | {mode:<9} | {threads:>7} | {ours_rate:>12.1f} | {reference_rate:>15.1f} "
                    f"| {ours_rate / reference_rate:>13.2f}x | {versus_per_clip:>23} |"
                )
    print(
        "\nbatched librosa = librosa's multichannel input (one call on a (clips, samples) array); note that "
        "librosa then applies MFCC's top_db floor over the whole batch, serkit per clip."
    )


if __name__ == "__main__":
    main()
