"""Shared blocks of models/layers.py, each checked against a direct computation written out independently."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from serkit.models.layers import (
    AreaAttention,
    ElementwiseMultiHeadAttention,
    GMLPBlock,
    ResMultiConv,
    SpatialGatingUnit,
    check_input_shape,
    features_to_image,
    lengths_to_mask,
    masked_mean,
)


def test_lengths_to_mask_and_masked_mean():
    mask = lengths_to_mask(torch.tensor([1, 3]), 4)
    assert mask.tolist() == [[True, False, False, False], [True, True, True, False]]
    values = torch.arange(8.0).view(2, 4, 1)
    assert masked_mean(values, torch.tensor([1, 3])).flatten().tolist() == [0.0, 5.0]


# -- input plumbing of the fixed-shape models ----------------------------------------------------------------


@pytest.mark.parametrize("given", [(26, 57), [26, 57], ("26", "57")])
def test_check_input_shape_accepts_tuples_lists_and_cli_strings(given):
    assert check_input_shape(given, model="glam") == (26, 57)


@pytest.mark.parametrize("given", [(26,), (26, 0), ("a", "b"), 26, (1, 2, 3)])
def test_check_input_shape_rejects_bad_values(given):
    with pytest.raises(ValueError, match="glam: input_shape must be two positive integers"):
        check_input_shape(given, model="glam")


def test_features_to_image_puts_features_on_height_and_time_on_width():
    features = torch.randn(2, 7, 5)  # (batch, frames, num_features)
    image = features_to_image(features, (5, 7), model="m")
    assert image.shape == (2, 1, 5, 7)
    assert image[1, 0, 3, 6] == features[1, 6, 3]


def test_features_to_image_names_expected_and_received_shapes():
    with pytest.raises(ValueError) as error:
        features_to_image(torch.zeros(2, 63, 26), (26, 57), model="glam")
    message = str(error.value)
    assert "glam" in message and "(26, 57)" in message and "(26, 63)" in message and "input.window" in message


# -- ResMultiConv --------------------------------------------------------------------------------------------


def test_res_multi_conv_matches_its_formula():
    torch.manual_seed(0)
    block = ResMultiConv(4).eval()
    with torch.no_grad():
        block.norm.running_mean.normal_()
        block.norm.running_var.uniform_(0.5, 2.0)
    x = torch.randn(2, 4, 6, 9)
    branches = torch.cat(
        (
            F.conv2d(x, block.conv3.weight, block.conv3.bias, padding=1) + x,
            F.conv2d(x, block.conv5.weight, block.conv5.bias, padding=2) + x,
        ),
        dim=1,
    )
    norm = block.norm
    expected = torch.relu(
        (branches - norm.running_mean[:, None, None])
        / torch.sqrt(norm.running_var[:, None, None] + norm.eps)
        * norm.weight[:, None, None]
        + norm.bias[:, None, None]
    )
    assert block(x).shape == (2, 8, 6, 9)
    torch.testing.assert_close(block(x), expected)


def test_res_multi_conv_shortcuts_pass_the_input_through_both_branches():
    block = ResMultiConv(3).eval()
    for conv in (block.conv3, block.conv5):
        nn.init.zeros_(conv.weight)
        nn.init.zeros_(conv.bias)
    x = torch.randn(1, 3, 5, 5)
    scale = (1 + block.norm.eps) ** -0.5
    torch.testing.assert_close(block(x), torch.relu(torch.cat((x, x), dim=1)) * scale)


# -- element-wise multi-head attention -----------------------------------------------------------------------


def test_multi_head_attention_equals_separate_heads_concatenated_on_height():
    torch.manual_seed(0)
    heads, hidden, channels = 3, 5, 7
    attention = ElementwiseMultiHeadAttention(in_channels=channels, attention_hidden=hidden, num_heads=heads)
    x = torch.randn(2, channels, 4, 6)
    weight = attention.to_qkv.weight.view(3, heads, hidden, channels, 1, 1)
    bias = attention.to_qkv.bias.view(3, heads, hidden)
    outputs = []
    for head in range(heads):  # the original: one Q, K, V convolution per head, torch.cat on dim 2
        q, k, v = (F.conv2d(x, weight[part, head], bias[part, head]) for part in range(3))
        outputs.append(F.softmax(q * k, dim=1) * v)
    expected = torch.cat(outputs, dim=2)
    assert expected.shape == (2, hidden, heads * 4, 6)
    torch.testing.assert_close(attention(x), expected)


def test_multi_head_attention_softmax_runs_over_each_heads_channels():
    attention = ElementwiseMultiHeadAttention(in_channels=4, attention_hidden=6, num_heads=2)
    hidden_block = slice(2 * 2 * 6, 3 * 2 * 6)  # the V rows of the joint convolution
    with torch.no_grad():
        attention.to_qkv.weight[hidden_block] = 0.0
        attention.to_qkv.bias[hidden_block] = 1.0  # V == 1, so the output is the softmax itself
    out = attention(torch.randn(3, 4, 5, 2))
    torch.testing.assert_close(out.sum(dim=1), torch.ones(3, 2 * 5, 2))


def test_multi_head_attention_parameters_equal_three_convolutions_per_head():
    attention = ElementwiseMultiHeadAttention(in_channels=128, attention_hidden=64, num_heads=4)
    assert sum(p.numel() for p in attention.parameters()) == 12 * (128 * 64 + 64)


# -- area attention ------------------------------------------------------------------------------------------


def _brute_force_area_attention(q, k, v, *, max_height, max_width, memory_height):
    """Every rectangle of the (memory_height, n / memory_height) grid, enumerated one by one."""
    batch, n, _ = k.shape
    columns = n // memory_height
    key_grid = k.view(batch, memory_height, columns, -1)
    value_grid = v.view(batch, memory_height, columns, -1)
    keys, values = [], []
    for height, width in itertools.product(range(1, max_height + 1), range(1, max_width + 1)):
        for top, left in itertools.product(range(memory_height - height + 1), range(columns - width + 1)):
            keys.append(key_grid[:, top : top + height, left : left + width].mean(dim=(1, 2)))
            values.append(value_grid[:, top : top + height, left : left + width].sum(dim=(1, 2)))
    keys, values = torch.stack(keys, dim=1), torch.stack(values, dim=1)  # (batch, num_areas, dim)
    weights = torch.softmax(q @ keys.transpose(1, 2), dim=-1)  # no temperature
    return weights @ values, keys.shape[1]


@pytest.mark.parametrize("memory_height", [1, 2])
def test_area_attention_matches_brute_force_enumeration(memory_height):
    torch.manual_seed(0)
    q, k, v = torch.randn(2, 5, 4), torch.randn(2, 12, 4), torch.randn(2, 12, 3)
    attention = AreaAttention(max_area_height=3, max_area_width=3, memory_height=memory_height).eval()
    expected, num_areas = _brute_force_area_attention(
        q, k, v, max_height=3, max_width=3, memory_height=memory_height
    )
    sums, sizes = attention.area_sums(k)
    assert sums.shape == (2, num_areas, 4) and sizes.shape == (num_areas, 1)
    torch.testing.assert_close(attention(q, k, v), expected)


def test_area_attention_self_attention_and_area_count_of_glam():
    torch.manual_seed(0)
    x = torch.randn(2, 182, 8)
    attention = AreaAttention(max_area_height=3, max_area_width=3, memory_height=1).eval()
    sums, _ = attention.area_sums(x)
    assert sums.shape[1] == 182 + 181 + 180  # one memory row: runs of 1, 2, 3 positions
    expected, _ = _brute_force_area_attention(x, x, x, max_height=3, max_width=3, memory_height=1)
    torch.testing.assert_close(attention(x, x, x), expected, rtol=1e-4, atol=1e-4)


def test_area_attention_dropout_acts_in_training_only():
    torch.manual_seed(0)
    x = torch.randn(2, 10, 4) * 0.1
    attention = AreaAttention(max_area_width=2, dropout=0.5)
    assert not torch.equal(attention(x, x, x), attention(x, x, x))
    attention.eval()
    assert torch.equal(attention(x, x, x), attention(x, x, x))


def test_area_attention_rejects_a_memory_that_does_not_fill_the_rows():
    with pytest.raises(ValueError, match="memory_height=2"):
        AreaAttention(memory_height=2)(torch.zeros(1, 5, 3), torch.zeros(1, 5, 3), torch.zeros(1, 5, 3))


# -- gMLP ----------------------------------------------------------------------------------------------------


def test_spatial_gating_unit_initialisation():
    torch.manual_seed(0)
    unit = SpatialGatingUnit(dim=364 * 2, seq_len=128)
    bound = 1e-3 / 128
    assert unit.weight.shape == (128, 128) and unit.bias.shape == (128,)
    assert torch.equal(unit.bias, torch.ones(128))
    assert unit.weight.abs().max() <= bound
    assert unit.weight.abs().max() > bound / 2  # drawn from the whole interval, not zeros
    assert unit.weight.std() > bound / 4
    assert unit.norm.normalized_shape == (364,)


def test_spatial_gating_unit_math_against_einsum():
    torch.manual_seed(0)
    unit = SpatialGatingUnit(dim=10, seq_len=6, activation=nn.Tanh())
    with torch.no_grad():  # move away from the near-identity initialisation so that mixing matters
        unit.weight.normal_()
        unit.bias.normal_()
        unit.norm.weight.normal_()
        unit.norm.bias.normal_()
    x = torch.randn(3, 6, 10)
    res, gate = x[..., :5], x[..., 5:]
    gate = F.layer_norm(gate, (5,), unit.norm.weight, unit.norm.bias, unit.norm.eps)
    mixed = torch.einsum("mn,bnd->bmd", unit.weight, gate) + unit.bias[None, :, None]
    torch.testing.assert_close(unit(x), torch.tanh(mixed) * res)


def test_spatial_gating_unit_passes_residual_half_at_initialisation():
    unit = SpatialGatingUnit(dim=8, seq_len=4, activation=nn.Tanh())
    nn.init.zeros_(unit.weight)
    x = torch.randn(2, 4, 8)
    torch.testing.assert_close(unit(x), torch.tanh(torch.tensor(1.0)) * x[..., :4])


def test_spatial_gating_unit_needs_an_even_dim():
    with pytest.raises(ValueError, match="even"):
        SpatialGatingUnit(dim=7, seq_len=3)


def test_gmlp_block_formula_and_parameter_count():
    torch.manual_seed(0)
    block = GMLPBlock(dim=6, seq_len=5, activation=nn.Tanh())
    x = torch.randn(2, 5, 6)
    hidden = F.gelu(block.proj_in(F.layer_norm(x, (6,), block.norm.weight, block.norm.bias, block.norm.eps)))
    assert hidden.shape == (2, 5, 24)
    torch.testing.assert_close(block(x), x + block.proj_out(block.sgu(hidden)))
    glam_block = GMLPBlock(dim=182, seq_len=128, activation=nn.Tanh())
    # LayerNorm(182) + Linear(182->728) + LayerNorm(364) + SGU(128x128 + 128) + Linear(364->182)
    assert sum(p.numel() for p in glam_block.parameters()) == 364 + 133_224 + 728 + 16_512 + 66_430


def test_gmlp_block_stays_in_bfloat16_under_autocast():
    torch.manual_seed(0)
    block = GMLPBlock(dim=16, seq_len=6, activation=nn.Tanh())
    x = torch.randn(2, 6, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = block(x.bfloat16())
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), block(x), rtol=5e-2, atol=5e-2)
