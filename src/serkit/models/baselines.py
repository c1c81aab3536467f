"""Small from-scratch baselines that exercise the engine end to end (the demo's model until GLAM lands)."""

from __future__ import annotations

import torch
from torch import nn

from serkit.models import register_model
from serkit.models.base import SERModel
from serkit.models.layers import masked_mean

__all__ = ["SmallCNN", "cnn_small", "cnn_tiny"]


class SmallCNN(SERModel):
    """A stack of 1-D convolutions over time with masked mean pooling and a linear head.

    Works on any number of frames, so it serves segment-level and utterance-level inputs alike, and padding never
    changes its output (convolutions see zeros only beyond the valid frames, which pooling ignores; no batch norm).

    Args:
        num_classes: outputs.
        num_features: feature size per frame (e.g. 26 MFCCs).
        channels: width of each conv block.
        kernel_size: temporal kernel of every block.
        dropout: before the head.
    """

    def __init__(
        self,
        *,
        num_classes: int,
        num_features: int,
        channels: tuple[int, ...],
        kernel_size: int,
        dropout: float,
    ) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size={kernel_size} must be odd so frames stay aligned.")
        self.num_classes = num_classes
        self.num_features = num_features
        blocks, width = [], num_features
        for out in channels:
            blocks += [nn.Conv1d(width, out, kernel_size, padding=kernel_size // 2), nn.GELU()]
            width = out
        self.blocks = nn.Sequential(*blocks)
        self.hidden_dim = width
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(width, num_classes)

    def forward_features(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """features (batch, frames, num_features), lengths (batch,) -> embedding (batch, hidden_dim)."""
        valid = torch.arange(features.shape[1], device=features.device)[None, :] < lengths[:, None]
        x = features * valid.unsqueeze(-1)  # (batch, frames, num_features), padding zeroed
        for layer in self.blocks:
            x = layer(x.transpose(1, 2)).transpose(1, 2) if isinstance(layer, nn.Conv1d) else layer(x)
            x = x * valid.unsqueeze(-1)  # keep padded frames at zero so they never leak into valid ones
        return masked_mean(x, lengths)

    def forward_head(self, embedding: torch.Tensor) -> torch.Tensor:
        """embedding (batch, hidden_dim) -> logits (batch, num_classes)."""
        return self.head(self.dropout(embedding))

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """features (batch, frames, num_features), lengths (batch,) -> logits (batch, num_classes)."""
        return self.forward_head(self.forward_features(features, lengths))


@register_model()
def cnn_small(
    *,
    num_classes: int,
    num_features: int = 26,
    channels: tuple[int, ...] = (64, 64, 128),
    kernel_size: int = 5,
    dropout: float = 0.2,
) -> SmallCNN:
    """Default small CNN baseline (~75k parameters with 26 features)."""
    return SmallCNN(
        num_classes=num_classes,
        num_features=num_features,
        channels=tuple(channels),
        kernel_size=kernel_size,
        dropout=dropout,
    )


@register_model()
def cnn_tiny(
    *,
    num_classes: int,
    num_features: int = 26,
    channels: tuple[int, ...] = (16,),
    kernel_size: int = 3,
    dropout: float = 0.0,
) -> SmallCNN:
    """A very small variant for tests."""
    return SmallCNN(
        num_classes=num_classes,
        num_features=num_features,
        channels=tuple(channels),
        kernel_size=kernel_size,
        dropout=dropout,
    )
