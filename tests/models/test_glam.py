"""GLAM and its ablations: the original code's parameter counts and the layer-by-layer shapes of SEEDS 1.3."""

from __future__ import annotations

import pytest
import torch
from conftest import input_shapes_seen
from torch import nn

from serkit.models import count_parameters, create_model
from serkit.models.glam import GLAM, GlobalAwareFusion, NoFusion


@pytest.mark.parametrize(
    ("name", "input_shape", "expected"),
    [
        ("glam", (26, 57), 904_078),
        ("glam", (26, 63), 940_283),
        ("resmulticonv3", (26, 57), 686_820),
        ("mhresmulticonv3", (26, 57), 879_076),
        ("aaresmulticonv3", (26, 57), 686_820),
    ],
)
def test_parameter_counts_equal_the_original_code(name, input_shape, expected):
    model = create_model(name, num_classes=4, input_shape=input_shape)
    assert count_parameters(model) == expected


def test_glam_follows_the_seed_table_layer_by_layer():
    model = create_model("glam", num_classes=4)
    encoder = model.encoder
    seen, logits = input_shapes_seen(
        model,
        {
            "conv1a": encoder.conv1a,
            "conv2": encoder.conv2,
            "conv3": encoder.conv3,
            "conv4": encoder.conv4,
            "conv5": encoder.conv5,
            "gmlp": model.fusion.gmlp,
            "fc": model.fc,
        },
        torch.randn(2, 57, 26),
    )
    assert seen["conv1a"] == (2, 1, 26, 57)  # features on height, frames on width
    assert seen["conv2"] == (2, 16, 52, 57)  # the two stems stacked on height
    assert seen["conv3"] == (2, 32, 26, 28)
    assert seen["conv4"] == (2, 64, 13, 14)
    assert seen["conv5"] == (2, 128, 13, 14)
    assert seen["gmlp"] == (2, 128, 182)  # 128 channel tokens, each a flattened 13 x 14 map
    assert seen["fc"] == (2, 23_296)
    assert logits.shape == (2, 4)
    sgu = model.fusion.gmlp.sgu
    assert sgu.weight.shape == (128, 128) and isinstance(sgu.activation, torch.nn.Tanh)
    assert model.fusion.gmlp.proj_in.out_features == 4 * 182


@pytest.mark.parametrize(
    ("name", "fusion_input", "hidden_dim"),
    [
        ("resmulticonv3", None, 23_296),
        ("mhresmulticonv3", (2, 128, 13, 14), 64 * 4 * 13 * 14),
        ("aaresmulticonv3", (2, 182, 128), 23_296),
    ],
)
def test_ablations_fuse_the_same_encoder_map(name, fusion_input, hidden_dim):
    model = create_model(name, num_classes=4)
    modules = {"fc": model.fc}
    if fusion_input is not None:
        modules["attention"] = model.fusion.attention
    seen, _ = input_shapes_seen(model, modules, torch.randn(2, 57, 26))
    assert model.hidden_dim == hidden_dim and seen["fc"] == (2, hidden_dim)
    if fusion_input is not None:
        assert seen["attention"] == fusion_input  # AA: positions x channels; MHA: the map itself


def test_mhresmulticonv3_stacks_heads_on_height():
    model = create_model("mhresmulticonv3", num_classes=4, num_heads=2, attention_hidden=8)
    out = model.fusion.attention(torch.randn(3, 128, 13, 14))
    assert out.shape == (3, 8, 2 * 13, 14)
    assert model.hidden_dim == 8 * 2 * 13 * 14


def test_area_fusion_flattens_position_major():
    model = create_model("aaresmulticonv3", num_classes=4).eval()
    encoded = torch.randn(1, 128, 13, 14)
    positions = encoded.flatten(2).transpose(1, 2)  # (1, 182, 128)
    attended = torch.relu(model.fusion.attention(positions, positions, positions))
    torch.testing.assert_close(model.fusion(encoded), attended.reshape(1, -1))


def test_forward_is_head_of_features():
    model = create_model("glam", num_classes=3, input_shape=(20, 40)).eval()
    features, lengths = torch.randn(2, 40, 20), torch.full((2,), 40)
    embedding = model.forward_features(features, lengths)
    assert embedding.shape == (2, model.hidden_dim) == (2, 128 * 10 * 10)
    torch.testing.assert_close(model.forward_head(embedding), model(features, lengths))


def test_segments_of_another_shape_are_rejected_with_the_fix():
    model = create_model("glam", num_classes=4)
    with pytest.raises(ValueError) as error:
        model(torch.randn(2, 63, 26), torch.full((2,), 63))
    message = str(error.value)
    assert "(26, 57)" in message and "(26, 63)" in message and "input.window" in message
    with pytest.raises(ValueError, match="input_shape"):
        model(torch.randn(2, 26, 57), torch.full((2,), 26))  # transposed: (batch, num_features, frames)


def test_input_shape_from_a_command_line_override():
    model = create_model("glam", num_classes=4, input_shape="26,63")  # from --set model.input_shape=26,63
    assert model.input_shape == (26, 63) and count_parameters(model) == 940_283


@pytest.mark.parametrize("input_shape", [(1, 57), (26, 3)])
def test_too_small_input_shape_fails_at_construction(input_shape):
    with pytest.raises(ValueError, match="too small"):
        create_model("glam", num_classes=4, input_shape=input_shape)


def test_glam_class_takes_any_fusion_factory():
    model = GLAM(num_classes=2, input_shape=(8, 16), fusion=NoFusion, name="custom")
    assert model.hidden_dim == 128 * 4 * 4
    assert isinstance(GLAM(num_classes=2, input_shape=(8, 16)).fusion, GlobalAwareFusion)


@pytest.mark.parametrize("name", ["glam", "resmulticonv3", "mhresmulticonv3", "aaresmulticonv3"])
def test_for_inference_folds_batch_norms_with_the_same_outputs(name):
    torch.manual_seed(0)
    model = create_model(name, num_classes=4)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):  # statistics and affine values far from the identity
            module.running_mean.uniform_(-1.0, 1.0)
            module.running_var.uniform_(0.3, 3.0)
            nn.init.uniform_(module.weight, 0.5, 1.5)
            nn.init.uniform_(module.bias, -0.5, 0.5)
    before = {key: value.clone() for key, value in model.state_dict().items()}
    model.eval()
    features, lengths = model.example_input(5)
    folded = model.for_inference()
    assert folded is not model and not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert folded.for_inference() is folded  # folding twice is a no-op
    with torch.no_grad():
        expected, got = model(features, lengths), folded(features, lengths)
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(
            folded.forward_features(features, lengths),
            model.forward_features(features, lengths),
            rtol=1e-4,
            atol=1e-4,
        )
    assert all(
        torch.equal(before[key], value) for key, value in model.state_dict().items()
    )  # original untouched
