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
#: Frames of the inputs of variable-length models.
FRAMES = 20

#: registry name -> overrides for create_model. Fixed-shape models take their default input_shape unless small
#: enough already; APCNN's 400 x 197 spectrogram segments are replaced by a small image.
TINY: dict[str, dict] = {
    "cnn_small": {"num_features": 26},
    "cnn_tiny": {"num_features": 26},
    "linear_svm": {"num_features": 12},
    "glam": {},
    "resmulticonv3": {},
    "mhresmulticonv3": {},
    "aaresmulticonv3": {},
    "mhcnn": {},
    "macnn": {"num_heads": 2, "attention_hidden": 16},
    "aacnn": {},
    "apcnn": {"input_shape": (40, 50)},
}


def _build(name: str) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    """The tiny model and a batch for it: features (batch, frames, num_features), lengths (batch,)."""
    if name not in TINY:
        pytest.fail(f"model {name!r} has no tiny configuration; add it to TINY in {__file__}.")
    torch.manual_seed(0)
    model = create_model(name, num_classes=NUM_CLASSES, **TINY[name])
    if hasattr(model, "input_shape"):  # fixed-shape image models: (num_features, frames)
        num_features, frames = model.input_shape
        lengths = torch.full((BATCH,), frames)
    else:
        num_features, frames = model.num_features, FRAMES
        lengths = torch.tensor([FRAMES, FRAMES - 5, 7])
    features = torch.randn(BATCH, frames, num_features)
    return model, features, lengths


def test_every_model_has_a_tiny_config():
    missing = sorted(set(list_models()) - set(TINY))
    assert not missing, f"add tiny configurations to TINY in {__file__} for: {', '.join(missing)}"


@pytest.mark.parametrize("name", list_models())
def test_forward_shape_and_finite(name):
    model, features, lengths = _build(name)
    for mode in (model.train, model.eval):
        mode()
        logits = model(features, lengths)
        assert logits.shape == (BATCH, NUM_CLASSES)
        assert torch.isfinite(logits).all()
    assert model.num_classes == NUM_CLASSES


@pytest.mark.parametrize("name", list_models())
def test_forward_is_head_of_features(name):
    model, features, lengths = _build(name)
    model.eval()
    embedding = model.forward_features(features, lengths)
    assert embedding.shape == (BATCH, model.hidden_dim)
    torch.testing.assert_close(model.forward_head(embedding), model(features, lengths))


@pytest.mark.parametrize("name", list_models())
def test_every_parameter_gets_a_finite_gradient(name):
    model, features, lengths = _build(name)
    model.train()
    targets = torch.arange(BATCH) % NUM_CLASSES
    torch.nn.functional.cross_entropy(model(features, lengths), targets).backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"no gradient reaches {missing}"
    bad = [n for n, p in model.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]
    assert not bad, f"non-finite gradients in {bad}"


@pytest.mark.parametrize("name", list_models())
def test_eval_is_deterministic_and_batch_independent(name):
    model, features, lengths = _build(name)
    model.train()
    model(features, lengths)  # updates batch-norm statistics, as training would
    model.eval()
    with torch.no_grad():
        batch = model(features, lengths)
        torch.testing.assert_close(model(features, lengths), batch, rtol=0, atol=0)
        alone = model(features[1:2, : int(lengths[1])], lengths[1:2])
    # neither padding nor the other examples of the batch change an example's output
    torch.testing.assert_close(alone, batch[1:2], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", list_models())
def test_fixed_shape_models_reject_other_shapes(name):
    model, features, lengths = _build(name)
    if not hasattr(model, "input_shape"):
        pytest.skip("variable-length model")
    with pytest.raises(ValueError, match="input_shape"):
        model(features[:, :-1], lengths - 1)
