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

The family spans three files: this one (CASE itself, ``case_compressing`` and ``case_attention``),
:mod:`serkit.models.case_baselines` (``concat``, ``mmm``, ``text_only``, ``speech_only``) and
:mod:`serkit.models.case_blocks` (the option values, length fixing, pooling, the classifier head and the base
class of the audio-text models). Every name of the family can still be imported from here.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from serkit.models import register_model
from serkit.models.case_baselines import (
    ConcatFusion,
    MultiModalMixer,
    SpeechOnly,
    TextOnly,
    concat,
    mmm,
    speech_only,
    text_only,
)
from serkit.models.case_baselines import MixerBlock as MixerBlock  # public before the split
from serkit.models.case_blocks import (
    ATTENTION_MODES,
    FUSIONS,
    MIXER_NORMS,
    POOLINGS,
    _check,
    _classifier,
    _Fusion,
    fix_length,
)
from serkit.models.case_blocks import TEXT_POOLINGS as TEXT_POOLINGS  # public before the split

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
