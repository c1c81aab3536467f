"""Shared test fixtures: tiny generated audio and the location of the real corpora."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

# `runner.jobs: 0` (automatic) trains the runs of a recipe in worker processes; the tests run them in-process (as
# the monkeypatches of some tests need) unless a test asks for jobs (tests/training/test_jobs.py)
os.environ.setdefault("SERKIT_JOBS", "1")

#: ``../shared/data`` next to the checkout (present in CI, absent in a user's fresh clone).
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def shared_corpus(name: str) -> Path:
    """Path of a real corpus in ../shared/data, or skip the test with the reason."""
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"real corpus {path} is not present (it sits beside the checkout in CI)")
    return path


def write_tone(
    path: Path,
    seconds: float = 0.5,
    sample_rate: int = 16000,
    channels: int = 1,
    frequency: float = 220.0,
    subtype: str | None = None,
) -> Path:
    """Write a short sine tone (any soundfile format by extension) and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    wave = 0.3 * np.sin(2 * np.pi * frequency * t).astype(np.float32)
    data = np.stack([wave * (c + 1) / channels for c in range(channels)], axis=1) if channels > 1 else wave
    sf.write(path, data, sample_rate, subtype=subtype)
    return path


@pytest.fixture
def tone(tmp_path: Path):
    """Factory fixture: ``tone("a/b.wav", seconds=1.0)`` writes a tone under tmp_path."""

    def make(relative: str, **kwargs) -> Path:
        return write_tone(tmp_path / relative, **kwargs)

    return make


def tree_state(root: Path) -> dict[str, tuple[int, int, str]]:
    """Relative path -> (size, mtime_ns, sha1) of everything under ``root``; loaders must not change it."""
    state = {}
    for path in sorted(root.rglob("*")):
        stat = path.stat()
        digest = hashlib.sha1(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        state[str(path.relative_to(root))] = (stat.st_size if path.is_file() else 0, stat.st_mtime_ns, digest)
    return state


@pytest.fixture(autouse=True)
def _one_thread():
    """One intra-op thread per test: on a busy 2-core machine two OpenMP threads make small batches ~10x slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def input_shapes_seen(model: torch.nn.Module, modules: dict[str, torch.nn.Module], features: torch.Tensor):
    """Input shape of each named submodule during one forward pass of an acoustic model, and its logits."""
    seen: dict[str, tuple[int, ...]] = {}

    def record(key: str):
        def hook(_module, args) -> None:
            seen.setdefault(key, tuple(args[0].shape))

        return hook

    hooks = [module.register_forward_pre_hook(record(key)) for key, module in modules.items()]
    try:
        logits = model(features, torch.full((features.shape[0],), features.shape[1]))
    finally:
        for hook in hooks:
            hook.remove()
    return seen, logits


@pytest.fixture(scope="session")
def tiny_hubert(tmp_path_factory) -> Path:
    """A tiny random HuBERT folder (tests/hubert_fakes.py), written once per test session."""
    from hubert_fakes import save_tiny_hubert

    return save_tiny_hubert(tmp_path_factory.mktemp("tiny_hubert"))


@pytest.fixture(scope="session")
def iemocap5(tmp_path_factory) -> Path:
    """A fake 5-session IEMOCAP with harmonic generated audio."""
    from hubert_fakes import fake_iemocap5

    return fake_iemocap5(tmp_path_factory.mktemp("iemocap5"))
