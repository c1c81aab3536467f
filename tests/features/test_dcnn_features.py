"""DCNN-BLSTMwA's ``dcnn_segments`` feature against independent references (SEEDS.md 4.3).

References: librosa's mel spectrogram (HTK scale, Slaney norm, reflect-padded centred frames), a direct loop
implementation of torchaudio's ``compute_deltas`` formula, and Pillow's bilinear resize (torchvision's antialiased
tensor resize was written to match it). Tolerances are from measurements on this machine, with margin: mel power
relative 1e-5 in float64 (measured 7e-8); the whole pipeline 1e-4 absolute on ImageNet-normalised values in float64
(measured 3e-7; 8e-5 with float32 audio); resize 1e-4 (measured 5e-6).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from serkit.config import InputConfig
from serkit.features import DCNNSegmentsConfig, feature_from_dict
from serkit.features.dcnn import IMAGENET_MEAN, IMAGENET_STD, resize_images
from serkit.features.pipeline import InputPipeline

librosa = pytest.importorskip("librosa", reason="librosa is the mel reference (pip install librosa)")
Image = pytest.importorskip("PIL.Image", reason="Pillow is the resize reference")

SR = 16000


def speechlike(seconds: float, *, seed: int = 0, dtype=np.float32) -> np.ndarray:
    """A harmonic tone with vibrato plus a little noise: every mel band gets energy."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    f0 = 150 + 20 * np.sin(2 * np.pi * 3 * t)
    phase = 2 * np.pi * np.cumsum(f0) / SR
    wave = sum(np.sin(k * phase) / k for k in range(1, 20)) * 0.1 + 0.01 * rng.standard_normal(t.size)
    return wave.astype(dtype)


def deltas_by_formula(features: np.ndarray, win_length: int = 5) -> np.ndarray:
    """torchaudio.functional.compute_deltas written out: replicate-padded, d[t] = sum k (c[t+k] - c[t-k]) / (2 sum k^2)."""
    n = (win_length - 1) // 2
    frames = features.shape[-1]
    padded = np.concatenate(
        [np.repeat(features[..., :1], n, -1), features, np.repeat(features[..., -1:], n, -1)], axis=-1
    )
    out = np.zeros_like(features)
    for t in range(frames):
        for k in range(1, n + 1):
            out[..., t] += k * (padded[..., t + n + k] - padded[..., t + n - k])
    return out / (2 * sum(k * k for k in range(1, n + 1)))


def reference_segments(y: np.ndarray, *, max_seconds: float, image_size: int) -> np.ndarray:
    """The whole SEEDS 4.3 pipeline from librosa, numpy and Pillow: (segments, 3, image_size, image_size)."""
    samples = round(max_seconds * SR)
    y = np.pad(y, (0, max(0, samples - len(y))))[:samples].astype(np.float64)
    emphasised = np.concatenate([y[:1], y[1:] - 0.97 * y[:-1]]) + 1e-8
    mel = librosa.feature.melspectrogram(
        y=emphasised,
        sr=SR,
        n_fft=400,
        win_length=400,
        hop_length=160,
        n_mels=64,
        fmin=20.0,
        htk=True,
        norm="slaney",
        center=True,
        pad_mode="reflect",
    )
    static = np.log(mel)
    delta = deltas_by_formula(static)
    image = np.stack([static, delta, deltas_by_formula(delta)])  # (3, 64, frames)
    low, high = image.min(axis=(1, 2), keepdims=True), image.max(axis=(1, 2), keepdims=True)
    image = (image - low) / (high - low)
    image = (image - np.array(IMAGENET_MEAN)[:, None, None]) / np.array(IMAGENET_STD)[:, None, None]
    count = int((image.shape[-1] - 64) / 32 + 1)  # the original's formula
    segments = []
    for s in range(count):
        block = image[:, :, 32 * s : 32 * s + 64].astype(np.float32)
        segments.append(
            np.stack(
                [
                    np.asarray(
                        Image.fromarray(channel, mode="F").resize((image_size, image_size), Image.BILINEAR)
                    )
                    for channel in block
                ]
            )
            if image_size != 64
            else block
        )
    return np.stack(segments)


@pytest.mark.parametrize("seconds, segments", [(3.0, 8), (4.0, 11)])
def test_segment_counts_and_shape(seconds, segments):
    config = DCNNSegmentsConfig(max_seconds=seconds)
    out = config.compute(speechlike(2.5))  # shorter than max_seconds: zero-padded first
    assert out.shape == (segments, 3, 227, 227) and out.dtype == torch.float32
    assert config.num_frames(12345) == segments and config.feature_shape == (3, 227, 227)
    assert DCNNSegmentsConfig.frame_axis == 1
    assert torch.isfinite(out).all()


def test_mel_power_equals_librosa_htk_slaney():
    y = speechlike(1.0, dtype=np.float64)
    config = DCNNSegmentsConfig(max_seconds=1.0, pre_emphasis=0.0, waveform_offset=0.0)
    ours = config._log_mel().mel_power(torch.from_numpy(y)[None])[0].numpy()
    ref = librosa.feature.melspectrogram(
        y=y,
        sr=SR,
        n_fft=400,
        win_length=400,
        hop_length=160,
        n_mels=64,
        fmin=20.0,
        htk=True,
        norm="slaney",
        center=True,
        pad_mode="reflect",
    )
    assert ours.shape == ref.shape == (64, 101)
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-12 * ref.max())


def test_deltas_equal_the_torchaudio_formula():
    y = speechlike(1.0, dtype=np.float64)
    image = DCNNSegmentsConfig(max_seconds=1.0).log_mel_image(torch.from_numpy(y)[None])[0].numpy()
    np.testing.assert_allclose(image[1], deltas_by_formula(image[0]), atol=1e-10)
    np.testing.assert_allclose(image[2], deltas_by_formula(image[1]), atol=1e-10)


@pytest.mark.parametrize("image_size", [64, 100])
def test_whole_pipeline_equals_reference(image_size):
    # Speech over the whole 1.5 s: a zero-padded tail would hold only FFT round-off (no floor, as the original),
    # which differs between FFT libraries and sets the min-max range (see the silence test below).
    y = speechlike(1.5, seed=1)
    ours = DCNNSegmentsConfig(max_seconds=1.5, image_size=image_size).compute(y.astype(np.float64)).numpy()
    ref = reference_segments(y, max_seconds=1.5, image_size=image_size)
    assert ours.shape == ref.shape == (3, 3, image_size, image_size)  # 151 frames -> 3 segments
    np.testing.assert_allclose(ours, ref, atol=1e-4)


def test_resize_matches_pillow_bilinear():
    images = torch.from_numpy(np.random.default_rng(0).random((2, 3, 64, 64)).astype(np.float32))
    for size in (227, 40):
        ours = resize_images(images, size).numpy()
        ref = np.stack(
            [
                [np.asarray(Image.fromarray(c, mode="F").resize((size, size), Image.BILINEAR)) for c in img]
                for img in images.numpy()
            ]
        )
        np.testing.assert_allclose(ours, ref, atol=1e-4)
    assert resize_images(images, 64) is images


def test_pad_truncate_and_lengths():
    config = DCNNSegmentsConfig(max_seconds=2.0, image_size=64)
    long = speechlike(3.0)
    torch.testing.assert_close(
        config.compute(long), config.compute(long[: 2 * SR])
    )  # truncated to max_seconds
    short = speechlike(1.2, seed=3)
    batch = np.stack([long[: 2 * SR], np.pad(short, (0, 2 * SR - len(short)))])
    out = config.compute(batch, lengths=[2 * SR, len(short)])
    torch.testing.assert_close(out[1], config.compute(short))  # as if alone
    assert config.frame_lengths([2 * SR, len(short)]).tolist() == [5, 5]


def test_digital_silence_stays_finite_and_floor_option():
    silent = DCNNSegmentsConfig(max_seconds=1.0, image_size=64).compute(np.zeros(SR, dtype=np.float32))
    assert torch.isfinite(silent).all()
    y = speechlike(0.6)
    plain = DCNNSegmentsConfig(max_seconds=1.0).log_mel_image(torch.from_numpy(np.pad(y, (0, 6400)))[None])
    floored = DCNNSegmentsConfig(max_seconds=1.0, floor=1e-10).log_mel_image(
        torch.from_numpy(np.pad(y, (0, 6400)))[None]
    )
    # The original's padded frames sit far below any floor (FFT round-off of the 1e-8 offset); the floor lifts them.
    assert plain[0, 0, 10:, -20:].max() < -40 and floored[0, 0, 10:, -20:].min() > -23.1


def test_options_and_errors():
    config = feature_from_dict({"name": "dcnn_segments", "max_seconds": 3, "image_size": 32})
    assert isinstance(config, DCNNSegmentsConfig) and config.max_seconds == 3.0
    assert config.key() != DCNNSegmentsConfig(max_seconds=3.0).key()
    with pytest.raises(ValueError, match="max_sec"):
        feature_from_dict({"name": "dcnn_segments", "max_sec": 3})  # names the closest option
    with pytest.raises(ValueError, match="fewer than one segment"):
        DCNNSegmentsConfig(max_seconds=0.5)
    with pytest.raises(ValueError, match="image_size"):
        DCNNSegmentsConfig(image_size=0)


def test_pipeline_caches_once_and_splits_frames(tmp_path: Path, monkeypatch):
    path = tmp_path / "a.wav"
    sf.write(path, speechlike(1.0), SR)
    feature = DCNNSegmentsConfig(max_seconds=1.0, image_size=64)
    calls = []
    original = DCNNSegmentsConfig._compute_batch
    monkeypatch.setattr(
        DCNNSegmentsConfig, "_compute_batch", lambda self, w: calls.append(1) or original(self, w)
    )
    cache = tmp_path / "cache"
    frames = InputPipeline(feature, InputConfig(mode="frames", normalize="none"), cache_dir=cache)
    first = frames.chunks(path, train=True)
    again = frames.chunks(path, train=False)
    assert first.shape == (2, 1, 3, 64, 64) and len(calls) == 1  # computed once, then read from the cache
    np.testing.assert_array_equal(first, again)
    whole = InputPipeline(feature, InputConfig(mode="utterance", normalize="none"), cache_dir=cache).chunks(
        path
    )
    assert whole.shape == (1, 2, 3, 64, 64) and len(calls) == 1  # frames and utterance mode share one entry
    np.testing.assert_array_equal(whole[0], first[:, 0])
