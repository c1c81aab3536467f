"""CASE (Contextualized and Aligned Speech Embedding) and its baselines: frozen speech frames + frozen text tokens.

The KEMDy20 system of SEEDS.md section 3 (ETRI 2nd Human Understanding AI competition). The encoders are frozen
and run beforehand: the audio input is the wav2vec2 hidden states (feature ``ssl``), the text input the BERT
token embeddings (text input ``hf_encoder``); only the fusion and the classifier below are trained.

=================== ===========================================================================================
``case_compressing`` audio padded/truncated to ``audio_max_len`` frames, projected, and **compressed along time**
                     by a learned ``Linear(audio_max_len -> text_max_len)``, then added to (or concatenated with)
                     the projected text tokens position by position
``case_attention``   text tokens attend to the audio frames (cross-attention, text = queries), the result is
                     added to (or concatenated with) the projected text
``concat``           projected text and audio concatenated on time -> ``Linear(hidden, hidden)`` -> LayerNorm
``mmm``              MultiModal Mixer: concatenation -> one MLP-Mixer block over the ``text_max_len +
                     audio_max_len`` positions
``text_only``        one token embedding ([CLS]) or the mean of the tokens -> MLP
``speech_only``      mean of the audio frames -> MLP
=================== ===========================================================================================

The audio frame size is the factories' ``num_features`` (filled in from the feature by the runner), the text
embedding size ``text_dim`` (from the text input). With the original sizes (``num_features=1024``,
``text_dim=768``, ``hidden_dim=256``, 7 classes, 512 audio frames, 128 tokens) the trainable parameters are the
poster's: ``case_compressing`` 593,031, ``case_attention`` 527,367,
``mmm`` 1,547,527.

Defaults fix the original's flaws; each original behaviour is a named option:

* ``pooling="masked_mean"`` averages valid positions only; ``"mean"`` / ``"sum"`` (the original ``--opt``) pool
  every position, padding included (the original padded text to 128 tokens and audio to 512 frames, so its
  pooled vector depended on how short an utterance was).
* ``mask_padding=True`` keeps padded audio frames and text tokens at zero after the projections (the original
  projected its zero padding into copies of the projection bias, which the compression, blend and mixer
  then treated as content); ``False`` reproduces that.
* ``attention="scaled_masked"`` (``case_attention``) scales the dot products by ``1/sqrt(hidden_dim)`` and
  ignores padded audio frames; ``"unscaled_unmasked"`` is the original ``softmax(Q K^T)`` over every frame.
* ``mixer_norm="input"`` (``mmm``) normalises the residual stream before the channel MLP, as MLP-Mixer does;
  ``"original"`` normalises the token-mixing output instead (``y = LN(y)``). Both reuse the block's one
  LayerNorm, as the original did, so the parameter count is the same.

Inputs (runner contract): ``features (batch, frames, audio_dim)`` with ``lengths (batch,)`` and
``text (batch, tokens, text_dim)`` with ``text_lengths (batch,)``; ``speech_only`` needs no text and
``text_only`` ignores the audio (use the ``none`` feature on corpora without audio).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from serkit.models import register_model
from serkit.models.base import InputSpec, SERModel
from serkit.models.layers import lengths_to_mask

__all__ = [
    "ATTENTION_MODES",
    "FUSIONS",
    "MIXER_NORMS",
    "POOLINGS",
    "CASEAttention",
    "CASECompressing",
    "ConcatFusion",
    "MultiModalMixer",
    "SpeechOnly",
    "TextOnly",
    "case_attention",
    "case_compressing",
    "concat",
    "fix_length",
    "mmm",
    "speech_only",
    "text_only",
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


class CASECompressing(_Fusion):
    """CASE (compressing): audio time axis compressed onto the text positions by a learned linear map.

    ``audio (batch, audio_max_len, hidden_dim) -> transpose -> Linear(audio_max_len, text_max_len) -> transpose``
    gives one audio vector per text position, added to (``fusion="add"``) or concatenated after
    (``"concat"``) the projected text; then LayerNorm, pooling and the classifier. The compressed positions mix
    the whole utterance, so with ``concat`` all of them count as valid.
    """

    model_label = "case_compressing"

    def __init__(
        self,
        *,
        num_classes: int,
        audio_dim: int,
        text_dim: int,
        hidden_dim: int,
        audio_max_len: int,
        text_max_len: int,
        fusion: str,
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
        _check("fusion", fusion, FUSIONS, self.model_label)
        self.fusion = fusion
        self.compression = nn.Linear(audio_max_len, text_max_len)
        self.norm = nn.LayerNorm(hidden_dim)
        self.classifier = _classifier(hidden_dim, hidden_dim, num_classes, dropout)

    def fuse(self, features, lengths, text, text_lengths):
        audio, _ = self.project(features, lengths, self.audio_projection, self.audio_max_len)  # (b, A, h)
        words, text_valid = self.project(
            text, text_lengths, self.text_projection, self.text_max_len
        )  # (b, T, h)
        compressed = self.compression(audio.transpose(1, 2)).transpose(
            1, 2
        )  # (batch, text_max_len, hidden_dim)
        if self.fusion == "add":
            return self.norm(words + compressed), text_valid
        valid = torch.cat([text_valid, torch.ones_like(text_valid)], dim=1)  # (batch, 2 * text_max_len)
        return self.norm(torch.cat([words, compressed], dim=1)), valid


class CASEAttention(_Fusion):
    """CASE (attention): each projected text token attends to the projected audio frames.

    ``softmax(Q K^T / sqrt(hidden_dim))`` over the valid frames (default), Q = text, K = V = audio at the
    batch's own length (no fixed padding); the attended audio is added to or concatenated after the text; then
    LayerNorm, pooling over the valid text positions, classifier.
    """

    model_label = "case_attention"

    def __init__(
        self,
        *,
        num_classes: int,
        audio_dim: int,
        text_dim: int,
        hidden_dim: int,
        text_max_len: int,
        fusion: str,
        pooling: str,
        mask_padding: bool,
        attention: str,
        dropout: float,
    ) -> None:
        super().__init__(
            num_classes=num_classes,
            audio_dim=audio_dim,
            text_dim=text_dim,
            hidden_dim=hidden_dim,
            audio_max_len=None,
            text_max_len=text_max_len,
            pooling=pooling,
            mask_padding=mask_padding,
        )
        _check("fusion", fusion, FUSIONS, self.model_label)
        _check("attention", attention, ATTENTION_MODES, self.model_label)
        self.fusion, self.attention = fusion, attention
        self.norm = nn.LayerNorm(hidden_dim)
        self.classifier = _classifier(hidden_dim, hidden_dim, num_classes, dropout)

    def fuse(self, features, lengths, text, text_lengths):
        audio, audio_valid = self.project(
            features, lengths, self.audio_projection, None
        )  # (batch, frames, h)
        words, text_valid = self.project(text, text_lengths, self.text_projection, self.text_max_len)
        scores = torch.matmul(words, audio.transpose(1, 2))  # (batch, text_max_len, frames)
        if self.attention == "scaled_masked":
            scores = scores / math.sqrt(self.hidden_dim)
            scores = scores.masked_fill(~audio_valid.unsqueeze(1), torch.finfo(scores.dtype).min)
        attended = torch.matmul(scores.softmax(dim=-1), audio)  # (batch, text_max_len, hidden_dim)
        if self.fusion == "add":
            return self.norm(words + attended), text_valid
        return self.norm(torch.cat([words, attended], dim=1)), torch.cat([text_valid, text_valid], dim=1)


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
def case_compressing(
    *,
    num_classes: int,
    num_features: int = 1024,
    text_dim: int = 768,
    hidden_dim: int = 256,
    audio_max_len: int = 512,
    text_max_len: int = 128,
    fusion: str = "add",
    pooling: str = "masked_mean",
    mask_padding: bool = True,
    dropout: float = 0.5,
) -> CASECompressing:
    """CASE (compressing); 593,031 trainable parameters at the original sizes with 7 classes."""
    return CASECompressing(
        num_classes=num_classes,
        audio_dim=num_features,
        text_dim=text_dim,
        hidden_dim=hidden_dim,
        audio_max_len=audio_max_len,
        text_max_len=text_max_len,
        fusion=fusion,
        pooling=pooling,
        mask_padding=mask_padding,
        dropout=dropout,
    )


@register_model()
def case_attention(
    *,
    num_classes: int,
    num_features: int = 1024,
    text_dim: int = 768,
    hidden_dim: int = 256,
    text_max_len: int = 128,
    fusion: str = "add",
    pooling: str = "masked_mean",
    mask_padding: bool = True,
    attention: str = "scaled_masked",
    dropout: float = 0.5,
) -> CASEAttention:
    """CASE (attention); 527,367 trainable parameters at the original sizes with 7 classes. The audio keeps its
    own length (the original attended over the batch-padded frames, never padded to 512)."""
    return CASEAttention(
        num_classes=num_classes,
        audio_dim=num_features,
        text_dim=text_dim,
        hidden_dim=hidden_dim,
        text_max_len=text_max_len,
        fusion=fusion,
        pooling=pooling,
        mask_padding=mask_padding,
        attention=attention,
        dropout=dropout,
    )


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
