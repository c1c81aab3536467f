"""The speed helpers: the banded mel projection equals the dense one, chunked batches equal clips one at a time,
and the paths they feed (power != 2, the 3-channel deltas) still equal their references."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from serkit.features import LogMelConfig, MFCCConfig, ThreeChannelLogMelConfig, banded
from serkit.features.banded import BandedMatrix, band_groups, batch_chunks
from serkit.features.deltas import (
    regression_delta,
    regression_delta_into,
    regression_delta_padded,
    replicate_edges_,
)
from serkit.features.dsp import mel_filterbank, mel_spectrogram, stft_power

SR = 16000


def clips(count: int, seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    tones = np.sin(2 * np.pi * rng.uniform(100, 400, (count, 1)) * t) * 0.3
    return (tones + 0.05 * rng.standard_normal((count, t.size))).astype(np.float32)


@pytest.mark.parametrize(
    "n_fft, n_mels, fmin, fmax, htk, norm",
    [
        (2048, 128, 0.0, None, False, "slaney"),  # librosa's MFCC defaults
        (400, 64, 20.0, None, True, "slaney"),  # DCNN
        (400, 80, 0.0, None, False, "slaney"),
        (512, 40, 300.0, 6000.0, True, None),
        (1024, 26, 0.0, 4000.0, False, None),
        (256, 10, 50.0, 7000.0, False, "slaney"),
    ],
)
@pytest.mark.parametrize("repeat", [1, 2])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_banded_mel_projection_equals_dense(n_fft, n_mels, fmin, fmax, htk, norm, repeat, dtype):
    weights = mel_filterbank(
        SR, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=norm, dtype=dtype
    )
    features = torch.rand(
        3, 37, weights.shape[1] * repeat, dtype=dtype, generator=torch.Generator().manual_seed(0)
    )
    dense = features @ weights.repeat_interleave(repeat, dim=1).T
    for overhead in (0.0, 2000.0, 1e12):
        ours = BandedMatrix(weights, repeat=repeat, overhead=overhead)(features)
        torch.testing.assert_close(ours, dense, rtol=1e-5, atol=1e-5 * dense.abs().max().item())


def test_band_groups_cover_the_rows_and_skip_zeros():
    weights = mel_filterbank(SR, n_fft=2048, n_mels=128).numpy()
    groups = band_groups(weights)
    assert groups[0][0] == 0 and groups[-1][1] == 128
    assert all(a[1] == b[0] for a, b in zip(groups, groups[1:]))
    for first, end, low, high in groups:  # every non-zero weight of a group lies in its columns
        block = weights[first:end]
        assert not block[:, :low].any() and not block[:, high:].any()
    work = sum((end - first) * (high - low) for first, end, low, high in groups)
    assert work < 0.2 * weights.size  # ~12% of the dense product
    assert len(band_groups(weights, overhead=1e12)) == 1
    assert len(band_groups(weights, overhead=0.0)) == 128  # one group per band is then cheapest


def test_banded_matrix_zero_rows_out_and_errors():
    matrix = torch.tensor(
        [[0.0, 0.0, 0.0, 0.0], [1.0, 2.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 3.0, 4.0]]
    )
    features = torch.arange(8.0).reshape(2, 4)
    for overhead in (0.0, 5.0, 1e9):
        product = BandedMatrix(matrix, overhead=overhead)
        torch.testing.assert_close(product(features), features @ matrix.T, rtol=0, atol=0)
        out = torch.full((2, 4), float("nan"))
        assert product(features, out=out) is out
        torch.testing.assert_close(out, features @ matrix.T, rtol=0, atol=0)
    with pytest.raises(ValueError, match="columns"):
        BandedMatrix(matrix)(torch.ones(2, 5))
    with pytest.raises(ValueError, match="out"):
        BandedMatrix(matrix)(features, out=torch.empty(4, 2).T)
    with pytest.raises(ValueError, match="2-D"):
        BandedMatrix(torch.ones(3))
    with pytest.raises(ValueError, match="repeat"):
        BandedMatrix(matrix, repeat=0)


def test_batch_chunks():
    assert batch_chunks(10, 100, budget=350) == [slice(0, 3), slice(3, 6), slice(6, 9), slice(9, 10)]
    assert batch_chunks(10, 100, budget=10_000) == [slice(0, 10)]
    assert batch_chunks(3, 10**9, budget=1) == [slice(0, 1), slice(1, 2), slice(2, 3)]
    assert batch_chunks(0, 100) == [slice(0, 0)]


@pytest.mark.parametrize(
    "config",
    [
        MFCCConfig(),
        MFCCConfig(n_fft=512, hop_length=160, n_mels=40, n_mfcc=13, pad_mode="reflect"),
        LogMelConfig(),
        LogMelConfig(power=1.0, log_scale="db", pre_emphasis=0.5),
        ThreeChannelLogMelConfig(),
        ThreeChannelLogMelConfig(delta_win_length=9, minmax_normalize=True),
    ],
    ids=["mfcc", "mfcc-small", "log_mel", "log_mel-power1", "3ch", "3ch-win9-minmax"],
)
def test_chunked_batch_equals_whole_batch_and_each_clip(config, monkeypatch):
    waveforms = clips(5, 0.7)
    whole = config.compute(waveforms)  # the 5 short clips fit in one chunk
    monkeypatch.setattr(banded, "CHUNK_BYTES", 1)  # then one clip per chunk
    chunked = config.compute(waveforms)
    assert chunked.is_contiguous() and chunked.shape == whole.shape
    torch.testing.assert_close(chunked, whole, rtol=1e-5, atol=1e-5)
    for index, clip in enumerate(waveforms):
        torch.testing.assert_close(config.compute(clip), whole[index], rtol=1e-5, atol=1e-5)


def test_chunked_mel_spectrogram_equals_one_chunk(monkeypatch):
    waveforms = torch.from_numpy(clips(4, 0.5)).double()
    options = dict(sample_rate=SR, n_fft=512, hop_length=128, n_mels=48, win_length=400, window="hamming")
    whole = mel_spectrogram(waveforms, **options)
    monkeypatch.setattr(banded, "CHUNK_BYTES", 1)
    torch.testing.assert_close(mel_spectrogram(waveforms, **options), whole, rtol=1e-12, atol=0)
    dense = mel_filterbank(SR, n_fft=512, n_mels=48, dtype=torch.float64) @ stft_power(
        waveforms, n_fft=512, hop_length=128, win_length=400, window="hamming"
    )
    torch.testing.assert_close(whole, dense, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("power", [1.0, 1.5, 2.0])
def test_mel_spectrogram_powers_equal_the_dense_product(power):
    waveforms = torch.from_numpy(clips(2, 0.4)).double()
    ours = mel_spectrogram(waveforms, sample_rate=SR, n_fft=400, hop_length=160, n_mels=40, power=power)
    spectrogram = stft_power(waveforms, n_fft=400, hop_length=160, power=power)
    dense = mel_filterbank(SR, n_fft=400, n_mels=40, dtype=torch.float64) @ spectrogram
    torch.testing.assert_close(ours, dense, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("frames", [1, 2, 30])
@pytest.mark.parametrize("win_length", [3, 4, 5, 9])
def test_padded_regression_delta_equals_regression_delta(win_length, frames):
    features = torch.randn(2, 7, frames, dtype=torch.float64)
    half = (win_length - 1) // 2
    padded = torch.zeros(2, 7, frames + 2 * half, dtype=torch.float64)
    padded[..., half : half + frames] = features
    out = torch.empty(2, 3, 7, frames, dtype=torch.float64)[
        :, 1
    ]  # a strided output slice, as the image's channels
    assert regression_delta_padded(replicate_edges_(padded, half), win_length, out=out) is out
    torch.testing.assert_close(out, regression_delta(features, win_length=win_length), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="out must have shape"):
        regression_delta_padded(padded, win_length, out=torch.empty(2, 7, frames + 1, dtype=torch.float64))


@pytest.mark.parametrize("frames", [1, 2, 4, 5, 9, 30])
@pytest.mark.parametrize("win_length", [3, 5, 9])
def test_in_place_regression_delta_equals_regression_delta(win_length, frames):
    """The interior read in place and the edges through a small buffer give the same deltas (short inputs too)."""
    image = torch.empty(2, 3, 7, frames, dtype=torch.float64)  # strided channel slabs, as in the DCNN image
    image[:, 0] = torch.randn(2, 7, frames, dtype=torch.float64)
    assert regression_delta_into(image[:, 0], win_length, out=image[:, 1]) is not None
    torch.testing.assert_close(
        image[:, 1], regression_delta(image[:, 0], win_length=win_length), rtol=1e-12, atol=1e-12
    )
