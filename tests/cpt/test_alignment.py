"""Labels and frames line up for HuBERT's real front end: 400-sample (25 ms) kernel, 320-sample (20 ms) stride."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import transformers

from serkit.backbones.hf import frame_lengths
from serkit.cpt.batching import crop_batch, frame_geometry

#: hubert-base-ls960's convolutional front end, with narrow channels (the geometry is what matters here) and layer
#: norm in every convolution, so that a frame depends only on the samples under its receptive field.
REAL_FRONT_END = {
    "conv_kernel": (10, 3, 3, 3, 3, 2, 2),
    "conv_stride": (5, 2, 2, 2, 2, 2, 2),
    "conv_dim": (8,) * 7,
    "feat_extract_norm": "layer",
    "hidden_size": 16,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "intermediate_size": 16,
    "num_conv_pos_embeddings": 4,
    "num_conv_pos_embedding_groups": 2,
}


@pytest.fixture(scope="module")
def encoder() -> transformers.HubertModel:
    torch.manual_seed(0)
    return transformers.HubertModel(transformers.HubertConfig(**REAL_FRONT_END)).eval()


def _cnn_frames(encoder, waveform: np.ndarray) -> torch.Tensor:
    with torch.no_grad():
        return encoder.feature_extractor(torch.from_numpy(waveform)[None])[0].T  # (frames, conv_dim)


def test_geometry_is_25_ms_kernel_and_20_ms_stride(encoder):
    assert frame_geometry(encoder.config) == (400, 320)
    for samples in (399, 400, 719, 720, 16000, 16000 + 319, 16000 + 320, 250000):
        waveform = np.random.default_rng(samples).standard_normal(samples).astype(np.float32)
        actual = _cnn_frames(encoder, waveform).shape[0] if samples >= 400 else 0
        assert int(frame_lengths(encoder.config, samples)) == actual == max(0, (samples - 400) // 320 + 1)


def test_crops_at_stride_multiples_keep_frames_and_labels_aligned(encoder):
    rng = np.random.default_rng(0)
    long, short = (
        rng.standard_normal(16000 * 3).astype(np.float32),
        rng.standard_normal(16000).astype(np.float32),
    )
    # label t = index of frame t, so the cropped labels say which original frames they claim to be
    labels = [np.arange(int(frame_lengths(encoder.config, len(w)))) for w in (long, short)]
    for seed in range(5):
        waveforms, targets = crop_batch(
            [long, short], labels, receptive=400, stride=320, generator=torch.Generator().manual_seed(seed)
        )
        assert waveforms.shape == (2, 16000) and targets.shape == (2, 49)
        offset = int(targets[0, 0])  # the first original frame of the crop
        assert torch.equal(targets[0], torch.arange(offset, offset + 49))
        assert torch.equal(waveforms[0], torch.from_numpy(long[offset * 320 : offset * 320 + 16000]))
        # the encoder's frames of the crop are exactly the original frames the labels name
        torch.testing.assert_close(
            _cnn_frames(encoder, waveforms[0].numpy()),
            _cnn_frames(encoder, long)[offset : offset + 49],
            rtol=1e-4,
            atol=1e-5,
        )
        assert torch.equal(targets[1], torch.from_numpy(labels[1]))  # the shortest is not cropped


def test_an_offset_off_the_stride_would_not_align(encoder):
    """The check above can fail: 160 samples (half a stride) off, the frames are different ones."""
    long = np.random.default_rng(1).standard_normal(16000 * 2).astype(np.float32)
    shifted = _cnn_frames(encoder, long[160 : 160 + 16000])
    assert not torch.allclose(shifted, _cnn_frames(encoder, long)[:49], atol=1e-3)
