"""Every registered model in a tiny configuration: output shape, finite values, gradients, train/eval.

A new model family adds its registry names to :data:`TINY` (the factory overrides that make it small and
fast); a registered model without an entry fails :func:`test_every_model_has_a_tiny_config`.
"""

from __future__ import annotations

import pytest
import torch

from serkit.models import create_model, list_models

NUM_CLASSES = 4
BATCH = 3
#: Word ids per example of text models (models with ``takes_text_ids``).
TOKENS = 6

#: registry name -> overrides for create_model. Fixed-shape models take their default input_shape unless small
#: enough already; APCNN's 400 x 197 spectrogram segments are replaced by a small image.
TINY: dict[str, dict] = {
    "cnn_small": {"num_features": 26},
    "cnn_tiny": {"num_features": 26},
    "linear_svm": {"num_features": 12},
    "linear_svr": {"num_features": 12},
    "ridge": {"num_features": 12},
    "rbf_svm": {"num_features": 12},
    "glam": {},
    "resmulticonv3": {},
    "mhresmulticonv3": {},
    "aaresmulticonv3": {},
    "mhcnn": {},
    "macnn": {"num_heads": 2, "attention_hidden": 16},
    "aacnn": {},
    "apcnn": {"input_shape": (40, 50)},
    "mat": {
        "vocab_size": 11,
        "num_features": 8,
        "word_dim": 6,
        "hidden_dim": 8,
        "num_heads": 2,
        "ff_dim": 12,
    },
    "mnt": {
        "vocab_size": 11,
        "num_features": 8,
        "word_dim": 6,
        "hidden_dim": 8,
        "num_heads": 2,
        "ff_dim": 12,
    },
    "mat_text": {
        "vocab_size": 11,
        "num_features": 8,
        "word_dim": 6,
        "hidden_dim": 8,
        "num_heads": 2,
        "ff_dim": 12,
    },
    "alexnet": {"widths": (8, 16, 24, 16, 16), "hidden_dim": 32},
    "alexnet_small": {},
    "dcnn_blstm": {"widths": (8, 16, 24, 16, 16), "extractor_hidden": 32, "lstm_hidden": 8},
    "dcnn_blstm_small": {},
    # waveform model: inputs from its example_input, (batch, samples); a layer-norm front end pads exactly
    "hubert_ser": {
        "pretrained": "",
        "mask_time_length": 2,
        "encoder_config": {
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "intermediate_size": 64,
            "conv_dim": (32, 32),
            "conv_kernel": (10, 8),
            "conv_stride": (5, 4),
            "feat_extract_norm": "layer",
            "num_conv_pos_embeddings": 8,
            "num_conv_pos_embedding_groups": 4,
            "layerdrop": 0.0,
        },
    },
    # CASE family: frozen SSL frames (num_features) + frozen token embeddings (text_dim)
    "case_compressing": {
        "num_features": 12,
        "text_dim": 10,
        "hidden_dim": 8,
        "audio_max_len": 24,
        "text_max_len": 8,
    },
    "case_attention": {"num_features": 12, "text_dim": 10, "hidden_dim": 8, "text_max_len": 8},
    "concat": {"num_features": 12, "text_dim": 10, "hidden_dim": 8, "audio_max_len": 24, "text_max_len": 8},
    "mmm": {
        "num_features": 12,
        "text_dim": 10,
        "hidden_dim": 8,
        "audio_max_len": 24,
        "text_max_len": 8,
        "output_dim": 16,
    },
    "text_only": {"text_dim": 10, "hidden_dim": 8},
    "speech_only": {"num_features": 12, "hidden_dim": 8},
}


def _build(name: str) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """The tiny model and a batch for it: features (batch, frames, num_features), lengths (batch,), and the
    keyword inputs of text models (``{}`` for the others)."""
    if name not in TINY:
        pytest.fail(f"model {name!r} has no tiny configuration; add it to TINY in {__file__}.")
    torch.manual_seed(0)
    model = create_model(name, num_classes=NUM_CLASSES, **TINY[name])
    # frames (20, 15, 7 valid), complete segments of a fixed input_shape, DCNN's images or waveforms
    features, lengths = model.example_input(BATCH)
    text = {}
    if model.takes_text_ids:  # fusion models: word ids (batch, tokens) and their lengths
        text = {
            "text": torch.randint(2, model.vocab_size, (BATCH, TOKENS)),
            "text_lengths": torch.tensor([TOKENS, 3, TOKENS - 2]),
        }
    elif model.takes_text_embeddings:  # fusion models on frozen token embeddings (batch, tokens, text_dim)
        text = {
            "text": torch.randn(BATCH, TOKENS, model.text_dim),
            "text_lengths": torch.tensor([TOKENS, 3, 4]),
        }
    return model, features, lengths, text


def _row(text: dict[str, torch.Tensor], row: int) -> dict[str, torch.Tensor]:
    """The text inputs of one example, without padding."""
    if not text:
        return {}
    length = int(text["text_lengths"][row])
    return {"text": text["text"][row : row + 1, :length], "text_lengths": text["text_lengths"][row : row + 1]}


def _has_parameters(model: torch.nn.Module) -> bool:
    return any(p.requires_grad for p in model.parameters())


def test_every_model_has_a_tiny_config():
    missing = sorted(set(list_models()) - set(TINY))
    assert not missing, f"add tiny configurations to TINY in {__file__} for: {', '.join(missing)}"


@pytest.mark.parametrize("name", list_models())
def test_forward_shape_and_finite(name):
    model, features, lengths, text = _build(name)
    for mode in (model.train, model.eval):
        mode()
        logits = model(features, lengths, **text)
        assert logits.shape == (BATCH, NUM_CLASSES)
        assert torch.isfinite(logits).all()
    assert model.num_classes == NUM_CLASSES


@pytest.mark.parametrize("name", list_models())
def test_forward_is_head_of_features(name):
    model, features, lengths, text = _build(name)
    model.eval()
    embedding = model.forward_features(features, lengths, **text)
    assert embedding.shape == (BATCH, model.hidden_dim)
    torch.testing.assert_close(model.forward_head(embedding), model(features, lengths, **text))


@pytest.mark.parametrize("name", list_models())
def test_every_parameter_gets_a_finite_gradient(name):
    model, features, lengths, text = _build(name)
    if not _has_parameters(model):
        pytest.skip("no parameters: only buffers fitted in closed form")
    model.train()
    targets = torch.arange(BATCH) % NUM_CLASSES
    torch.nn.functional.cross_entropy(model(features, lengths, **text), targets).backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"no gradient reaches {missing}"
    bad = [n for n, p in model.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]
    assert not bad, f"non-finite gradients in {bad}"


@pytest.mark.parametrize("name", list_models())
def test_eval_is_deterministic_and_batch_independent(name):
    model, features, lengths, text = _build(name)
    model.train()
    model(features, lengths, **text)  # updates batch-norm statistics, as training would
    model.eval()
    with torch.no_grad():
        batch = model(features, lengths, **text)
        torch.testing.assert_close(model(features, lengths, **text), batch, rtol=0, atol=0)
        alone = model(features[1:2, : int(lengths[1])], lengths[1:2], **_row(text, 1))
    # neither padding nor the other examples of the batch change an example's output
    torch.testing.assert_close(alone, batch[1:2], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", list_models())
def test_fixed_shape_models_reject_other_shapes(name):
    model, features, lengths, _ = _build(name)
    if model.input_shape is None:
        pytest.skip("variable-length model")
    with pytest.raises(ValueError, match="input_shape"):
        model(features[:, :-1], lengths - 1)


@pytest.mark.parametrize("name", list_models())
def test_trains_and_evaluates_under_bf16_autocast(name):
    """``train.precision: auto`` runs training steps and evaluation in bfloat16 autocast on CPUs that have it."""
    model, features, lengths, text = _build(name)
    model.train()
    targets = torch.arange(BATCH) % NUM_CLASSES
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(features, lengths, **text)
    if _has_parameters(model):  # a model of buffers only (fitted in closed form) has no training step
        torch.nn.functional.cross_entropy(logits.float(), targets).backward()
    bad = [n for n, p in model.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]
    assert not bad, f"non-finite gradients in {bad}"
    model.eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model.forward_head(model.forward_features(features, lengths, **text))
    assert logits.shape == (BATCH, NUM_CLASSES) and torch.isfinite(logits.float()).all()
