"""The ``egemaps`` feature: openSMILE functionals as one-frame features, registered like the spectral ones."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import serkit.features.opensmile as osf
from serkit.config import InputConfig
from serkit.features.base import FEATURES, feature_from_dict
from serkit.features.pipeline import InputPipeline

RAVDESS = Path(__file__).resolve().parents[3] / "shared" / "data" / "ravdess"


def _opensmile():
    return pytest.importorskip(
        "opensmile", reason="the egemaps feature needs the opensmile package (pip install opensmile)"
    )


def _tone(seconds: float = 1.0, frequency: float = 220.0, sample_rate: int = 16000) -> np.ndarray:
    """A tone with a slow vibrato and a little noise, so that pitch and its variation are defined."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    phase = 2 * np.pi * frequency * t + 3.0 * np.sin(2 * np.pi * 5.0 * t)
    noise = np.random.default_rng(0).normal(0.0, 0.01, len(t))
    return (0.3 * np.sin(phase) + noise).astype(np.float32)


def test_registered_and_built_from_a_recipe_mapping():
    assert FEATURES.get("egemaps") is osf.OpenSmileConfig
    config = feature_from_dict({"name": "egemaps", "feature_set": "GeMAPSv01b"})
    assert config.feature_shape == (62,) and config.num_features == 62
    assert config.num_frames(123) == config.num_frames(10**6) == 1
    assert config.key() != feature_from_dict({"name": "egemaps"}).key()


@pytest.mark.parametrize(
    ("option", "value"), [("feature_set", "eGeMAPS"), ("level", "lld"), ("sample_rate", 0)]
)
def test_bad_options_name_the_option(option, value):
    with pytest.raises(ValueError, match=option):
        osf.OpenSmileConfig(**{option: value})


def test_egemaps_functionals_of_a_tone_have_shape_88_by_1_and_are_finite():
    opensmile = _opensmile()
    config = osf.OpenSmileConfig()
    tone = _tone()
    single = config.compute(tone)
    batch = config.compute(np.stack([tone, _tone(frequency=330.0)]))
    assert tuple(single.shape) == (88, 1)
    assert tuple(batch.shape) == (2, 88, 1)
    assert torch.isfinite(batch).all()
    assert not torch.equal(batch[0], batch[1])  # a different pitch gives different functionals
    torch.testing.assert_close(batch[0], single)
    # the values are openSMILE's own, in its column order
    smile = opensmile.Smile(
        feature_set=opensmile.FeatureSet.eGeMAPSv02, feature_level=opensmile.FeatureLevel.Functionals
    )
    expected = smile.process_signal(tone, 16000).to_numpy(dtype=np.float32)[0]
    np.testing.assert_array_equal(single[:, 0].numpy(), expected)


def test_output_follows_the_input_dtype():
    _opensmile()
    out = osf.OpenSmileConfig().compute(_tone(0.5).astype(np.float64))
    assert out.dtype == torch.float64


def test_padded_batch_with_lengths_equals_each_example_alone():
    _opensmile()
    config = osf.OpenSmileConfig()
    short, long = _tone(0.5, 300.0), _tone(1.0)
    padded = np.stack([np.pad(short, (0, len(long) - len(short))), long])
    out = config.compute(padded, lengths=[len(short), len(long)])
    torch.testing.assert_close(out[0], config.compute(short))
    torch.testing.assert_close(out[1], config.compute(long))
    # without lengths the zero padding is part of the signal and changes the functionals
    assert not torch.equal(config.compute(padded)[0], out[0])


@pytest.mark.parametrize("feature_set", sorted(osf.FEATURE_SET_SIZES))
def test_declared_sizes_match_opensmile(feature_set):
    _opensmile()
    out = osf.OpenSmileConfig(feature_set=feature_set).compute(_tone(0.5))
    assert tuple(out.shape) == (osf.FEATURE_SET_SIZES[feature_set], 1)


def test_too_short_signal_raises_instead_of_returning_nan():
    _opensmile()
    with pytest.raises(ValueError, match="at least 0.06 s"):
        osf.OpenSmileConfig().compute(_tone(0.05))


def test_missing_package_says_how_to_install(monkeypatch):
    osf._smile.cache_clear()
    monkeypatch.setitem(sys.modules, "opensmile", None)  # makes `import opensmile` raise ImportError
    try:
        with pytest.raises(ImportError, match="pip install opensmile"):
            osf.OpenSmileConfig().compute(_tone(0.5))
    finally:
        osf._smile.cache_clear()  # do not keep a cache built while the package was hidden


def test_utterance_pipeline_gives_one_chunk_of_one_frame(tmp_path):
    _opensmile()
    import soundfile as sf

    path = tmp_path / "tone.wav"
    sf.write(path, _tone(1.2), 16000)
    pipeline = InputPipeline({"name": "egemaps"}, InputConfig(mode="utterance"), cache_dir=tmp_path / "cache")
    chunks = pipeline.chunks(path)
    assert chunks.shape == (1, 1, 88) and chunks.dtype == np.float32
    np.testing.assert_array_equal(pipeline.chunks(path), chunks)  # second call is served from the cache


@pytest.mark.realdata
def test_real_ravdess_speech_gives_finite_functionals():
    _opensmile()
    if not RAVDESS.is_dir():
        pytest.skip(f"real corpus {RAVDESS} is not present (it sits beside the checkout in CI)")
    from serkit.audio.io import load

    files = sorted(RAVDESS.glob("audio/*.flac"))[:2]
    if len(files) < 2:
        pytest.skip(f"no RAVDESS audio under {RAVDESS / 'audio'}")
    config = osf.OpenSmileConfig()
    out = config.compute(load(files[0], 16000))
    assert tuple(out.shape) == (88, 1) and torch.isfinite(out).all()
    assert not torch.equal(out, config.compute(load(files[1], 16000)))
