"""Blocks shared by more than one model family (and by the CPT-HuBERT pre-training: :func:`span_mask`)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "AreaAttention",
    "ElementwiseMultiHeadAttention",
    "GMLPBlock",
    "ResMultiConv",
    "SpatialGatingUnit",
    "check_input_shape",
    "features_to_image",
    "lengths_to_mask",
    "masked_mean",
    "span_mask",
    "use_channels_last",
]


def lengths_to_mask(lengths: torch.Tensor, max_length: int | None = None) -> torch.Tensor:
    """Boolean mask of valid positions.

    Args:
        lengths: (batch,) int64 numbers of valid frames.
        max_length: mask width; default ``lengths.max()``.

    Returns:
        mask: (batch, max_length), True where ``position < length``.
    """
    max_length = int(lengths.max()) if max_length is None else max_length
    positions = torch.arange(max_length, device=lengths.device)
    return positions.unsqueeze(0) < lengths.unsqueeze(1)


def masked_mean(values: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Mean over the time axis counting only valid frames.

    Args:
        values: (batch, frames, hidden_dim).
        lengths: (batch,) valid frames per example (>= 1).

    Returns:
        (batch, hidden_dim)
    """
    mask = lengths_to_mask(lengths, values.shape[1]).unsqueeze(-1).to(values.dtype)  # (batch, frames, 1)
    return (values * mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1.0)


# -- time masking (HuBERT fine-tuning in models/hubert.py, its pre-training in cpt/pretrain.py) ----------------
#
# transformers draws its SpecAugment spans inside the model with NumPy's global generator (a private helper); serkit
# draws them here and passes them as ``mask_time_indices``, so the spans depend only on torch seeds (a resumed run
# masks the same frames as an uninterrupted one) and the same code serves pre-training (``mask_prob`` 0.8) and
# fine-tuning (0.08).


def span_mask(
    frame_lengths: torch.Tensor,
    *,
    max_frames: int,
    mask_prob: float,
    mask_length: int,
    min_masks: int = 2,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Spans to mask, as in HuBERT / fairseq ``compute_mask_indices`` (spans may overlap).

    Each utterance of ``L`` valid frames gets ``max(min_masks, floor(mask_prob * L / mask_length + u))`` spans
    (``u ~ U(0, 1)``) of ``mask_length`` frames, at distinct random starts in ``[0, L - mask_length]``, clipped
    at ``L``; fewer when there are not that many starts. Padded frames are never masked.

    Args:
        frame_lengths: (batch,) valid frames per utterance.
        max_frames: width of the mask (the padded number of frames).
        mask_prob: fraction of frames covered by spans before overlaps, 0 <= p <= 1.
        mask_length: frames per span (HuBERT: 10).
        min_masks: spans per utterance at least.
        generator: torch generator (None: the global one).

    Returns:
        (batch, max_frames) bool, True where the frame is masked.
    """
    if not 0.0 <= mask_prob <= 1.0:
        raise ValueError(f"mask_prob={mask_prob} must be between 0 and 1.")
    if mask_length < 1:
        raise ValueError(f"mask_length={mask_length} must be at least 1 frame.")
    lengths = frame_lengths.detach().cpu().long()
    mask = torch.zeros(len(lengths), max_frames, dtype=torch.bool)
    if mask_prob == 0.0:
        return mask.to(frame_lengths.device)
    for row, length in enumerate(lengths.tolist()):
        length = min(length, max_frames)
        if length <= 0:
            continue
        jitter = float(torch.rand((), generator=generator))
        wanted = max(min_masks, int(mask_prob * length / mask_length + jitter))
        starts_available = max(1, length - mask_length + 1)
        count = min(wanted, starts_available)
        starts = torch.randperm(starts_available, generator=generator)[:count]
        for start in starts.tolist():
            mask[row, start : min(start + mask_length, length)] = True
    return mask.to(frame_lengths.device)


# -- fixed-shape image models (GLAM family, CNN baselines) --------------------------------------------------


def check_input_shape(input_shape: Sequence[int | str], *, model: str) -> tuple[int, int]:
    """Validate ``input_shape = (num_features, frames)`` of a fixed-shape model and return it as two ints.

    Accepts a tuple, a YAML list or the strings a ``--set model.input_shape=26,57`` override produces.

    Raises:
        ValueError: not two positive integers.
    """
    try:
        shape = tuple(int(value) for value in input_shape)
    except (TypeError, ValueError):
        shape = ()
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(
            f"{model}: input_shape must be two positive integers (num_features, frames), "
            f"e.g. (26, 57); got {input_shape!r}."
        )
    return shape[0], shape[1]


def features_to_image(features: torch.Tensor, input_shape: tuple[int, int], *, model: str) -> torch.Tensor:
    """Turn a batch of feature segments into the one-channel images the fixed-shape CNNs were built for.

    Args:
        features: (batch, frames, num_features).
        input_shape: the (num_features, frames) the model was built with.
        model: name used in the error message.

    Returns:
        image: (batch, 1, num_features, frames), contiguous — features on the height axis, time on the width
        axis, as the originals (librosa's ``(n_mfcc, frames)`` matrices) had them.

    Raises:
        ValueError: the segment shape differs from ``input_shape``.
    """
    got = (features.shape[2], features.shape[1]) if features.dim() == 3 else tuple(features.shape)
    if features.dim() != 3 or got != tuple(input_shape):
        raise ValueError(
            f"{model} was built for segments of input_shape=(num_features, frames)={tuple(input_shape)} but "
            f"got {got} (features tensor of shape {tuple(features.shape)}, expected (batch, frames, "
            f"num_features)). Set input.window (segment length) and the feature settings so that every "
            f"segment has exactly {input_shape[1]} frames of {input_shape[0]} features, or build the model "
            f"with input_shape={got}."
        )
    image = features.transpose(1, 2).unsqueeze(1)  # (batch, 1, num_features, frames)
    return image.contiguous()  # one copy, instead of one in each stem convolution


def use_channels_last(model: nn.Module) -> nn.Module:
    """Store the 4-D (convolution) weights of ``model`` channels-last, in place; values are unchanged.

    A one-channel image has the same layout in both formats, so the weights decide: with channels-last weights
    every convolution runs on channels-last activations. Measured on 1 CPU thread, batch 32, against NCHW:
    GLAM training +10 % and inference +14 %, MHCNN +20 % / +55 %, AACNN +15 % / +30 %.
    """
    return model.to(memory_format=torch.channels_last)


class ResMultiConv(nn.Module):
    """GLAM's multi-scale block: parallel 3x3 and 5x5 convolutions, each with an identity shortcut.

    ``relu(batchnorm(cat(conv3(x) + x, conv5(x) + x)))`` with the two branches concatenated on channels.

    Args:
        channels: input channels; the output has twice as many.

    Shapes:
        (batch, channels, height, width) -> (batch, 2 * channels, height, width)
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv3 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)
        self.conv5 = nn.Conv2d(channels, channels, kernel_size=5, padding=2)
        self.norm = nn.BatchNorm2d(2 * channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.cat((self.conv3(x) + x, self.conv5(x) + x), dim=1)  # (batch, 2 * channels, height, width)
        return F.relu(self.norm(x))


class ElementwiseMultiHeadAttention(nn.Module):
    """The multi-head attention of Xu et al.'s head-fusion CNN (MHCNN / MACNN, GLAM's MHResMultiConv3).

    Each head has 1x1 convolutions Q, K, V to ``attention_hidden`` channels, and its output is
    ``softmax(Q * K, over channels) * V`` — element-wise products at every position, not dot products between
    positions. The heads are concatenated on the **height** axis (head 0 on top), as in the original code.
    All heads' Q, K, V come from one 1x1 convolution: the same parameters, the same default initialisation
    (fan-in = ``in_channels`` either way) and the same math as ``3 * num_heads`` separate convolutions, in one
    matrix product.

    Args:
        in_channels: channels of the input map.
        attention_hidden: channels of Q, K, V (and of the output) per head.
        num_heads: number of heads.

    Shapes:
        (batch, in_channels, height, width) -> (batch, attention_hidden, num_heads * height, width)
    """

    def __init__(self, *, in_channels: int, attention_hidden: int, num_heads: int) -> None:
        super().__init__()
        if attention_hidden < 1 or num_heads < 1:
            raise ValueError(
                f"attention_hidden and num_heads must be >= 1, got {attention_hidden} and {num_heads}."
            )
        self.attention_hidden = attention_hidden
        self.num_heads = num_heads
        self.to_qkv = nn.Conv2d(in_channels, 3 * num_heads * attention_hidden, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, _, height, width = x.shape
        qkv = self.to_qkv(x).view(batch, 3, self.num_heads, self.attention_hidden, height, width)
        query, key, value = qkv.unbind(1)  # each (batch, num_heads, attention_hidden, height, width)
        heads = torch.softmax(query * key, dim=2) * value  # softmax over each head's channels
        # (batch, attention_hidden, num_heads, height, width) -> heads stacked on height
        return heads.transpose(1, 2).reshape(batch, self.attention_hidden, self.num_heads * height, width)


class AreaAttention(nn.Module):
    """Area attention (Li et al., ICML 2019) as used by AACNN and GLAM's AAResMultiConv3.

    The memory (``num_items`` vectors) is laid out as a grid of ``memory_height`` rows; every rectangle of
    1..``max_area_height`` rows by 1..``max_area_width`` columns is an *area*. An area's key is the mean of
    its keys and its value the sum of its values (key mode ``mean``, value mode ``sum``, the only modes the
    GLAM models use); the attention weights are ``softmax(query @ area_keys.T)`` **without** a 1/sqrt(d)
    temperature (the original has that line commented out), followed by dropout. With ``memory_height=1``
    (the GLAM code's setting) areas are runs of 1..``max_area_width`` consecutive items and taller areas do
    not exist. Areas are ordered by (height, width, top row, left column), as in the original; the order does
    not change the result.

    Args:
        max_area_height: tallest area, in grid rows.
        max_area_width: widest area, in grid columns.
        memory_height: rows of the grid; ``num_items`` must be a multiple of it.
        dropout: dropout on the attention weights.

    Shapes:
        query (batch, num_queries, hidden_dim), key (batch, num_items, hidden_dim),
        value (batch, num_items, value_dim) -> (batch, num_queries, value_dim)
    """

    def __init__(
        self,
        *,
        max_area_height: int = 1,
        max_area_width: int = 1,
        memory_height: int = 1,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if min(max_area_height, max_area_width, memory_height) < 1:
            raise ValueError(
                f"max_area_height, max_area_width and memory_height must be >= 1, got "
                f"{max_area_height}, {max_area_width}, {memory_height}."
            )
        self.max_area_height = max_area_height
        self.max_area_width = max_area_width
        self.memory_height = memory_height
        self.dropout = nn.Dropout(dropout)

    def area_sums(self, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Sum of the items of every area, from an integral image.

        Args:
            items: (batch, num_items, dim).

        Returns:
            sums: (batch, num_areas, dim); sizes: (num_areas, 1) items per area.
        """
        batch, num_items, dim = items.shape
        if num_items % self.memory_height:
            raise ValueError(
                f"AreaAttention: {num_items} memory items cannot be laid out in "
                f"memory_height={self.memory_height} rows."
            )
        rows, columns = self.memory_height, num_items // self.memory_height
        grid = items.reshape(batch, rows, columns, dim)
        integral = F.pad(grid.cumsum(2).cumsum(1), (0, 0, 1, 0, 1, 0))  # (batch, rows + 1, columns + 1, dim)
        sums, sizes = [], []
        for height in range(1, min(self.max_area_height, rows) + 1):
            for width in range(1, min(self.max_area_width, columns) + 1):
                area = (
                    integral[:, height:, width:]
                    - integral[:, :-height, width:]
                    - integral[:, height:, :-width]
                    + integral[:, :-height, :-width]
                )
                sums.append(area.reshape(batch, -1, dim))  # (batch, areas of this size, dim)
                sizes.append(
                    torch.full(
                        (sums[-1].shape[1], 1), float(height * width), device=items.device, dtype=items.dtype
                    )
                )
        return torch.cat(sums, dim=1), torch.cat(sizes, dim=0)

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        key_sums, sizes = self.area_sums(key)
        # self-attention (value is key): one integral image serves both
        value_sums = key_sums if value is key else self.area_sums(value)[0]
        logits = torch.matmul(query, (key_sums / sizes).transpose(1, 2))  # (batch, num_queries, num_areas)
        weights = self.dropout(logits.softmax(dim=-1))
        return torch.matmul(weights, value_sums)


class SpatialGatingUnit(nn.Module):
    """The spatial gating unit of gMLP (Liu et al., 2021), as in lucidrains' g-mlp-pytorch 0.1.5 (one head).

    The input is split on its last axis into ``res`` and ``gate`` halves; ``gate`` is layer-normalised and
    mixed across the ``seq_len`` tokens by a learned ``(seq_len, seq_len)`` matrix plus a per-token bias,
    ``gate'[m] = sum_n weight[m, n] * gate[n] + bias[m]``; the output is ``activation(gate') * res``.
    The weight starts near zero (uniform in +-``init_eps / seq_len``) and the bias at one, so that at
    initialisation the unit passes ``activation(1) * res`` through.

    Args:
        dim: feature size of the input (even); the output has ``dim // 2``.
        seq_len: number of tokens.
        activation: applied to the mixed gate (GLAM uses ``nn.Tanh()``); default identity.
        init_eps: scale of the weight initialisation.

    Shapes:
        (batch, seq_len, dim) -> (batch, seq_len, dim // 2)
    """

    def __init__(
        self, *, dim: int, seq_len: int, activation: nn.Module | None = None, init_eps: float = 1e-3
    ) -> None:
        super().__init__()
        if dim % 2:
            raise ValueError(f"SpatialGatingUnit: dim={dim} must be even (it is split into two halves).")
        self.norm = nn.LayerNorm(dim // 2)
        self.weight = nn.Parameter(torch.empty(seq_len, seq_len))
        self.bias = nn.Parameter(torch.ones(seq_len))
        self.activation = activation if activation is not None else nn.Identity()
        bound = init_eps / seq_len
        nn.init.uniform_(self.weight, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        res, gate = x.chunk(2, dim=-1)  # each (batch, seq_len, dim // 2)
        gate = self.norm(gate)  # in the input's dtype (bfloat16 under autocast)
        # mixes tokens, not features; the bias in the gate's dtype, else bfloat16 + float32 promotes the gate and
        # every later step to float32 (GLAM's gMLP: ~1.5x slower under autocast)
        gate = torch.matmul(self.weight, gate) + self.bias.to(gate.dtype)[:, None]
        return self.activation(gate) * res


class GMLPBlock(nn.Module):
    """One residual, pre-norm gMLP layer (g-mlp-pytorch 0.1.5 ``gMLP``, depth 1, no attention or token shift).

    ``y = x + proj_out(sgu(gelu(proj_in(layer_norm(x)))))`` with ``proj_in: dim -> ff_mult * dim`` and
    ``proj_out: ff_mult * dim / 2 -> dim``.

    Args:
        dim: feature size of each token.
        seq_len: number of tokens (mixed by the spatial gating unit).
        ff_mult: width multiplier of the inner projection.
        activation: the gating activation of the :class:`SpatialGatingUnit`.

    Shapes:
        (batch, seq_len, dim) -> (batch, seq_len, dim)
    """

    def __init__(
        self, *, dim: int, seq_len: int, ff_mult: int = 4, activation: nn.Module | None = None
    ) -> None:
        super().__init__()
        inner = dim * ff_mult
        self.norm = nn.LayerNorm(dim)
        self.proj_in = nn.Linear(dim, inner)
        self.sgu = SpatialGatingUnit(dim=inner, seq_len=seq_len, activation=activation)
        self.proj_out = nn.Linear(inner // 2, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.proj_out(self.sgu(F.gelu(self.proj_in(self.norm(x)))))
