"""The CNN baselines of the GLAM paper: MHCNN, MACNN, APCNN and AACNN (Xu et al.'s attention CNNs).

All four share one convolutional trunk (Xu et al.'s ACNN): two stems, Conv kernel (10, 2) and Conv kernel
(2, 8), each with batch norm and ReLU, then Conv 3x3 to 32, 48, 64 and 80 channels, each with batch norm and
ReLU, with a 2x2 max-pool after the first two. They differ in how the stems are joined and in the attention:

=========== ================= =============================================== =========================
name        stems, joined on  attention on the (batch, 80, h, w) map          classifier input
=========== ================= =============================================== =========================
``mhcnn``   8 + 8, channels   element-wise multi-head attention, 4 x 64       global average (64)
``macnn``   8 + 8, channels   the same with 8 heads x 256                     global average (256)
``apcnn``   8 + 8, channels   attention pooling: softmax(class maps) x        (these are the logits)
                              saliency map, averaged
``aacnn``   16 + 16, height   area attention over the h * w positions         flatten (80 * h * w)
=========== ================= =============================================== =========================

Sources: ``lixiangucas01/GLAM`` commit ``1df7fce`` ``models.py`` (``MHCNN``, ``CNN_AttnPooling``, ``AACNN``)
and ``lessonxmk/head_fusion`` ``model.py`` (``MACNN``); SEEDS.md 1.3. Inputs are one-channel images
``(batch, 1, num_features, frames)`` of a fixed ``input_shape``; ``lengths`` is accepted and ignored
(complete segments), as in :mod:`serkit.models.glam`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from serkit.models import register_model
from serkit.models.base import InputSpec, SERModel
from serkit.models.layers import (
    AreaAttention,
    ElementwiseMultiHeadAttention,
    check_input_shape,
    features_to_image,
    use_channels_last,
)

__all__ = ["AACNN", "APCNN", "MHCNN", "AttentionCNNEncoder", "aacnn", "apcnn", "macnn", "mhcnn"]

#: Channels of the trunk output.
TRUNK_CHANNELS = 80
#: Output channels of conv2 .. conv5.
TRUNK_WIDTHS = (32, 48, 64, TRUNK_CHANNELS)


class AttentionCNNEncoder(nn.Module):
    """The shared trunk of Xu et al.'s attention CNNs.

    Args:
        stem_channels: output channels of each stem (8 for MHCNN/MACNN/APCNN, 16 for AACNN).
        stack_stems_on_height: join the stems on the height axis (AACNN) instead of the channel axis; conv2
            sees 16 channels either way.

    Shapes:
        (batch, 1, H, W) -> (batch, 80, h, w) with (h, w) from :meth:`output_size`.
    """

    def __init__(self, *, stem_channels: int, stack_stems_on_height: bool) -> None:
        super().__init__()
        self.stack_dim = 2 if stack_stems_on_height else 1
        self.conv1a = nn.Conv2d(1, stem_channels, kernel_size=(10, 2), padding=(4, 0))
        self.bn1a = nn.BatchNorm2d(stem_channels)
        self.conv1b = nn.Conv2d(1, stem_channels, kernel_size=(2, 8), padding=(0, 3))
        self.bn1b = nn.BatchNorm2d(stem_channels)
        width = stem_channels if stack_stems_on_height else 2 * stem_channels
        layers: list[nn.Module] = []
        for index, out in enumerate(TRUNK_WIDTHS):  # conv2 .. conv5
            layers += [nn.Conv2d(width, out, kernel_size=3, padding=1), nn.BatchNorm2d(out), nn.ReLU()]
            if index < 2:
                layers.append(nn.MaxPool2d(2))
            width = out
        self.body = nn.Sequential(*layers)

    def output_size(self, input_shape: tuple[int, int]) -> tuple[int, int]:
        """(h, w) of the output map for an ``(H, W)`` input: the stems give (H - 1, W - 1), then two pools."""
        height, width = input_shape[0] - 1, input_shape[1] - 1
        if self.stack_dim == 2:
            height *= 2
        return height // 4, width // 4

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        stem_a = F.relu(self.bn1a(self.conv1a(image)))  # (batch, stem_channels, H - 1, W - 1)
        stem_b = F.relu(self.bn1b(self.conv1b(image)))  # (batch, stem_channels, H - 1, W - 1)
        # on channels: (batch, 2 * stem_channels, H - 1, W - 1)
        # on height:   (batch, stem_channels, 2 * (H - 1), W - 1)
        x = torch.cat((stem_a, stem_b), dim=self.stack_dim)
        return self.body(x)  # (batch, 80, h, w)


class _FixedShapeCNN(SERModel):
    """Common plumbing: input-shape checks, the trunk, and the model contract around ``_embed``."""

    input_spec = InputSpec(kind="frames", feature="mfcc")

    def __init__(
        self,
        *,
        num_classes: int,
        input_shape: tuple[int, int],
        stem_channels: int,
        stack_stems_on_height: bool,
        name: str,
    ) -> None:
        super().__init__()
        self.name = name
        self.num_classes = num_classes
        self.input_shape = check_input_shape(input_shape, model=name)
        self.encoder = AttentionCNNEncoder(
            stem_channels=stem_channels, stack_stems_on_height=stack_stems_on_height
        )
        self.map_size = self.encoder.output_size(self.input_shape)
        if min(self.map_size) < 1:
            raise ValueError(
                f"{name}: input_shape={self.input_shape} is too small; the trunk needs at least "
                f"{3 if stack_stems_on_height else 5} features and 5 frames."
            )

    def _embed(self, feature_map: torch.Tensor) -> torch.Tensor:
        """(batch, 80, h, w) -> (batch, hidden_dim)."""
        raise NotImplementedError

    def forward_features(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """features (batch, frames, num_features), lengths (batch,) -> embedding (batch, hidden_dim).

        ``lengths`` is ignored: segments are complete windows of ``input_shape``.
        """
        image = features_to_image(features, self.input_shape, model=self.name)  # (batch, 1, H, W)
        return self._embed(self.encoder(image))

    def forward_head(self, embedding: torch.Tensor) -> torch.Tensor:
        """embedding (batch, hidden_dim) -> logits (batch, num_classes)."""
        return self.fc(embedding)

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """features (batch, frames, num_features), lengths (batch,) -> logits (batch, num_classes)."""
        return self.forward_head(self.forward_features(features, lengths))


class MHCNN(_FixedShapeCNN):
    """Multi-head attention CNN ("head fusion", Xu et al.): the GLAM paper's MHCNN, and MACNN.

    Trunk with 8 + 8 stem channels joined on channels;
    :class:`~serkit.models.layers.ElementwiseMultiHeadAttention` (per head 1x1 Q, K, V,
    ``softmax(Q * K over channels) * V``, heads stacked on height); ReLU; global average pooling over the
    whole (num_heads * h, w) map -> (batch, attention_hidden); Linear. The original's unused ``Dropout(0.5)``
    is left out. The classifier does not depend on the input size; the model is still built for one
    ``input_shape``, like the other baselines.

    Where MACNN comes from (nothing in the GLAM repository is called MACNN in code):

    - The GLAM README has a "MACNN" section with ``./MACNN``, ``./MACNN_script``, ``./MACNN_all``, but the
      repository's scripts are ``scripts/MHCNN``, ``MHCNN_script``, ``MHCNN_all`` (``-m MHCNN``), and the
      README's results table and t-SNE figure call that baseline MHCNN.
    - MACNN is the name Mingke Xu (lessonxmk) gave this network in ``lessonxmk/head_fusion``, file
      ``model.py``, class ``MACNN`` (read at commit ``4f23522``). By its name and its noise experiments that
      repository accompanies "Improve accuracy of speech emotion recognition with attention head fusion"
      (IEEE CCWC 2020) and "Head fusion: improving the accuracy and robustness of speech emotion recognition
      on the IEMOCAP and RAVDESS dataset" (IEEE Access 2021); the GLAM paper cites the head-fusion work
      (bib key ``headfusion2020``) among its attention-CNN references.
      GLAM's ``MHCNN`` is that class with GLAM's command-line defaults ``--head 4 --attn_hidden 64``; the
      original calls ``F.softmax`` without ``dim``, which for a 4-D tensor is dim 1 (channels), as in MHCNN.
    - So ``mhcnn`` is GLAM's 4 x 64 configuration, and ``macnn`` the head-fusion class with its own signature
      defaults, 8 heads x 256 channels (inferred as the canonical setting: that repository's ``train.py``
      overrides them per experiment, e.g. 2 x 392 at the commit read).
    - Not implemented: the TF2 class also named ``MACNN`` in ``lessonxmk/Optimized_attention_for_SER``
      (16 + 16 stems joined on height, "same" padding, 4 heads x 32 joined on width), which GLAM does not use.
      "Multiscale area attention" (Xu et al., ICASSP 2021) is the paper's AACNN (:class:`AACNN`).

    Args:
        num_classes: outputs.
        input_shape: (num_features, frames) of every segment.
        num_heads: attention heads.
        attention_hidden: Q/K/V channels per head (= the embedding size).
        name: the registry name, used in error messages.
    """

    def __init__(
        self,
        *,
        num_classes: int,
        input_shape: tuple[int, int],
        num_heads: int,
        attention_hidden: int,
        name: str = "mhcnn",
    ) -> None:
        super().__init__(
            num_classes=num_classes,
            input_shape=input_shape,
            stem_channels=8,
            stack_stems_on_height=False,
            name=name,
        )
        self.attention = ElementwiseMultiHeadAttention(
            in_channels=TRUNK_CHANNELS, attention_hidden=attention_hidden, num_heads=num_heads
        )
        self.hidden_dim = attention_hidden
        self.fc = nn.Linear(attention_hidden, num_classes)
        use_channels_last(self)

    def _embed(self, feature_map: torch.Tensor) -> torch.Tensor:
        heads = F.relu(self.attention(feature_map))  # (batch, attention_hidden, num_heads * h, w)
        return heads.mean(dim=(2, 3))  # (batch, attention_hidden)


class APCNN(_FixedShapeCNN):
    """CNN with attention pooling (Li et al., Interspeech 2019), GLAM's ``CNN_AttnPooling`` ("APCNN").

    On the trunk's 80-channel map a 1x1 "top-down" convolution gives one map per class, softmax-normalised
    over the classes at every position, and a 1x1 "bottom-up" convolution gives one saliency map; their
    product is averaged over all positions. That average already is the logits, so :meth:`forward_features`
    returns the logits themselves (``hidden_dim == num_classes``) and the head is the identity.

    Args:
        num_classes: outputs.
        input_shape: (num_features, frames) of every segment (GLAM feeds 400 x 197 log-power spectrograms).
    """

    input_spec = InputSpec(kind="frames", feature="apcnn_spectrogram")

    def __init__(self, *, num_classes: int, input_shape: tuple[int, int]) -> None:
        super().__init__(
            num_classes=num_classes,
            input_shape=input_shape,
            stem_channels=8,
            stack_stems_on_height=False,
            name="apcnn",
        )
        self.top_down = nn.Conv2d(TRUNK_CHANNELS, num_classes, kernel_size=1)
        self.bottom_up = nn.Conv2d(TRUNK_CHANNELS, 1, kernel_size=1)
        self.hidden_dim = num_classes
        self.fc = nn.Identity()
        use_channels_last(self)

    def _embed(self, feature_map: torch.Tensor) -> torch.Tensor:
        class_maps = torch.softmax(self.top_down(feature_map), dim=1)  # (batch, num_classes, h, w)
        saliency = self.bottom_up(feature_map)  # (batch, 1, h, w)
        return (class_maps * saliency).mean(dim=(2, 3))  # (batch, num_classes)


class AACNN(_FixedShapeCNN):
    """Area-attention CNN (Xu et al., "SER with multiscale area attention and data augmentation", 2021).

    GLAM's PyTorch ``AACNN``: trunk with 16 + 16 stem channels joined on **height**; the (batch, 80, h, w) map
    read as h * w positions (row-major) of 80 features; self :class:`~serkit.models.layers.AreaAttention` (key
    mean, value sum, ``memory_height=1`` so areas are runs of 1..``max_area_width`` positions, dropout 0.5, no
    temperature); ReLU; flattened position-major to 80 * h * w; Linear. The GLAM README says its AACNN numbers
    come from the TF2 code in ``lessonxmk/Optimized_attention_for_SER`` (tensor2tensor area attention); this
    is the PyTorch port that GLAM ships.

    Args:
        num_classes: outputs.
        input_shape: (num_features, frames) of every segment.
        max_area_height: tallest area (no effect with one memory row; the original passes 3).
        max_area_width: longest run of positions in one area.
    """

    def __init__(
        self, *, num_classes: int, input_shape: tuple[int, int], max_area_height: int, max_area_width: int
    ) -> None:
        super().__init__(
            num_classes=num_classes,
            input_shape=input_shape,
            stem_channels=16,
            stack_stems_on_height=True,
            name="aacnn",
        )
        self.attention = AreaAttention(
            max_area_height=max_area_height, max_area_width=max_area_width, memory_height=1, dropout=0.5
        )
        self.hidden_dim = TRUNK_CHANNELS * self.map_size[0] * self.map_size[1]
        self.fc = nn.Linear(self.hidden_dim, num_classes)
        use_channels_last(self)

    def _embed(self, feature_map: torch.Tensor) -> torch.Tensor:
        positions = feature_map.flatten(2).transpose(1, 2)  # (batch, h * w, 80)
        attended = F.relu(self.attention(positions, positions, positions))  # (batch, h * w, 80)
        return attended.flatten(1)  # (batch, h * w * 80)


@register_model()
def mhcnn(
    *,
    num_classes: int,
    input_shape: tuple[int, int] = (26, 63),
    num_heads: int = 4,
    attention_hidden: int = 64,
) -> MHCNN:
    """GLAM's MHCNN baseline, 4 heads x 64 (155,636 parameters for 4 classes)."""
    return MHCNN(
        num_classes=num_classes,
        input_shape=input_shape,
        num_heads=num_heads,
        attention_hidden=attention_hidden,
        name="mhcnn",
    )


@register_model()
def macnn(
    *,
    num_classes: int,
    input_shape: tuple[int, int] = (26, 63),
    num_heads: int = 8,
    attention_hidden: int = 256,
) -> MHCNN:
    """lessonxmk/head_fusion's MACNN with its class defaults, 8 heads x 256 (591,860 parameters, 4 classes).

    The same architecture as :func:`mhcnn`; :class:`MHCNN` explains why this is the GLAM README's "MACNN".
    """
    return MHCNN(
        num_classes=num_classes,
        input_shape=input_shape,
        num_heads=num_heads,
        attention_hidden=attention_hidden,
        name="macnn",
    )


@register_model()
def apcnn(*, num_classes: int, input_shape: tuple[int, int] = (400, 197)) -> APCNN:
    """Attention-pooling CNN on 400 x 197 spectrogram segments (93,573 parameters for 4 classes)."""
    return APCNN(num_classes=num_classes, input_shape=input_shape)


@register_model()
def aacnn(
    *,
    num_classes: int,
    input_shape: tuple[int, int] = (26, 63),
    max_area_height: int = 3,
    max_area_width: int = 3,
) -> AACNN:
    """Area-attention CNN (151,108 parameters for 4 classes at (26, 63))."""
    return AACNN(
        num_classes=num_classes,
        input_shape=input_shape,
        max_area_height=max_area_height,
        max_area_width=max_area_width,
    )
