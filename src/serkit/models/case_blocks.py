"""Shared parts of the CASE family (:mod:`serkit.models.case`, :mod:`serkit.models.case_baselines`).

The option values, fixing a sequence to a set length, pooling over positions, CASE's classifier head and
:class:`_Fusion`, the base class of the four audio-text models (two projections, length fixing, pooling, head).
The options themselves are described in :mod:`serkit.models.case`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from serkit.models.base import InputSpec, SERModel
from serkit.models.layers import lengths_to_mask

__all__ = [
    "ATTENTION_MODES",
    "FUSIONS",
    "MIXER_NORMS",
    "POOLINGS",
    "TEXT_POOLINGS",
    "fix_length",
]

#: How the two sequences are combined: position-wise sum, or concatenation along time.
FUSIONS = ("add", "concat")
#: Pooling over positions: valid ones only, or (original) every position, padding included.
POOLINGS = ("masked_mean", "mean", "sum")
#: Cross-attention of ``case_attention``.
ATTENTION_MODES = ("scaled_masked", "unscaled_unmasked")
#: What the MMM block normalises before its channel MLP.
MIXER_NORMS = ("input", "original")
#: The text-only model's summary of the tokens: the first ([CLS]) token, or a mean.
TEXT_POOLINGS = ("cls", "masked_mean", "mean")


def _check(name: str, value: str, allowed: tuple[str, ...], model: str) -> None:
    if value not in allowed:
        raise ValueError(f"{model}: {name}={value!r}; use one of {', '.join(allowed)}.")


def fix_length(values: torch.Tensor, lengths: torch.Tensor, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Truncate or zero-pad the time axis to exactly ``length`` positions.

    Args:
        values: (batch, frames, dim).
        lengths: (batch,) valid positions.
        length: the fixed size.

    Returns:
        values (batch, length, dim) and lengths (batch,) clipped to ``length``.
    """
    frames = values.shape[1]
    if frames >= length:
        values = values[:, :length]
    else:
        values = F.pad(values, (0, 0, 0, length - frames))
    return values, lengths.clamp(max=length)


def _pool(values: torch.Tensor, valid: torch.Tensor, pooling: str) -> torch.Tensor:
    """values (batch, positions, dim), valid (batch, positions) bool -> (batch, dim)."""
    if pooling == "sum":
        return values.sum(dim=1)
    if pooling == "mean":
        return values.mean(dim=1)
    weights = valid.unsqueeze(-1).to(values.dtype)
    return (values * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)


def _classifier(in_dim: int, hidden_dim: int, num_classes: int, dropout: float) -> nn.Sequential:
    """CASE's head: ``Dropout -> Linear(in_dim, hidden_dim) -> GELU -> Dropout -> Linear(hidden_dim, classes)``."""
    return nn.Sequential(
        nn.Dropout(dropout),
        nn.Linear(in_dim, hidden_dim),
        nn.GELU(),
        nn.Dropout(dropout),
        nn.Linear(hidden_dim, num_classes),
    )


def _require_text(text: torch.Tensor | None, text_lengths: torch.Tensor | None, model: str) -> None:
    if text is None or text_lengths is None:
        raise ValueError(
            f"{model} fuses audio with text: call it with text=(batch, tokens, text_dim) and "
            "text_lengths=(batch,) (a recipe needs a text section, e.g. text: {name: hf_encoder, "
            "model: ...})."
        )


class _Fusion(SERModel):
    """Shared parts of the audio-text models: the two projections, length fixing, pooling, the head.

    Subclasses implement :meth:`fuse` -> (sequence (batch, positions, hidden_dim), valid (batch, positions)).
    """

    model_label = "fusion model"
    input_spec = InputSpec(kind="frames", feature="ssl")
    takes_text_embeddings = True

    def __init__(
        self,
        *,
        num_classes: int,
        audio_dim: int,
        text_dim: int,
        hidden_dim: int,
        audio_max_len: int | None,
        text_max_len: int,
        pooling: str,
        mask_padding: bool,
    ) -> None:
        super().__init__()
        _check("pooling", pooling, POOLINGS, self.model_label)
        if min(audio_dim, text_dim, hidden_dim, audio_max_len or 1, text_max_len) < 1:
            raise ValueError(
                f"{self.model_label}: audio_dim, text_dim, hidden_dim, audio_max_len and text_max_len "
                "must be >= 1."
            )
        self.num_classes, self.hidden_dim = num_classes, hidden_dim
        self.num_features, self.audio_dim, self.text_dim = audio_dim, audio_dim, text_dim
        self.audio_max_len, self.text_max_len = audio_max_len, text_max_len
        self.pooling, self.mask_padding = pooling, mask_padding
        self.audio_projection = nn.Linear(audio_dim, hidden_dim)
        self.text_projection = nn.Linear(text_dim, hidden_dim)

    def project(
        self, values: torch.Tensor, lengths: torch.Tensor, projection: nn.Linear, length: int | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(batch, frames, dim) -> projected (batch, length or frames, hidden_dim), valid mask (batch, same)."""
        if length is not None:
            values, lengths = fix_length(values, lengths, length)
        valid = lengths_to_mask(lengths, values.shape[1])
        projected = projection(values)
        if self.mask_padding:
            projected = projected * valid.unsqueeze(-1).to(projected.dtype)
        return projected, valid

    def fuse(self, features, lengths, text, text_lengths) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def forward_features(
        self,
        features: torch.Tensor,
        lengths: torch.Tensor,
        text: torch.Tensor | None = None,
        text_lengths: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """features (batch, frames, audio_dim), lengths (batch,), text (batch, tokens, text_dim),
        text_lengths (batch,) -> pooled embedding (batch, hidden_dim)."""
        _require_text(text, text_lengths, self.model_label)
        sequence, valid = self.fuse(features, lengths, text, text_lengths)
        return _pool(sequence, valid, self.pooling)

    def forward_head(self, embedding: torch.Tensor) -> torch.Tensor:
        """embedding (batch, hidden_dim) -> logits (batch, num_classes)."""
        return self.classifier(embedding)

    def forward(
        self,
        features: torch.Tensor,
        lengths: torch.Tensor,
        text: torch.Tensor | None = None,
        text_lengths: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """-> logits (batch, num_classes); arguments as :meth:`forward_features`."""
        return self.forward_head(self.forward_features(features, lengths, text, text_lengths))
