"""The baselines of CASE (SEEDS.md section 3): ``concat``, ``mmm`` (MultiModal Mixer), ``text_only`` and
``speech_only``.

Same inputs, options and original sizes as CASE itself; :mod:`serkit.models.case` describes them, and the
shared parts are in :mod:`serkit.models.case_blocks`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from serkit.models import register_model
from serkit.models.base import InputSpec, SERModel
from serkit.models.case_blocks import (
    MIXER_NORMS,
    TEXT_POOLINGS,
    _check,
    _classifier,
    _Fusion,
    _pool,
    _require_text,
)
from serkit.models.layers import lengths_to_mask

__all__ = [
    "ConcatFusion",
    "MixerBlock",
    "MultiModalMixer",
    "SpeechOnly",
    "TextOnly",
    "concat",
    "mmm",
    "speech_only",
    "text_only",
]


class ConcatFusion(_Fusion):
    """Concat baseline: projected text ‖ projected audio on time -> ``Linear(hidden_dim, hidden_dim)``
    ("blend") -> LayerNorm -> pooling over the valid positions -> classifier."""

    model_label = "concat"

    def __init__(
        self,
        *,
        num_classes: int,
        audio_dim: int,
        text_dim: int,
        hidden_dim: int,
        audio_max_len: int,
        text_max_len: int,
        pooling: str,
        mask_padding: bool,
        dropout: float,
    ) -> None:
        super().__init__(
            num_classes=num_classes,
            audio_dim=audio_dim,
            text_dim=text_dim,
            hidden_dim=hidden_dim,
            audio_max_len=audio_max_len,
            text_max_len=text_max_len,
            pooling=pooling,
            mask_padding=mask_padding,
        )
        self.blend = nn.Linear(hidden_dim, hidden_dim)
        self.norm = nn.LayerNorm(hidden_dim)
        self.classifier = _classifier(hidden_dim, hidden_dim, num_classes, dropout)

    def fuse(self, features, lengths, text, text_lengths):
        audio, audio_valid = self.project(features, lengths, self.audio_projection, self.audio_max_len)
        words, text_valid = self.project(text, text_lengths, self.text_projection, self.text_max_len)
        sequence = torch.cat([words, audio], dim=1)  # (batch, text_max_len + audio_max_len, hidden_dim)
        return self.norm(self.blend(sequence)), torch.cat([text_valid, audio_valid], dim=1)


class _MLP(nn.Module):
    """``Linear(dim, dim) -> GELU -> Linear(dim, dim) -> Dropout`` (MMM's MlpBlock), on the last axis."""

    def __init__(self, dim: int, dropout: float) -> None:
        super().__init__()
        self.fc1, self.fc2, self.dropout = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.fc2(F.gelu(self.fc1(x))))


class MixerBlock(nn.Module):
    """MMM's MLP-Mixer block with one shared LayerNorm.

    ``y = token_mlp(LN(x))`` mixes the ``positions`` (the MLP runs along time), ``x = x + y``; then the channel
    MLP runs on ``LN(x)`` (``norm="input"``) or, as the original, on ``LN(y)`` (``norm="original"``), and its
    output is added to ``x``.

    Shapes:
        (batch, positions, dim) -> (batch, positions, dim)
    """

    def __init__(self, *, dim: int, positions: int, dropout: float, norm: str) -> None:
        super().__init__()
        self.norm_mode = norm
        self.norm = nn.LayerNorm(dim)
        self.token_mixing = _MLP(positions, dropout)
        self.channel_mixing = _MLP(dim, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.token_mixing(self.norm(x).transpose(1, 2)).transpose(1, 2)  # mixes positions
        x = x + y
        y = self.norm(x if self.norm_mode == "input" else y)
        return x + self.channel_mixing(y)


class MultiModalMixer(_Fusion):
    """MMM baseline: projected text (``text_max_len``) ‖ projected audio (``audio_max_len``) -> ``num_blocks``
    mixer blocks over the fixed ``text_max_len + audio_max_len`` positions -> LayerNorm -> pooling ->
    ``Dropout -> Linear(hidden_dim, output_dim) -> GELU -> Dropout -> Linear(output_dim, classes)``."""

    model_label = "mmm"

    def __init__(
        self,
        *,
        num_classes: int,
        audio_dim: int,
        text_dim: int,
        hidden_dim: int,
        audio_max_len: int,
        text_max_len: int,
        pooling: str,
        mask_padding: bool,
        num_blocks: int,
        output_dim: int,
        mixer_norm: str,
        dropout: float,
    ) -> None:
        super().__init__(
            num_classes=num_classes,
            audio_dim=audio_dim,
            text_dim=text_dim,
            hidden_dim=hidden_dim,
            audio_max_len=audio_max_len,
            text_max_len=text_max_len,
            pooling=pooling,
            mask_padding=mask_padding,
        )
        _check("mixer_norm", mixer_norm, MIXER_NORMS, self.model_label)
        if num_blocks < 1:
            raise ValueError(f"mmm: num_blocks={num_blocks} must be >= 1.")
        positions = text_max_len + audio_max_len
        self.blocks = nn.Sequential(
            *[
                MixerBlock(dim=hidden_dim, positions=positions, dropout=dropout, norm=mixer_norm)
                for _ in range(num_blocks)
            ]
        )
        self.norm = nn.LayerNorm(hidden_dim)
        self.classifier = _classifier(hidden_dim, output_dim, num_classes, dropout)

    def fuse(self, features, lengths, text, text_lengths):
        audio, audio_valid = self.project(features, lengths, self.audio_projection, self.audio_max_len)
        words, text_valid = self.project(text, text_lengths, self.text_projection, self.text_max_len)
        x = self.blocks(torch.cat([words, audio], dim=1))  # (batch, text_max_len + audio_max_len, hidden_dim)
        return self.norm(x), torch.cat([text_valid, audio_valid], dim=1)


class TextOnly(SERModel):
    """Text-only baseline: token embeddings -> one vector (``pooling``) -> CASE's classifier.

    The original used BERT's pooler output (tanh of a dense layer over [CLS]); with frozen token embeddings as
    input, ``pooling="cls"`` takes the [CLS] token itself (the pooler's dense layer is not in the embeddings).
    ``forward`` ignores ``features`` and ``lengths``.
    """

    input_spec = InputSpec(kind="frames", feature="none")
    takes_text_embeddings = True

    def __init__(
        self, *, num_classes: int, text_dim: int, hidden_dim: int, pooling: str, dropout: float
    ) -> None:
        super().__init__()
        _check("pooling", pooling, TEXT_POOLINGS, "text_only")
        self.num_classes, self.text_dim, self.hidden_dim, self.pooling = (
            num_classes,
            text_dim,
            text_dim,
            pooling,
        )
        self.num_features = (
            1  # the audio input is ignored (the ``none`` feature gives one zero per utterance)
        )
        self.classifier = _classifier(text_dim, hidden_dim, num_classes, dropout)

    def forward_features(
        self,
        features: torch.Tensor,
        lengths: torch.Tensor,
        text: torch.Tensor | None = None,
        text_lengths: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """text (batch, tokens, text_dim), text_lengths (batch,) -> (batch, text_dim); the audio is ignored."""
        _require_text(text, text_lengths, "text_only")
        if self.pooling == "cls":
            return text[:, 0]
        return _pool(
            text,
            lengths_to_mask(text_lengths, text.shape[1]),
            "masked_mean" if self.pooling == "masked_mean" else "mean",
        )

    def forward_head(self, embedding: torch.Tensor) -> torch.Tensor:
        return self.classifier(embedding)

    def forward(
        self,
        features: torch.Tensor,
        lengths: torch.Tensor,
        text: torch.Tensor | None = None,
        text_lengths: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return self.forward_head(self.forward_features(features, lengths, text, text_lengths))


class SpeechOnly(SERModel):
    """Speech-only baseline: mean of the SSL frames -> Dropout -> CASE's classifier (the original applied dropout
    twice, once here and once as the classifier's first layer). ``pooling="mean"`` averages the batch-padded
    frames as the original did (the result then depends on the other utterances of the batch)."""

    input_spec = InputSpec(kind="frames", feature="ssl")

    def __init__(
        self, *, num_classes: int, audio_dim: int, hidden_dim: int, pooling: str, dropout: float
    ) -> None:
        super().__init__()
        _check("pooling", pooling, ("masked_mean", "mean"), "speech_only")
        self.num_classes, self.num_features, self.hidden_dim = num_classes, audio_dim, audio_dim
        self.pooling = pooling
        self.dropout = nn.Dropout(dropout)
        self.classifier = _classifier(audio_dim, hidden_dim, num_classes, dropout)

    def forward_features(
        self,
        features: torch.Tensor,
        lengths: torch.Tensor,
        text: torch.Tensor | None = None,
        text_lengths: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """features (batch, frames, audio_dim), lengths (batch,) -> (batch, audio_dim); text is ignored."""
        return _pool(features, lengths_to_mask(lengths, features.shape[1]), self.pooling)

    def forward_head(self, embedding: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(embedding))

    def forward(
        self,
        features: torch.Tensor,
        lengths: torch.Tensor,
        text: torch.Tensor | None = None,
        text_lengths: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return self.forward_head(self.forward_features(features, lengths))


# -- registered variants (defaults = the original sizes) -------------------------------------------------------


@register_model()
def concat(
    *,
    num_classes: int,
    num_features: int = 1024,
    text_dim: int = 768,
    hidden_dim: int = 256,
    audio_max_len: int = 512,
    text_max_len: int = 128,
    pooling: str = "masked_mean",
    mask_padding: bool = True,
    dropout: float = 0.5,
) -> ConcatFusion:
    """Concat baseline of CASE."""
    return ConcatFusion(
        num_classes=num_classes,
        audio_dim=num_features,
        text_dim=text_dim,
        hidden_dim=hidden_dim,
        audio_max_len=audio_max_len,
        text_max_len=text_max_len,
        pooling=pooling,
        mask_padding=mask_padding,
        dropout=dropout,
    )


@register_model()
def mmm(
    *,
    num_classes: int,
    num_features: int = 1024,
    text_dim: int = 768,
    hidden_dim: int = 256,
    audio_max_len: int = 512,
    text_max_len: int = 128,
    pooling: str = "masked_mean",
    mask_padding: bool = True,
    num_blocks: int = 1,
    output_dim: int = 512,
    mixer_norm: str = "input",
    dropout: float = 0.1,
) -> MultiModalMixer:
    """MultiModal Mixer baseline; 1,547,527 trainable parameters at the original sizes with 7 classes."""
    return MultiModalMixer(
        num_classes=num_classes,
        audio_dim=num_features,
        text_dim=text_dim,
        hidden_dim=hidden_dim,
        audio_max_len=audio_max_len,
        text_max_len=text_max_len,
        pooling=pooling,
        mask_padding=mask_padding,
        num_blocks=num_blocks,
        output_dim=output_dim,
        mixer_norm=mixer_norm,
        dropout=dropout,
    )


@register_model()
def text_only(
    *,
    num_classes: int,
    text_dim: int = 768,
    hidden_dim: int = 256,
    pooling: str = "cls",
    dropout: float = 0.5,
) -> TextOnly:
    """Text-only baseline of CASE (frozen token embeddings -> MLP)."""
    return TextOnly(
        num_classes=num_classes, text_dim=text_dim, hidden_dim=hidden_dim, pooling=pooling, dropout=dropout
    )


@register_model()
def speech_only(
    *,
    num_classes: int,
    num_features: int = 1024,
    hidden_dim: int = 256,
    pooling: str = "masked_mean",
    dropout: float = 0.5,
) -> SpeechOnly:
    """Speech-only baseline of CASE (mean SSL frame -> MLP)."""
    return SpeechOnly(
        num_classes=num_classes,
        audio_dim=num_features,
        hidden_dim=hidden_dim,
        pooling=pooling,
        dropout=dropout,
    )
