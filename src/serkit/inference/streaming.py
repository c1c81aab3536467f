"""Bounded memory for long inputs: block plans and block readers.

Files (and in-memory waveforms) longer than :data:`STREAM_SECONDS` are processed in blocks of at most that length
(:func:`plan_blocks`), and files are read one block at a time (:func:`file_source`), so a recording of any length
needs no more memory than one of :data:`STREAM_SECONDS`. ``Source``, ``TimelineEntry`` and ``file_timeline`` are
re-exported from :mod:`serkit.runtime.recordings` (torch-free, shared with the ONNX runtime).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from serkit.audio import io as audio_io
from serkit.config import InputConfig
from serkit.runtime.recordings import Source, TimelineEntry, file_timeline

__all__ = ["STREAM_SECONDS", "Source", "TimelineEntry", "file_source", "file_timeline", "plan_blocks"]

#: Files (and in-memory waveforms) longer than this many seconds are processed in blocks of at most this length,
#: so a long recording needs no more memory than one of this length. In ``input.mode: segments`` the result is the
#: whole input's (blocks overlap by window - hop); in ``utterance``/``frames`` mode only the first
#: ``input.eval_max_seconds`` are read if that is set, otherwise the logits of equal blocks are averaged (an
#: approximation: the model never sees more than this many seconds at once).
STREAM_SECONDS = 60.0


def plan_blocks(
    length: int, inputs: InputConfig, sample_rate: int, *, reads_audio: bool = True
) -> list[tuple[int, int, int]]:
    """Sample ranges (start, stop, first_new) covering an input of ``length`` samples, each at most
    :data:`STREAM_SECONDS` long (``first_new``: where samples not in the previous block begin).

    ``mode: segments``: blocks overlap by window - hop and start at multiples of the hop, so they hold exactly
    the windows of the whole input, each once; their summed chunk logits are the whole input's. Other modes
    feed a whole utterance to the model, which has no exact blockwise equivalent: the input is cut into equal
    non-overlapping blocks and the chunk logits of all blocks are averaged (``mode: utterance``: one chunk per
    block, so the mean of the blocks' logits).

    Args:
        length: samples of the input, at ``sample_rate``.
        inputs: the model's input config (mode, window, eval_hop).
        sample_rate: the model's rate in Hz.
        reads_audio: False for text-only models, whose input is never cut.
    """
    rate = sample_rate
    limit = round(STREAM_SECONDS * rate)
    if length <= limit or not reads_audio:
        return [(0, length, 0)]
    if inputs.mode == "segments":
        window, hop = round(inputs.window * rate), round(inputs.eval_hop * rate)
        if length < window:
            return [(0, length, 0)]
        total = (
            length - window
        ) // hop + 1  # windows in the whole input, as audio.transforms.segment cuts them
        per_block = max(1, (limit - window) // hop + 1)
        blocks = []
        for first in range(0, total, per_block):
            last = min(total, first + per_block) - 1
            start = first * hop
            blocks.append((start, last * hop + window, max(start, blocks[-1][1] if blocks else 0)))
        return blocks
    count = math.ceil(length / limit)
    edges = [round(i * length / count) for i in range(count + 1)]
    return [(a, b, a) for a, b in zip(edges[:-1], edges[1:])]


def file_source(path: Path, sample_rate: int, max_samples: int | None, *, reads_audio: bool = True) -> Source:
    """A reader of ``path`` at ``sample_rate`` (the model's), without decoding anything yet.

    Args:
        max_samples: how many samples the model uses (``input.eval_max_seconds``); None: the whole file.
        reads_audio: False for text-only models: the file is never opened and the reader gives no samples.
    """
    if not reads_audio:
        return str(path), lambda start, stop: np.zeros(0, dtype=np.float32), 0
    read, total = audio_io.block_reader(path, sample_rate)  # (read(start, stop), samples at sample_rate)
    return str(path), read, total if max_samples is None else min(total, max_samples)
