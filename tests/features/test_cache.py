"""The feature disk cache: hits, misses on a new config or new content, corrupt entries, atomic writes."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from serkit.features import FeatureCache, MFCCConfig
from serkit.features import cache as cache_module


class CountingCompute:
    """A compute callable that counts its calls and returns a distinct array each time."""

    def __init__(self, shape: tuple[int, ...] = (4, 5)) -> None:
        self.calls = 0
        self.shape = shape

    def __call__(self) -> np.ndarray:
        self.calls += 1
        return np.full(self.shape, float(self.calls), dtype=np.float32)


@pytest.fixture
def audio(tmp_path: Path) -> Path:
    path = tmp_path / "audio" / "a.wav"
    path.parent.mkdir()
    path.write_bytes(b"RIFF-not-really-audio-but-bytes-are-all-the-cache-hashes")
    return path


def _temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and p.suffix != ".npy"]


def test_second_call_is_served_from_disk(tmp_path: Path, audio: Path):
    cache, compute = FeatureCache(tmp_path / "cache"), CountingCompute()
    first = cache.get_or_compute(audio, "mfcc-v1-abc", compute)
    second = cache.get_or_compute(audio, "mfcc-v1-abc", compute)
    assert compute.calls == 1 and (cache.hits, cache.misses) == (1, 1)
    np.testing.assert_array_equal(first, second)
    assert second.dtype == np.float32
    # A new cache object (a new run) finds the entry too.
    assert FeatureCache(tmp_path / "cache").get_or_compute(audio, "mfcc-v1-abc", compute)[0, 0] == 1.0
    assert compute.calls == 1


def test_layout_is_config_key_then_digest(tmp_path: Path, audio: Path):
    cache = FeatureCache(tmp_path / "cache")
    cache.get_or_compute(audio, "mfcc-v1-abc", CountingCompute())
    digest = cache.digest(audio)
    assert (tmp_path / "cache" / "mfcc-v1-abc" / digest[:2] / f"{digest}.npy").is_file()
    assert (
        cache.path_for(audio, "mfcc-v1-abc")
        == tmp_path / "cache" / "mfcc-v1-abc" / digest[:2] / f"{digest}.npy"
    )


def test_changed_config_key_recomputes(tmp_path: Path, audio: Path):
    cache, compute = FeatureCache(tmp_path / "cache"), CountingCompute()
    cache.get_or_compute(audio, MFCCConfig().key(), compute)
    out = cache.get_or_compute(audio, MFCCConfig(n_mfcc=13).key(), compute)
    assert compute.calls == 2 and out[0, 0] == 2.0


def test_changed_file_content_recomputes(tmp_path: Path, audio: Path):
    cache, compute = FeatureCache(tmp_path / "cache"), CountingCompute()
    cache.get_or_compute(audio, "k", compute)
    stat = audio.stat()
    audio.write_bytes(b"other bytes of the very same length as before, padded!!!")
    # Same size and a restored-then-bumped mtime: only the content and the mtime differ.
    os.utime(audio, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    out = cache.get_or_compute(audio, "k", compute)
    assert compute.calls == 2 and out[0, 0] == 2.0


def test_identical_content_at_another_path_hits(tmp_path: Path, audio: Path):
    cache, compute = FeatureCache(tmp_path / "cache"), CountingCompute()
    cache.get_or_compute(audio, "k", compute)
    copy = tmp_path / "elsewhere" / "renamed.wav"
    copy.parent.mkdir()
    copy.write_bytes(audio.read_bytes())
    cache.get_or_compute(copy, "k", compute)
    assert compute.calls == 1


def test_digest_is_hashed_once_per_path_size_and_mtime(tmp_path: Path, audio: Path, monkeypatch):
    calls = []
    real_digest = cache_module.file_digest
    monkeypatch.setattr(cache_module, "file_digest", lambda path: calls.append(path) or real_digest(path))
    cache, compute = FeatureCache(tmp_path / "cache"), CountingCompute()
    for key in ("k1", "k2", "k1", "k2"):
        cache.get_or_compute(audio, key, compute)
    assert len(calls) == 1
    os.utime(audio, ns=(audio.stat().st_atime_ns, audio.stat().st_mtime_ns + 5_000_000))
    cache.get_or_compute(audio, "k1", compute)
    assert len(calls) == 2  # a touched file is hashed again


@pytest.mark.parametrize("damage", ["truncate", "empty", "garbage"])
def test_corrupt_entry_is_deleted_and_recomputed_with_a_warning(tmp_path: Path, audio: Path, caplog, damage):
    cache, compute = FeatureCache(tmp_path / "cache"), CountingCompute(shape=(40, 50))
    cache.get_or_compute(audio, "k", compute)
    entry = cache.path_for(audio, "k")
    data = entry.read_bytes()
    entry.write_bytes({"truncate": data[: len(data) // 2], "empty": b"", "garbage": b"\x00" * 300}[damage])
    with caplog.at_level(logging.WARNING, logger="serkit.features.cache"):
        out = cache.get_or_compute(audio, "k", compute)
    assert compute.calls == 2 and out.shape == (40, 50) and out[0, 0] == 2.0
    assert "unreadable" in caplog.text and str(entry) in caplog.text
    np.testing.assert_array_equal(np.load(entry), out)  # the rewritten entry is whole again


def test_no_temporary_files_are_left_behind(tmp_path: Path, audio: Path):
    cache = FeatureCache(tmp_path / "cache")
    for key in ("a", "b", "c"):
        cache.get_or_compute(audio, key, CountingCompute())

    def failing() -> np.ndarray:
        raise RuntimeError("feature extraction failed")

    with pytest.raises(RuntimeError):
        cache.get_or_compute(audio, "d", failing)
    assert _temp_files(tmp_path / "cache") == []
    assert len(list((tmp_path / "cache").rglob("*.npy"))) == 3


def test_torch_results_are_stored_and_returned_as_numpy(tmp_path: Path, audio: Path):
    cache = FeatureCache(tmp_path / "cache")
    config = MFCCConfig()
    out = cache.get_or_compute(audio, config.key(), lambda: config.compute(torch.zeros(4000)))
    assert isinstance(out, np.ndarray) and out.shape == (26, 8) and out.dtype == np.float32
    again = cache.get_or_compute(audio, config.key(), lambda: pytest.fail("must not recompute"))
    np.testing.assert_array_equal(out, again)


def test_bad_inputs(tmp_path: Path, audio: Path):
    cache = FeatureCache(tmp_path / "cache")
    with pytest.raises(ValueError, match="config_key"):
        cache.get_or_compute(audio, "../escape", CountingCompute())
    with pytest.raises(FileNotFoundError):
        cache.get_or_compute(tmp_path / "missing.wav", "k", CountingCompute())
    with pytest.raises(TypeError, match="object array"):
        cache.get_or_compute(audio, "k", lambda: np.array([{"a": 1}], dtype=object))
