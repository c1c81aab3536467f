"""The GLAM paper's CNN baselines: parameter counts of the original code, stem joins, heads, pooling."""

from __future__ import annotations

import pytest
import torch
from conftest import input_shapes_seen

from serkit.models import count_parameters, create_model


@pytest.mark.parametrize(
    ("name", "input_shape", "expected"),
    [
        ("mhcnn", (26, 63), 155_636),
        ("aacnn", (26, 63), 151_108),
        ("apcnn", (400, 197), 93_573),
        # lessonxmk/head_fusion MACNN defaults: trunk 93,168 + 8 heads x 3 x (80*256 + 256) + Linear(256 -> 4)
        ("macnn", (26, 63), 93_168 + 24 * (80 * 256 + 256) + 256 * 4 + 4),
    ],
)
def test_parameter_counts_equal_the_original_code(name, input_shape, expected):
    assert count_parameters(create_model(name, num_classes=4, input_shape=input_shape)) == expected


def test_default_input_shapes_are_the_scripts_segments():
    assert create_model("mhcnn", num_classes=4).input_shape == (26, 63)  # 2 s of 26 MFCCs
    assert create_model("aacnn", num_classes=4).input_shape == (26, 63)
    assert create_model("apcnn", num_classes=4).input_shape == (400, 197)  # 2 s of 400 spectrogram bins


def test_mhcnn_joins_stems_on_channels_and_stacks_heads_on_height():
    model = create_model("mhcnn", num_classes=4)
    seen, logits = input_shapes_seen(
        model,
        {"body": model.encoder.body, "attention": model.attention, "fc": model.fc},
        torch.randn(2, 63, 26),
    )
    assert seen["body"] == (2, 16, 25, 62)  # 8 + 8 channels
    assert seen["attention"] == (2, 80, 6, 15)
    assert model.attention(torch.randn(2, 80, 6, 15)).shape == (2, 64, 4 * 6, 15)
    assert seen["fc"] == (2, 64) and logits.shape == (2, 4)


def test_macnn_is_the_head_fusion_configuration():
    model = create_model("macnn", num_classes=4)
    assert (model.attention.num_heads, model.attention.attention_hidden) == (8, 256)
    assert model.hidden_dim == 256


def test_aacnn_joins_stems_on_height_and_attends_over_positions():
    model = create_model("aacnn", num_classes=4)
    seen, _ = input_shapes_seen(
        model,
        {"body": model.encoder.body, "attention": model.attention, "fc": model.fc},
        torch.randn(2, 63, 26),
    )
    assert seen["body"] == (2, 16, 50, 62)  # 16 channels, two stems of height 25 stacked
    assert seen["attention"] == (2, 12 * 15, 80)  # positions x channels
    assert seen["fc"] == (2, 80 * 12 * 15)


def test_aacnn_flattens_position_major():
    model = create_model("aacnn", num_classes=4).eval()
    feature_map = torch.randn(1, 80, 12, 15)
    positions = feature_map.permute(0, 2, 3, 1).reshape(1, 180, 80)
    attended = torch.relu(model.attention(positions, positions, positions))
    torch.testing.assert_close(model._embed(feature_map), attended.reshape(1, -1))


def test_apcnn_logits_are_the_class_weighted_saliency_average():
    model = create_model("apcnn", num_classes=3, input_shape=(40, 50)).eval()
    saliency = {}
    model.bottom_up.register_forward_hook(lambda _module, _args, output: saliency.setdefault("map", output))
    features = torch.randn(2, 50, 40)
    logits = model(features, torch.full((2,), 50))
    # the class maps are a softmax over classes, so the logits sum to the mean saliency of each example
    torch.testing.assert_close(logits.sum(dim=1), saliency["map"].mean(dim=(1, 2, 3)))
    assert model.hidden_dim == 3
    torch.testing.assert_close(model.forward_features(features, torch.full((2,), 50)), logits)


def test_wrong_segment_shape_names_the_model_and_the_fix():
    model = create_model("mhcnn", num_classes=4)
    expected = r"mhcnn was built for .*\(26, 63\) but got \(26, 57\).*input\.window"
    with pytest.raises(ValueError, match=expected):
        model(torch.randn(2, 57, 26), torch.full((2,), 57))


@pytest.mark.parametrize(
    ("name", "input_shape"), [("mhcnn", (4, 63)), ("aacnn", (2, 63)), ("apcnn", (400, 4))]
)
def test_too_small_input_shape_fails_at_construction(name, input_shape):
    with pytest.raises(ValueError, match=f"{name}: input_shape=.* is too small"):
        create_model(name, num_classes=4, input_shape=input_shape)


@pytest.mark.parametrize(("name", "input_shape"), [("mhcnn", (5, 5)), ("aacnn", (3, 5)), ("apcnn", (5, 5))])
def test_smallest_input_shape_runs(name, input_shape):
    model = create_model(name, num_classes=2, input_shape=input_shape)
    features = torch.randn(2, input_shape[1], input_shape[0])
    assert model(features, torch.full((2,), input_shape[1])).shape == (2, 2)
