"""DCNN-BLSTMwA (tkhrtnk/DCNN-LSTMWA, after Zhang et al., Frontiers in Physiology 2021; SEEDS.md 4.4).

Two models trained one after the other on the images of :mod:`serkit.features.dcnn`
(``(batch, segments, 3, 227, 227)``, each segment a 64-frame window of the static / delta / delta-delta log-mel):

* ``alexnet`` (stage 1, "DCNN"): AlexNet classifying single segments with the utterance's label. Our own code,
  with state-dict keys identical to torchvision's ``AlexNet`` (``features.0/3/6/8/10``, ``classifier.1/4/6``), so
  the ImageNet checkpoint torchvision distributes (``alexnet-owt-7be5be79.pth``) loads from a local file with
  ``weights: PATH``; its 1000-class ``classifier.6`` is replaced by a freshly initialised one for our classes,
  as the original did. Without ``weights`` the network starts from random weights; :attr:`AlexNet.init_note`
  says which, for checkpoints and reports. 57,020,228 parameters with 4 classes.
* ``dcnn_blstm`` (stage 2, "DCNN-BLSTMwA"): the stage-1 AlexNet up to its second fully connected layer (fc7,
  4096 values before the ReLU) encodes every segment; a bidirectional LSTM (128 per direction) runs over the
  segments, self-attention (q, k, v 256 -> 256, scores / (sqrt(256) + 1e-10), softmax over keys) relates them,
  the attended vectors are pooled over segments, and a 256-512-256-classes MLP (ReLU, dropout 0.1) classifies.
  :meth:`DCNNBLSTM.init_from_stage` loads the stage-1 weights into the extractor.

The original's choices that tie the model to one utterance length or that we consider accidents are options with
other defaults (SEEDS.md 4.8):

=================== ================================ ==========================================================
option              default                          original
=================== ================================ ==========================================================
``lstm_layers``     1                                as many stacked layers as segments (8 for ESD, 11 for 4 s)
``attention_pool``  ``mean`` over valid segments     ``sum`` over query positions
``freeze_extractor``  false                          false (the extractor is fine-tuned too)
=================== ================================ ==========================================================

Inputs follow the runner's contract: ``features (batch, frames, 3, height, width)`` with ``lengths (batch,)``
valid frames (segments). In ``input.mode: frames`` (stage 1) every chunk is one segment, ``frames = 1``; an
utterance's prediction is then the mean of its segments' logits. AlexNet also averages over several frames if it is
given them (mean of per-segment logits, padding excluded), so it can classify whole utterances too.

``alexnet_small`` and ``dcnn_blstm_small`` have the same structure with narrow layers, for tests and smoke runs
(pair them: stage 2's extractor must have stage 1's layer sizes). AlexNet's geometry needs images of at least
63 x 63 pixels.

Stage 1's network, with its torchvision-compatible weight loading, is in :mod:`serkit.models.alexnet`; its names
can still be imported from here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import nn

from serkit.models import register_model
from serkit.models.alexnet import (
    ALEXNET_WIDTHS,
    SMALL_WIDTHS,
    AlexNet,
    _check_images,
    alexnet,
    alexnet_small,
    load_alexnet_weights,
    read_state_dict,
)
from serkit.models.alexnet import MIN_IMAGE_SIZE as MIN_IMAGE_SIZE  # public before the split
from serkit.models.base import InputSpec, SERModel
from serkit.models.layers import lengths_to_mask, masked_mean

__all__ = [
    "ALEXNET_WIDTHS",
    "DCNNBLSTM",
    "AlexNet",
    "SegmentSelfAttention",
    "alexnet",
    "alexnet_small",
    "dcnn_blstm",
    "dcnn_blstm_small",
    "load_alexnet_weights",
    "read_state_dict",
]

_ATTENTION_POOLING = ("mean", "sum")


class SegmentSelfAttention(nn.Module):
    """DCNN-BLSTMwA's self-attention over segments, pooled to one vector.

    ``softmax(Q K^T / (sqrt(dim) + 1e-10)) V`` with padded segments masked out as keys; the attended vectors of
    the valid query positions are then averaged (``pooling="mean"``) or summed (``"sum"``, the original).

    Shapes:
        values (batch, segments, dim), lengths (batch,) -> (batch, dim).
    """

    def __init__(self, dim: int, *, pooling: str = "mean") -> None:
        super().__init__()
        if pooling not in _ATTENTION_POOLING:
            raise ValueError(f"attention_pooling={pooling!r}: use one of {', '.join(_ATTENTION_POOLING)}.")
        self.query, self.key, self.value = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.scale = math.sqrt(dim) + 1e-10
        self.pooling = pooling

    def forward(self, values: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        mask = lengths_to_mask(lengths, values.shape[1])  # (batch, segments)
        scores = self.query(values) @ self.key(values).transpose(1, 2) / self.scale  # (batch, queries, keys)
        scores = scores.masked_fill(~mask.unsqueeze(1), float("-inf"))
        attended = torch.softmax(scores, dim=-1) @ self.value(values)  # (batch, segments, dim)
        if self.pooling == "mean":
            return masked_mean(attended, lengths)
        return (attended * mask.unsqueeze(-1).to(attended.dtype)).sum(dim=1)


class DCNNBLSTM(SERModel):
    """DCNN-BLSTMwA: AlexNet fc7 per segment -> BiLSTM -> self-attention over segments -> MLP.

    Args:
        num_classes: outputs.
        widths, extractor_hidden: the AlexNet extractor's sizes (must match the stage-1 model).
        lstm_hidden: LSTM units per direction.
        lstm_layers: stacked LSTM layers (the original: as many as segments, 8 or 11).
        attention_pooling: ``mean`` over valid segments or ``sum`` (the original).
        head_dims: hidden widths of the classifier MLP.
        dropout: in the classifier MLP (after its first layer).
        extractor_dropout: the extractor's own dropout before fc6 / fc7 (the original kept stage 1's 0.5).
        freeze_extractor: keep the extractor's weights fixed (and its dropout off).
        resize_to: resize incoming segment images first (0 = off); see :class:`AlexNet`.

    Shapes:
        features (batch, segments, 3, height, width), lengths (batch,) -> logits (batch, num_classes).
    """

    input_spec = InputSpec(kind="images", feature="dcnn_segments")
    #: ``dcnn_blstm(weights=...)`` only loads the extractor's ImageNet weights: a checkpoint's state dict
    #: replaces them.
    initial_weight_args = ("weights",)

    def __init__(
        self,
        *,
        num_classes: int,
        widths: Sequence[int] = ALEXNET_WIDTHS,
        extractor_hidden: int = 4096,
        lstm_hidden: int = 128,
        lstm_layers: int = 1,
        attention_pooling: str = "mean",
        head_dims: Sequence[int] = (512, 256),
        dropout: float = 0.1,
        extractor_dropout: float = 0.5,
        freeze_extractor: bool = False,
        resize_to: int = 0,
        name: str = "dcnn_blstm",
    ) -> None:
        super().__init__()
        if lstm_hidden < 1 or lstm_layers < 1:
            raise ValueError(
                f"{name}: lstm_hidden and lstm_layers must be >= 1, got {lstm_hidden}, {lstm_layers}."
            )
        head_dims = tuple(int(d) for d in head_dims)
        if len(head_dims) != 2 or min(head_dims) < 1:
            raise ValueError(f"{name}: head_dims must be two positive widths, got {head_dims!r}.")
        self.name = name
        self.num_classes = num_classes
        self.hidden_dim = 2 * lstm_hidden
        self.freeze_extractor = freeze_extractor
        self.extractor = AlexNet(
            num_classes=0,
            widths=widths,
            hidden_dim=extractor_hidden,
            dropout=extractor_dropout,
            resize_to=resize_to,
            name=f"{name} extractor",
        )
        self.init_note = "extractor: random initialisation (no stage-1 or ImageNet weights loaded)"
        self.lstm = nn.LSTM(
            extractor_hidden, lstm_hidden, num_layers=lstm_layers, batch_first=True, bidirectional=True
        )
        self.attention = SegmentSelfAttention(self.hidden_dim, pooling=attention_pooling)
        self.head = nn.Sequential(
            nn.Linear(self.hidden_dim, head_dims[0]),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(head_dims[0], head_dims[1]),
            nn.ReLU(),
            nn.Linear(head_dims[1], num_classes),
        )
        if freeze_extractor:
            self.extractor.requires_grad_(False)

    def train(self, mode: bool = True) -> DCNNBLSTM:
        super().train(mode)
        if self.freeze_extractor:
            self.extractor.eval()  # a frozen extractor is a fixed function: no dropout either
        return self

    def init_from_stage(self, state_dict: Mapping[str, torch.Tensor]) -> None:
        """Start from the previous stage's weights: an AlexNet's (stage 1; its class layer is dropped) go into
        the extractor, a DCNN-BLSTMwA's (keys ``extractor.*``, ``lstm.*``, ...) into the whole model."""
        if any(key.startswith("extractor.") for key in state_dict):
            self.load_state_dict(state_dict, strict=True)
            self.init_note = "whole model from the previous stage"
            return
        load_alexnet_weights(self.extractor, state_dict, source="stage-1 state dict")
        self.init_note = (
            "extractor from the stage-1 AlexNet (its class layer dropped); LSTM, attention, head random"
        )

    def load_extractor_weights(self, path: str | Path) -> None:
        """ImageNet (torchvision-format) AlexNet weights from a local file into the extractor."""
        load_alexnet_weights(self.extractor, read_state_dict(path), source=str(path))
        self.init_note = f"extractor from {path}; LSTM, attention, head random"

    def segment_features(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """features (batch, segments, 3, height, width) -> fc7 (batch, segments, extractor_hidden), 0 on padding."""
        _check_images(features, lengths, model=self.name)
        mask = lengths_to_mask(lengths, features.shape[1])  # (batch, segments)
        encoded = self.extractor.fc7(features[mask])  # (valid segments, extractor_hidden)
        per_segment = encoded.new_zeros((*mask.shape, encoded.shape[-1]))
        per_segment[mask] = encoded
        return per_segment

    def forward_features(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """features (batch, segments, 3, height, width), lengths (batch,) -> embedding (batch, 2 * lstm_hidden)."""
        segments = self.segment_features(features, lengths)  # (batch, segments, extractor_hidden)
        packed = nn.utils.rnn.pack_padded_sequence(
            segments, lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        output, _ = self.lstm(packed)
        sequence, _ = nn.utils.rnn.pad_packed_sequence(
            output, batch_first=True, total_length=segments.shape[1]
        )  # (batch, segments, 2h)
        return self.attention(sequence, lengths)

    def forward_head(self, embedding: torch.Tensor) -> torch.Tensor:
        """embedding (batch, 2 * lstm_hidden) -> logits (batch, num_classes)."""
        return self.head(embedding)

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(features, lengths))

    def example_input(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """A random batch for tests: features (batch, 3, 3, 64, 64) and lengths counting down from 3."""
        lengths = torch.tensor([max(1, 3 - i % 3) for i in range(batch)])
        return torch.randn(batch, 3, 3, 64, 64), lengths


@register_model()
def dcnn_blstm(
    *,
    num_classes: int,
    dropout: float = 0.1,
    extractor_dropout: float = 0.5,
    lstm_hidden: int = 128,
    lstm_layers: int = 1,
    attention_pooling: str = "mean",
    freeze_extractor: bool = False,
    resize_to: int = 0,
    weights: str = "",
    widths: tuple[int, ...] = ALEXNET_WIDTHS,
    extractor_hidden: int = 4096,
) -> DCNNBLSTM:
    """DCNN-BLSTMwA (stage 2); its extractor comes from stage 1 through ``init_from_stage``.

    ``weights``: torchvision AlexNet weights (ImageNet, local file) for the extractor, as ``alexnet`` takes them,
    so one recipe-level ``model.args.weights`` serves both stages (stage 1's weights then replace them); empty =
    random until ``init_from_stage``.
    """
    model = DCNNBLSTM(
        num_classes=num_classes,
        widths=widths,
        extractor_hidden=extractor_hidden,
        lstm_hidden=lstm_hidden,
        lstm_layers=lstm_layers,
        attention_pooling=attention_pooling,
        dropout=dropout,
        extractor_dropout=extractor_dropout,
        freeze_extractor=freeze_extractor,
        resize_to=resize_to,
    )
    if weights:
        model.load_extractor_weights(weights)
    return model


@register_model()
def dcnn_blstm_small(
    *,
    num_classes: int,
    dropout: float = 0.1,
    extractor_dropout: float = 0.5,
    lstm_layers: int = 1,
    attention_pooling: str = "mean",
    freeze_extractor: bool = False,
    resize_to: int = 0,
) -> DCNNBLSTM:
    """DCNN-BLSTMwA with ``alexnet_small``'s extractor, 16 LSTM units per direction and a 32-16 head."""
    return DCNNBLSTM(
        num_classes=num_classes,
        widths=SMALL_WIDTHS,
        extractor_hidden=64,
        lstm_hidden=16,
        lstm_layers=lstm_layers,
        attention_pooling=attention_pooling,
        head_dims=(32, 16),
        dropout=dropout,
        extractor_dropout=extractor_dropout,
        freeze_extractor=freeze_extractor,
        resize_to=resize_to,
        name="dcnn_blstm_small",
    )
