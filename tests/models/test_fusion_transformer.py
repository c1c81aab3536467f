"""MAT / MNT / mat_text: padding invariance, shapes per task, the two layer norms, modulation, embeddings."""

from __future__ import annotations

import pytest
import torch

from serkit.models import count_parameters, create_model
from serkit.models.fusion_transformer import ConditionalLayerNorm

TINY = {"vocab_size": 13, "num_features": 8, "word_dim": 6, "hidden_dim": 8, "num_heads": 2, "ff_dim": 12}
FUSION_MODELS = ("mat", "mnt", "mat_text")


def _batch(seed: int = 0, batch: int = 3, frames: int = 10, tokens: int = 7):
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(batch, frames, TINY["num_features"], generator=generator)
    lengths = torch.tensor([frames, 6, 3][:batch])
    text = torch.randint(2, TINY["vocab_size"], (batch, tokens), generator=generator)
    text_lengths = torch.tensor([tokens, 2, 5][:batch])
    return features, lengths, text, text_lengths


def _model(name: str, *, num_classes: int = 4, **overrides) -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model(name, num_classes=num_classes, **{**TINY, **overrides}).eval()


@pytest.mark.parametrize("norm", ["torch", "original"])
@pytest.mark.parametrize("name", FUSION_MODELS)
def test_extra_padding_with_garbage_does_not_change_logits(name, norm):
    model = _model(name, norm=norm)
    features, lengths, text, text_lengths = _batch()
    with torch.no_grad():
        reference = model(features, lengths, text=text, text_lengths=text_lengths)
        # pad both modalities much further, and fill every padded position with large random values
        padded_features = torch.randn(3, 25, TINY["num_features"]) * 100
        padded_text = torch.randint(0, TINY["vocab_size"], (3, 19))
        for row in range(3):
            padded_features[row, : lengths[row]] = features[row, : lengths[row]]
            padded_text[row, : text_lengths[row]] = text[row, : text_lengths[row]]
        padded = model(padded_features, lengths, text=padded_text, text_lengths=text_lengths)
    torch.testing.assert_close(padded, reference, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ("mat", "mnt"))
def test_fusion_models_use_both_modalities(name):
    model = _model(name)
    features, lengths, text, text_lengths = _batch()
    with torch.no_grad():
        reference = model(features, lengths, text=text, text_lengths=text_lengths)
        other_audio = model(features + 1.0, lengths, text=text, text_lengths=text_lengths)
        other_text = model(features, lengths, text=(text + 1) % TINY["vocab_size"], text_lengths=text_lengths)
    assert not torch.allclose(reference, other_audio)
    assert not torch.allclose(reference, other_text)


def test_text_only_model_ignores_audio():
    model = _model("mat_text")
    features, lengths, text, text_lengths = _batch()
    with torch.no_grad():
        reference = model(features, lengths, text=text, text_lengths=text_lengths)
        zeros = model(
            torch.zeros(3, 1, 1), torch.ones(3, dtype=torch.long), text=text, text_lengths=text_lengths
        )
    torch.testing.assert_close(zeros, reference)


#: Output sizes of the tasks (SEEDS.md 2.4): IEMOCAP 4, MELD emotion 7 / sentiment 3, MOSI/MOSEI binary 2,
#: MOSEI 7 sentiment bins, MOSEI 6 emotions (multi-label: one logit per emotion).
TASK_CLASSES = {
    "iemocap_4class": 4,
    "meld_emotion": 7,
    "meld_sentiment": 3,
    "sentiment_binary": 2,
    "sentiment_7bins": 7,
    "mosei_emotions_multilabel": 6,
}


@pytest.mark.parametrize("task", sorted(TASK_CLASSES))
@pytest.mark.parametrize("name", FUSION_MODELS)
def test_shapes_for_every_task(name, task):
    num_classes = TASK_CLASSES[task]
    model = _model(name, num_classes=num_classes)
    features, lengths, text, text_lengths = _batch()
    embedding = model.forward_features(features, lengths, text=text, text_lengths=text_lengths)
    expected_hidden = TINY["hidden_dim"] * (1 if name == "mnt" else 2)  # MAT flattens to 2 * hidden_dim
    assert embedding.shape == (3, expected_hidden) == (3, model.hidden_dim)
    assert model.forward_head(embedding).shape == (3, num_classes)


def test_released_configuration_parameter_count():
    """The README's MAT (hidden 512, 4 heads, ff 1024, 2 layers) with a 5000-word, 300-d embedding.

    Computed layer by layer from Model_MAT: embedding 1,500,000; text LSTM 1,667,072; audio LSTM 1,216,512;
    2 SA blocks 4,205,568; 2 SGA blocks 6,308,864; 2 AttFlat (to 1024) 2,103,298; norm 2,048; linear 4,100.
    """
    model = create_model("mat", num_classes=4, vocab_size=5000)
    assert count_parameters(model) == 17_007_462
    assert model.hidden_dim == 1024


def test_original_layer_norm_is_the_seeds_formula():
    torch.manual_seed(0)
    x = torch.randn(2, 5, 8)
    norm = ConditionalLayerNorm(8, variant="original")
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.uniform_(-1, 1)
    expected = norm.weight * (x - x.mean(-1, keepdim=True)) / (x.std(-1, keepdim=True) + 1e-6) + norm.bias
    torch.testing.assert_close(norm(x), expected)
    torch_norm = ConditionalLayerNorm(8, variant="torch")
    torch.testing.assert_close(torch_norm(x), torch.nn.functional.layer_norm(x, (8,), eps=1e-6))
    # unbiased std: the two variants differ
    assert not torch.allclose(norm(x), torch_norm(x) * norm.weight + norm.bias, atol=1e-3)


def test_conditional_norm_modulates_per_example():
    norm = ConditionalLayerNorm(4)
    x = torch.randn(2, 3, 4)
    gamma, beta = torch.zeros(2, 4), torch.zeros(2, 4)
    torch.testing.assert_close(norm(x, gamma, beta), norm(x))
    gamma[1] = 1.0
    beta[1] = 2.0
    out = norm(x, gamma, beta)
    torch.testing.assert_close(out[0], norm(x)[0])
    torch.testing.assert_close(out[1], 2 * norm(x)[1] + 2.0)  # (1 + 1) * normalized + (0 + 2)


def test_mnt_modulation_layout_and_nonnegative():
    model = _model("mnt", num_layers=3)
    assert (
        model.modulation[0].out_features == 4 * TINY["hidden_dim"] * 3
    )  # gamma, beta per norm, 2 norms, 3 blocks
    _, _, text, text_lengths = _batch()
    y, mask = model._encode_text(text, text_lengths)
    assert (model.modulation(model.text_flat(y, mask)) >= 0).all()  # ReLU, as the seed's FC


def test_init_text_embeddings_copies_and_keeps_padding_zero():
    model = _model("mat")
    matrix = torch.arange(13 * 6, dtype=torch.float32).reshape(13, 6)
    model.init_text_embeddings(matrix.numpy())
    assert torch.equal(model.embedding.weight[1:], matrix[1:])
    assert torch.equal(model.embedding.weight[0], torch.zeros(6))
    with pytest.raises(ValueError, match="word_dim"):
        model.init_text_embeddings(torch.zeros(13, 5))


def test_padding_embedding_gets_no_gradient():
    model = _model("mat").train()
    features, lengths, text, text_lengths = _batch()
    text[1, 3:] = 0
    model(features, lengths, text=text, text_lengths=text_lengths).sum().backward()
    assert torch.equal(model.embedding.weight.grad[0], torch.zeros(6))


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"vocab_size": 2}, "vocab_size"),
        ({"num_heads": 3}, "divisible"),
        ({"norm": "batch"}, "norm"),
        ({"num_layers": 0}, "num_layers"),
    ],
)
def test_bad_arguments_are_explained(overrides, match):
    with pytest.raises(ValueError, match=match):
        _model("mnt", **overrides)


def test_float_text_is_refused_with_a_hint():
    model = _model("mat")
    features, lengths, _, text_lengths = _batch()
    with pytest.raises(ValueError, match="word_vocab"):
        model(features, lengths, text=torch.randn(3, 7, 6), text_lengths=text_lengths)
