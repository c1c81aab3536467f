"""DCNN-BLSTMwA inference speed at the real size: one 4 s utterance = 11 segments of 3 x 227 x 227.

Times, per utterance, with torch limited to 1 and then 2 threads:

* ``features``: the ``dcnn_segments`` feature (pad to 4 s, log-mel, deltas, normalisation, 11 resized segments);
* ``alexnet``: stage 1's model on the 11 segments as one batch (its utterance prediction is their mean logit);
* ``dcnn_blstm``: stage 2's model on the (1, 11, 3, 227, 227) stack (AlexNet fc7 per segment, BiLSTM, attention);
* ``alexnet (64 px + resize_to)``: the memory-saving set-up of the ESD / JTES recipes (64 x 64 segments cached,
  resized inside the model).

Weights are random (the speed does not depend on them). Not part of the test suite; run by hand:

    python benchmarks/dcnn_inference.py                 # 10 timed runs after 2 warm-ups
    python benchmarks/dcnn_inference.py --repeats 20 --threads 1 2

It prints the median and the fastest time per utterance in milliseconds. On a shared machine the median moves
with the other load; the minimum is the better estimate of the cost itself.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

from serkit.features import DCNNSegmentsConfig
from serkit.models import count_parameters, create_model

SAMPLE_RATE = 16000


def _time(function: Callable[[], object], repeats: int, warmup: int) -> tuple[float, float]:
    """(median, minimum) wall time of ``function`` in milliseconds."""
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    waveform = (0.1 * rng.standard_normal(4 * SAMPLE_RATE)).astype(np.float32)
    feature = DCNNSegmentsConfig(max_seconds=4.0)
    small_feature = DCNNSegmentsConfig(max_seconds=4.0, image_size=64)
    torch.manual_seed(0)
    alexnet = create_model("alexnet", num_classes=4).eval()
    alexnet_resizing = create_model("alexnet", num_classes=4, resize_to=227).eval()
    blstm = create_model("dcnn_blstm", num_classes=4).eval()
    images = feature.compute(waveform)  # (11, 3, 227, 227)
    small = small_feature.compute(waveform)  # (11, 3, 64, 64)
    segments = images.shape[0]
    as_frames = images[:, None]  # stage 1 at prediction: 11 chunks of one segment each
    as_utterance, lengths = images[None], torch.tensor([segments])
    print(
        f"one 4 s utterance: {segments} segments of {tuple(images.shape[1:])}; alexnet "
        f"{count_parameters(alexnet):,} parameters, dcnn_blstm {count_parameters(blstm):,}"
    )
    cases = {
        "features (dcnn_segments, 227 px)": lambda: feature.compute(waveform),
        "alexnet, 11 segments": lambda: alexnet(as_frames, torch.ones(segments, dtype=torch.long)),
        "dcnn_blstm, 1 x 11 segments": lambda: blstm(as_utterance, lengths),
        "alexnet (64 px + resize_to 227)": lambda: alexnet_resizing(
            small[:, None], torch.ones(segments, dtype=torch.long)
        ),
    }
    print(
        f"{'per utterance':<36}" + "".join(f"{f'{t} thread(s): median / min ms':>34}" for t in args.threads)
    )
    results = {name: [] for name in cases}
    for threads in args.threads:
        torch.set_num_threads(threads)
        with torch.inference_mode():
            for name, function in cases.items():
                results[name].append(_time(function, args.repeats, args.warmup))
    for name, values in results.items():
        print(f"{name:<36}" + "".join(f"{f'{median:.1f} / {fastest:.1f}':>34}" for median, fastest in values))


if __name__ == "__main__":
    main()
