"""Waveform helpers and segmentation (GLAM windows over samples, DCNN windows over frames)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from serkit.audio.transforms import (
    SHORT_POLICIES,
    num_segments,
    pad_or_truncate,
    peak_normalize,
    pre_emphasis,
    segment,
    segment_frames,
    window_and_hop,
)

# ---------------------------------------------------------------------------------------------- pre-emphasis


def test_pre_emphasis_keeps_first_sample_and_filters_the_rest():
    x = np.array([1.0, 2.0, 4.0, 8.0])
    np.testing.assert_allclose(pre_emphasis(x, 0.97), [1.0, 2.0 - 0.97, 4.0 - 1.94, 8.0 - 3.88])
    np.testing.assert_array_equal(x, [1.0, 2.0, 4.0, 8.0])  # the input is not modified


def test_pre_emphasis_torch_matches_numpy_on_a_batch():
    x = np.random.default_rng(0).standard_normal((3, 50)).astype(np.float32)
    ours = pre_emphasis(torch.from_numpy(x), 0.97)
    assert ours.dtype == torch.float32 and ours.shape == (3, 50)
    np.testing.assert_allclose(ours.numpy(), pre_emphasis(x, 0.97), rtol=1e-6)
    np.testing.assert_array_equal(ours[:, 0].numpy(), x[:, 0])


def test_pre_emphasis_zero_coefficient_is_identity():
    x = np.arange(5.0)
    np.testing.assert_array_equal(pre_emphasis(x, 0.0), x)


# ---------------------------------------------------------------------------------------------- fixed length


@pytest.mark.parametrize("to_type", [np.asarray, torch.as_tensor])
def test_pad_or_truncate_both_directions(to_type):
    x = to_type(np.arange(1.0, 6.0))
    assert np.asarray(pad_or_truncate(x, 3)).tolist() == [1.0, 2.0, 3.0]
    assert np.asarray(pad_or_truncate(x, 7)).tolist() == [1.0, 2.0, 3.0, 4.0, 5.0, 0.0, 0.0]
    assert type(pad_or_truncate(x, 7)) is type(x)


def test_pad_or_truncate_batch_and_bad_length():
    x = np.ones((2, 4), dtype=np.float32)
    out = pad_or_truncate(x, 6)
    assert out.shape == (2, 6) and out.dtype == np.float32 and out[:, 4:].sum() == 0
    with pytest.raises(ValueError, match="num_samples"):
        pad_or_truncate(x, 0)


# ---------------------------------------------------------------------------------------------- peak normalisation


def test_peak_normalize_scales_each_row_to_peak_and_silence_stays_silent():
    x = np.array([[0.0, 0.25, -0.5], [0.0, 0.0, 0.0], [2.0, -4.0, 1.0]], dtype=np.float32)
    out = peak_normalize(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[0], [0.0, 0.5, -1.0])
    np.testing.assert_array_equal(out[1], [0.0, 0.0, 0.0])  # no NaN from 0 / 0
    np.testing.assert_allclose(np.abs(out[2]).max(), 1.0)
    torch_out = peak_normalize(torch.from_numpy(x), peak=0.5)
    assert torch.isfinite(torch_out).all()
    np.testing.assert_allclose(torch_out.numpy(), out * 0.5)


def test_peak_normalize_rejects_non_positive_peak():
    with pytest.raises(ValueError, match="peak"):
        peak_normalize(np.ones(3), peak=0.0)


# ---------------------------------------------------------------------------------------------- GLAM segmentation


def test_window_and_hop_glam_settings():
    assert window_and_hop(16000, segment_seconds=1.8, overlap_seconds=1.6) == (28800, 3200)
    # int((2.0 - 1.6) * 16000) is 6399 in floating point; we round to the intended 6400.
    assert window_and_hop(16000, segment_seconds=2.0, overlap_seconds=1.6) == (32000, 6400)
    with pytest.raises(ValueError, match="overlap_seconds"):
        window_and_hop(16000, segment_seconds=1.8, overlap_seconds=1.8)


def test_glam_segment_count_for_three_seconds():
    window, hop = window_and_hop(16000, segment_seconds=1.8, overlap_seconds=1.6)
    waveform = np.arange(48000, dtype=np.float32)
    segments = segment(waveform, window=window, hop=hop)
    # (48000 - 28800) // 3200 + 1 = 7 complete windows; the 0.0 s tail after the last one is dropped.
    assert segments.shape == (7, 28800) == (num_segments(48000, window=window, hop=hop), window)
    np.testing.assert_array_equal(segments[1], waveform[3200 : 3200 + 28800])
    np.testing.assert_array_equal(segments[-1], waveform[6 * 3200 : 6 * 3200 + 28800])


def test_segment_drops_incomplete_tail_window():
    segments = segment(np.arange(10.0), window=4, hop=3)
    assert segments.tolist() == [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]]
    assert segment(np.arange(11.0), window=4, hop=3).shape == (3, 4)  # sample 10 starts no complete window


def test_short_policy_pad_zero_pads_to_one_window():
    out = segment(np.ones(3), window=5, hop=2)
    assert out.tolist() == [[1.0, 1.0, 1.0, 0.0, 0.0]]


def test_short_policy_tile_repeats_like_glam_padding():
    x = np.array([1.0, 2.0, 3.0])
    out = segment(x, window=5, hop=1, short_policy="tile")
    # GLAM: np.hstack(ceil(5 / 3) * [x]) = [1,2,3,1,2,3], then complete windows every hop.
    assert out.tolist() == [[1, 2, 3, 1, 2], [2, 3, 1, 2, 3]]


def test_short_policy_drop_returns_zero_segments_the_caller_can_count():
    out = segment(np.ones(3, dtype=np.float32), window=5, hop=2, short_policy="drop")
    assert out.shape == (0, 5) and out.dtype == np.float32
    utterances = [np.ones(3), np.ones(7), np.ones(2)]
    dropped = sum(len(segment(u, window=5, hop=2, short_policy="drop")) == 0 for u in utterances)
    assert dropped == 2


def test_short_policy_keep_returns_the_short_input():
    out = segment(torch.arange(3.0), window=5, hop=2, short_policy="keep")
    assert out.shape == (1, 3) and out.tolist() == [[0.0, 1.0, 2.0]]


@pytest.mark.parametrize("policy", SHORT_POLICIES)
@pytest.mark.parametrize("length", [1, 2, 4, 5, 6, 9, 13])
def test_num_segments_matches_segment(policy, length):
    for to_type in (np.asarray, torch.as_tensor):
        out = segment(to_type(np.arange(float(length))), window=5, hop=2, short_policy=policy)
        assert len(out) == num_segments(length, window=5, hop=2, short_policy=policy)


def test_segments_are_copies_not_views():
    x = np.arange(10.0)
    out = segment(x, window=4, hop=2)
    out[0, 0] = 99.0
    assert x[0] == 0.0


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"window": 0, "hop": 1}, "window and hop"),
        ({"window": 2, "hop": 1, "short_policy": "repeat"}, "short_policy"),
    ],
)
def test_segment_bad_arguments(bad, message):
    with pytest.raises(ValueError, match=message):
        segment(np.ones(4), **bad)


def test_segment_rejects_batches_and_empty_input():
    with pytest.raises(ValueError, match="one waveform"):
        segment(np.ones((2, 10)), window=4, hop=2)
    with pytest.raises(ValueError, match="empty"):
        segment(np.ones(0), window=4, hop=2)


# ---------------------------------------------------------------------------------------------- DCNN frame segments


@pytest.mark.parametrize("frames, expected", [(301, 8), (401, 11)])  # 3 s and 4 s of 10 ms frames
def test_segment_frames_dcnn_counts_and_layout(frames, expected):
    image = torch.randn(3, 64, frames)
    segments = segment_frames(image, window=64, hop=32)
    assert segments.shape == (expected, 3, 64, 64)
    assert num_segments(frames, window=64, hop=32) == expected
    for index in (0, expected - 1):
        torch.testing.assert_close(segments[index], image[..., 32 * index : 32 * index + 64])


def test_segment_frames_numpy_and_short_matrix():
    features = np.random.default_rng(1).standard_normal((26, 100)).astype(np.float32)
    out = segment_frames(features, window=64, hop=32)
    assert out.shape == (2, 26, 64) and out.dtype == np.float32
    np.testing.assert_array_equal(out[1], features[:, 32:96])
    short = segment_frames(features[:, :40], window=64, hop=32)  # default policy pads with zeros
    assert short.shape == (1, 26, 64) and not short[0, :, 40:].any()
