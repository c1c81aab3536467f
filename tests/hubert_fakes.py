"""Helpers of the CPT-HuBERT tests: a tiny random HuBERT folder and a small fake IEMOCAP with generated audio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
from fake_iemocap import fake_iemocap

#: A 2-layer, 32-wide HuBERT with a 3-convolution front end (receptive field 60 samples, stride 80: 200 frames/s).
TINY_HUBERT = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "conv_dim": (32, 32, 32),
    "conv_kernel": (10, 3, 3),
    "conv_stride": (5, 4, 4),
    "num_conv_pos_embeddings": 16,
    "num_conv_pos_embedding_groups": 4,
    "mask_time_prob": 0.05,
    "layerdrop": 0.0,
}

#: IEMOCAP codes of the fake corpus (exc is merged into happy by the cpt_hubert label set).
CODES = ["neu", "hap", "sad", "ang", "exc"]


def save_tiny_hubert(folder: Path, *, seed: int = 0, **overrides) -> Path:
    """A randomly initialised HubertModel + feature extractor, written with save_pretrained."""
    import torch
    import transformers

    torch.manual_seed(seed)
    transformers.HubertModel(transformers.HubertConfig(**{**TINY_HUBERT, **overrides})).save_pretrained(
        folder
    )
    transformers.Wav2Vec2FeatureExtractor(do_normalize=True).save_pretrained(folder)
    return folder


def write_voiced(path: Path, *, seconds: float, f0: float, seed: int, sample_rate: int = 16000) -> Path:
    """A harmonic tone with a little noise and a slow amplitude envelope (distinct per emotion through f0)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    wave = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in (1, 2, 3))
    wave = 0.2 * wave * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t)) + 0.01 * rng.standard_normal(len(t))
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, wave.astype(np.float32), sample_rate)
    return path


def fake_iemocap5(root: Path, *, sessions: int = 5, per_speaker: int = 4) -> Path:
    """The fake IEMOCAP of tests/fake_iemocap.py with harmonic 1.0-1.45 s utterances whose f0 follows the emotion."""

    def write(path: Path, session: int, gender: str, turn: int, code: str) -> None:
        write_voiced(
            path,
            seconds=1.0 + 0.15 * turn,
            f0=120.0 + 40 * CODES.index(code[:3]) + 5 * session,
            seed=100 * session + turn + 50 * (gender == "M"),
        )

    return fake_iemocap(root, sessions=sessions, per_speaker=per_speaker, codes=CODES, write=write)
