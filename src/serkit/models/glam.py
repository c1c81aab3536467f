"""GLAM (Zhu & Li, ICASSP 2022) and the three ablations of its paper, exact to the released code.

Source: ``lixiangucas01/GLAM`` commit ``1df7fce`` (``models.py``: ``GLAM``, ``ResMultiConv3``,
``MHResMultiConv3``, ``AAResMultiConv3``; ``area_attention.py``) with the gMLP of ``lucidrains/g-mlp-pytorch``
0.1.5. See SEEDS.md 1.3.

All four models share a multi-scale convolutional encoder and differ only in the *fusion* applied to its
output before the linear classifier:

=================== ============== ========================================================================
registry name       paper name     fusion of the (batch, 128, H/2, W/4) map
=================== ============== ========================================================================
``glam``            GLAM           gMLP over the 128 channels as tokens (global-aware fusion), ReLU
``resmulticonv3``   Multi-scale    none
``mhresmulticonv3`` Multi-scale    element-wise multi-head attention, heads stacked on height, ReLU
                    + MHA
``aaresmulticonv3`` Multi-scale    area attention over the H/2 * W/4 positions, ReLU
                    + AA
=================== ============== ========================================================================

The originals take one-channel images ``(batch, 1, H = num_features, W = frames)`` of a fixed size (26 MFCCs
x 57 frames for GLAM's 1.8 s segments): the classifier's input size depends on it, so each model is built for
one ``input_shape = (num_features, frames)`` and rejects segments of another shape with an explicit error.
``lengths`` is accepted for the uniform model contract and ignored: every segment is a complete window (the
original drops utterances shorter than a segment, or tiles them with ``--padding``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from serkit.models import register_model
from serkit.models.base import InputSpec, SERModel
from serkit.models.layers import (
    AreaAttention,
    ElementwiseMultiHeadAttention,
    GMLPBlock,
    ResMultiConv,
    check_input_shape,
    features_to_image,
    use_channels_last,
)

__all__ = [
    "GLAM",
    "AreaFusion",
    "GlobalAwareFusion",
    "FoldedResMultiConv",
    "MultiHeadFusion",
    "MultiScaleEncoder",
    "NoFusion",
    "aaresmulticonv3",
    "fold_batch_norm",
    "glam",
    "mhresmulticonv3",
    "resmulticonv3",
]

#: Channels of the encoder output (the gMLP's "tokens").
ENCODER_CHANNELS = 128


class MultiScaleEncoder(nn.Module):
    """GLAM's convolutional trunk.

    Two stems, Conv(1->16, kernel (3, 1)) and Conv(1->16, kernel (1, 3)), each with batch norm and ReLU, are
    stacked on the **height** axis; three :class:`~serkit.models.layers.ResMultiConv` blocks (16->32->64->128
    channels) with 2x2 max-pooling after the first two; then Conv 5x5 (128->128), batch norm, ReLU.

    Shapes:
        (batch, 1, H, W) -> (batch, 128, H // 2, W // 4)
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1a = nn.Conv2d(1, 16, kernel_size=(3, 1), padding=(1, 0))
        self.bn1a = nn.BatchNorm2d(16)
        self.conv1b = nn.Conv2d(1, 16, kernel_size=(1, 3), padding=(0, 1))
        self.bn1b = nn.BatchNorm2d(16)
        self.conv2 = ResMultiConv(16)
        self.conv3 = ResMultiConv(32)
        self.conv4 = ResMultiConv(64)
        self.conv5 = nn.Conv2d(128, ENCODER_CHANNELS, kernel_size=5, padding=2)
        self.bn5 = nn.BatchNorm2d(ENCODER_CHANNELS)
        self.pool = nn.MaxPool2d(2)

    @staticmethod
    def output_size(input_shape: tuple[int, int]) -> tuple[int, int]:
        """(height, width) of the output map for an ``(H, W)`` input."""
        return input_shape[0] // 2, input_shape[1] // 4

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        along_features = F.relu(self.bn1a(self.conv1a(image)))  # (batch, 16, H, W)
        along_time = F.relu(self.bn1b(self.conv1b(image)))  # (batch, 16, H, W)
        x = torch.cat((along_features, along_time), dim=2)  # (batch, 16, 2H, W)
        x = self.pool(self.conv2(x))  # (batch, 32, H, W // 2)
        x = self.pool(self.conv3(x))  # (batch, 64, H // 2, W // 4)
        x = self.conv4(x)  # (batch, 128, H // 2, W // 4)
        return F.relu(self.bn5(self.conv5(x)))  # (batch, 128, H // 2, W // 4)


# -- fusions: (batch, 128, height, width) -> (batch, hidden_dim) ------------------------------------------


class GlobalAwareFusion(nn.Module):
    """GLAM's global-aware fusion: one gMLP layer whose tokens are the 128 channels, each the flattened map.

    ``gMLP(dim = height * width, depth = 1, seq_len = 128, act = Tanh)``, then ReLU and flatten.
    """

    def __init__(self, channels: int, height: int, width: int) -> None:
        super().__init__()
        self.gmlp = GMLPBlock(dim=height * width, seq_len=channels, activation=nn.Tanh())
        self.hidden_dim = channels * height * width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = x.flatten(2)  # (batch, channels, height * width): one token per channel
        return F.relu(self.gmlp(tokens)).flatten(1)  # (batch, channels * height * width)


class NoFusion(nn.Module):
    """The "Multi-scale" ablation (``ResMultiConv3``): the encoder map is flattened as it is."""

    def __init__(self, channels: int, height: int, width: int) -> None:
        super().__init__()
        self.hidden_dim = channels * height * width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)  # (batch, channels * height * width)


class MultiHeadFusion(nn.Module):
    """The "Multi-scale + MHA" ablation (``MHResMultiConv3``): multi-head attention, ReLU, flatten.

    Heads are stacked on the height axis (see :class:`~serkit.models.layers.ElementwiseMultiHeadAttention`).
    """

    def __init__(
        self, channels: int, height: int, width: int, *, num_heads: int, attention_hidden: int
    ) -> None:
        super().__init__()
        self.attention = ElementwiseMultiHeadAttention(
            in_channels=channels, attention_hidden=attention_hidden, num_heads=num_heads
        )
        self.hidden_dim = attention_hidden * num_heads * height * width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (batch, attention_hidden, num_heads * height, width) -> (batch, hidden_dim)
        return F.relu(self.attention(x)).flatten(1)


class AreaFusion(nn.Module):
    """The "Multi-scale + AA" ablation (``AAResMultiConv3``): self area attention over the map's positions.

    Positions are taken row-major (height then width) with channels as features; areas are runs of 1 to 3
    consecutive positions of that sequence (``max_area_height = max_area_width = 3`` with
    ``memory_height = 1``, so no area is taller than one row); dropout 0.5 on the weights. Flattened
    position-major, as the original.
    """

    def __init__(self, channels: int, height: int, width: int) -> None:
        super().__init__()
        self.attention = AreaAttention(max_area_height=3, max_area_width=3, memory_height=1, dropout=0.5)
        self.hidden_dim = channels * height * width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        positions = x.flatten(2).transpose(1, 2)  # (batch, height * width, channels)
        attended = F.relu(self.attention(positions, positions, positions))  # (batch, height*width, channels)
        return attended.flatten(1)  # (batch, height * width * channels)


#: What every fusion class is: (channels, height, width) of the encoder map -> a module with ``hidden_dim``.
FusionFactory = Callable[[int, int, int], nn.Module]


class GLAM(SERModel):
    """GLAM and its ablations: multi-scale encoder, a fusion module, then one linear classifier.

    Args:
        num_classes: outputs (4 in the paper).
        input_shape: (num_features, frames) of every segment, e.g. (26, 57) = 26 MFCCs of a 1.8 s segment.
        fusion: builds the fusion from the encoder map's (channels, height, width): :class:`GlobalAwareFusion`
            is GLAM; :class:`NoFusion`, :class:`MultiHeadFusion` and :class:`AreaFusion` are the ablations.
        name: the registry name, used in error messages.

    Attributes:
        hidden_dim: size of the embedding returned by :meth:`forward_features` (the classifier's input).
    """

    input_spec = InputSpec(kind="frames", feature="mfcc")

    def __init__(
        self,
        *,
        num_classes: int,
        input_shape: tuple[int, int],
        fusion: FusionFactory = GlobalAwareFusion,
        name: str = "glam",
    ) -> None:
        super().__init__()
        self.input_shape = check_input_shape(input_shape, model=name)
        height, width = MultiScaleEncoder.output_size(self.input_shape)
        if height < 1 or width < 1:
            raise ValueError(
                f"{name}: input_shape={self.input_shape} is too small; it needs at least 2 "
                f"features and 4 frames (the encoder halves the features, quarters the frames)."
            )
        self.name = name
        self.num_classes = num_classes
        self.encoder = MultiScaleEncoder()
        self.fusion = fusion(ENCODER_CHANNELS, height, width)
        self.hidden_dim = self.fusion.hidden_dim
        self.fc = nn.Linear(self.hidden_dim, num_classes)
        use_channels_last(self)

    def forward_features(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """features (batch, frames, num_features), lengths (batch,) -> embedding (batch, hidden_dim).

        ``lengths`` is ignored: segments are complete windows of ``input_shape``.
        """
        image = features_to_image(features, self.input_shape, model=self.name)  # (batch, 1, H, W)
        return self.fusion(self.encoder(image))

    def forward_head(self, embedding: torch.Tensor) -> torch.Tensor:
        """embedding (batch, hidden_dim) -> logits (batch, num_classes)."""
        return self.fc(embedding)

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """features (batch, frames, num_features), lengths (batch,) -> logits (batch, num_classes)."""
        return self.forward_head(self.forward_features(features, lengths))

    def for_inference(self) -> GLAM:
        """A copy in eval mode with every batch norm (and the blocks' identity shortcuts) folded into the
        convolution before it: the same outputs up to float rounding, ~1.5x faster (fewer passes over the maps)."""
        if isinstance(self.encoder.bn5, nn.Identity):  # already folded
            return self.eval()
        fused = copy.deepcopy(self).eval()
        encoder = fused.encoder
        with torch.no_grad():
            encoder.conv1a, encoder.bn1a = fold_batch_norm(encoder.conv1a, encoder.bn1a), nn.Identity()
            encoder.conv1b, encoder.bn1b = fold_batch_norm(encoder.conv1b, encoder.bn1b), nn.Identity()
            encoder.conv5, encoder.bn5 = fold_batch_norm(encoder.conv5, encoder.bn5), nn.Identity()
            for name in ("conv2", "conv3", "conv4"):
                setattr(encoder, name, FoldedResMultiConv(getattr(encoder, name)))
        return use_channels_last(fused)


def fold_batch_norm(
    conv: nn.Conv2d, norm: nn.BatchNorm2d, channels: slice = slice(None), *, shortcut: bool = False
) -> nn.Conv2d:
    """A convolution equal to ``norm(conv(x) + (x if shortcut else 0))`` in eval mode, for the output channels
    ``channels`` of ``norm`` (all by default). The shortcut is a kernel with 1 at its centre from channel c to c
    (``conv`` must keep the channels and the size: odd kernel, "same" padding, stride 1)."""
    scale = norm.running_var[channels].add(norm.eps).rsqrt()
    if norm.affine:
        scale = scale * norm.weight[channels]
    shift = -norm.running_mean[channels] * scale + (norm.bias[channels] if norm.affine else 0.0)
    weight = conv.weight.detach().clone()
    if shortcut:
        index = torch.arange(weight.shape[0])
        weight[index, index, weight.shape[2] // 2, weight.shape[3] // 2] += 1.0
    bias = conv.bias.detach() if conv.bias is not None else torch.zeros_like(shift)
    folded = nn.Conv2d(
        conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride, padding=conv.padding
    )
    folded.weight.copy_(weight * scale[:, None, None, None])
    folded.bias.copy_(bias * scale + shift)
    return folded


class FoldedResMultiConv(nn.Module):
    """:class:`~serkit.models.layers.ResMultiConv` in eval mode with its shortcuts and batch norm folded into the
    two convolutions: ``relu(cat(conv3'(x), conv5'(x)))``. Shapes as ResMultiConv."""

    def __init__(self, block: ResMultiConv) -> None:
        super().__init__()
        channels = block.conv3.out_channels
        self.conv3 = fold_batch_norm(block.conv3, block.norm, slice(0, channels), shortcut=True)
        self.conv5 = fold_batch_norm(block.conv5, block.norm, slice(channels, 2 * channels), shortcut=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(torch.cat((self.conv3(x), self.conv5(x)), dim=1))


@register_model()
def glam(*, num_classes: int, input_shape: tuple[int, int] = (26, 57)) -> GLAM:
    """GLAM: multi-scale CNN + gMLP global-aware fusion (904,078 parameters for 4 classes at (26, 57))."""
    return GLAM(num_classes=num_classes, input_shape=input_shape, fusion=GlobalAwareFusion, name="glam")


@register_model()
def resmulticonv3(*, num_classes: int, input_shape: tuple[int, int] = (26, 57)) -> GLAM:
    """GLAM without fusion, the paper's "Multi-scale" ablation (686,820 parameters at (26, 57), 4 classes)."""
    return GLAM(num_classes=num_classes, input_shape=input_shape, fusion=NoFusion, name="resmulticonv3")


@register_model()
def mhresmulticonv3(
    *,
    num_classes: int,
    input_shape: tuple[int, int] = (26, 57),
    num_heads: int = 4,
    attention_hidden: int = 64,
) -> GLAM:
    """GLAM with element-wise multi-head attention for gMLP, "Multi-scale + MHA" (879,076 parameters)."""
    fusion = partial(MultiHeadFusion, num_heads=num_heads, attention_hidden=attention_hidden)
    return GLAM(num_classes=num_classes, input_shape=input_shape, fusion=fusion, name="mhresmulticonv3")


@register_model()
def aaresmulticonv3(*, num_classes: int, input_shape: tuple[int, int] = (26, 57)) -> GLAM:
    """GLAM with area attention instead of gMLP, "Multi-scale + AA" (686,820 parameters at (26, 57))."""
    return GLAM(num_classes=num_classes, input_shape=input_shape, fusion=AreaFusion, name="aaresmulticonv3")
