"""MAT and MNT (Delbrouck, Tits & Dupont 2020): linguistic-acoustic fusion transformers, as in the released code.

Source: ``jbdel/modulated_fusion_transformer`` (``models/model_MAT.py``, ``models/model_MNT.py``), SEEDS.md 2.3.

Both models encode the words ``text (batch, tokens)`` with a trainable embedding (initialised from word
vectors) and a one-layer LSTM, and the log-mel frames ``features (batch, frames, 80)`` with another LSTM, then:

=========== =========================================================================================================
``mat``     MCAN-style encoder-decoder co-attention: ``num_layers`` self-attention (SA) blocks on the text, then
            ``num_layers`` self + guided attention (SGA) blocks on the audio whose cross-attention reads the final
            text encoding; attention flattening of both to ``2 * hidden_dim``, summed, layer norm, linear.
``mnt``     the *modulated* model: SA blocks on the text, flattened to ``lang (batch, hidden_dim)``; ``ReLU(Linear
            (lang))`` gives per audio block and per layer norm a scale and shift (``gamma``, ``beta``) that
            modulate the layer norms of ``num_layers`` SA blocks on the audio (conditional layer normalisation);
            flattened audio + ``lang``, layer norm, linear.
``mat_text`` MAT's text branch alone (embedding, LSTM, SA blocks, flattening, norm, linear): a text-only
            baseline (not in the original) for corpora without audio; it ignores ``features``.
=========== =========================================================================================================

Differences from the original, all about padding: positions are padding when beyond ``lengths`` /
``text_lengths`` (the original: when a frame's features sum to 0, or the word id is 0), so a zero frame inside
an utterance is not mistaken for padding, and padded positions never change the output (attention keys and the
flattening softmax are masked; the LSTMs are unidirectional, so padding after the valid positions cannot reach
them). The word embedding's padding row (id 0) is zero and gets no gradient. ``norm="original"`` selects the
seed's layer norm ``a * (x - mean) / (std + eps) + b`` with the unbiased std and eps added to it;
``norm="torch"`` (default) is the usual ``nn.LayerNorm`` formula (biased variance, eps inside the root).
Defaults are the README's released configuration (hidden 512, 4 heads, feed-forward 1024, 2 layers, dropout
0.1 / output 0.5 / input 0).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from serkit.models import register_model
from serkit.models.base import InputSpec, SERModel
from serkit.models.layers import lengths_to_mask

__all__ = [
    "AttentionFlattening",
    "ConditionalLayerNorm",
    "FusionTransformer",
    "GuidedAttentionBlock",
    "MultiHeadAttention",
    "SelfAttentionBlock",
    "mat",
    "mat_text",
    "mnt",
]

NORMS = ("torch", "original")


class ConditionalLayerNorm(nn.Module):
    """Layer norm over the last axis whose scale and shift may be offset per example (MNT's modulation).

    ``(weight + gamma) * normalized(x) + (bias + beta)``, with ``gamma, beta (batch, hidden_dim)`` broadcast over
    time, or the plain ``weight * normalized(x) + bias`` without them.

    Args:
        size: hidden_dim.
        variant: ``torch``: ``(x - mean) / sqrt(var + eps)``, biased variance (``nn.LayerNorm``);
            ``original``: ``(x - mean) / (std + eps)`` with the unbiased std, as the seed's ``LayerNorm``.
        eps: 1e-6 in the seed.

    Shapes:
        x (batch, frames, hidden_dim) or (batch, hidden_dim) -> the same shape.
    """

    def __init__(self, size: int, *, variant: str = "torch", eps: float = 1e-6) -> None:
        super().__init__()
        if variant not in NORMS:
            raise ValueError(f"norm={variant!r}: use one of {', '.join(NORMS)}.")
        self.variant, self.eps = variant, eps
        self.weight = nn.Parameter(torch.ones(size))
        self.bias = nn.Parameter(torch.zeros(size))

    def forward(
        self, x: torch.Tensor, gamma: torch.Tensor | None = None, beta: torch.Tensor | None = None
    ) -> torch.Tensor:
        if self.variant == "torch":
            normalized = F.layer_norm(x, x.shape[-1:], eps=self.eps)
        else:
            mean = x.mean(-1, keepdim=True)
            normalized = (x - mean) / (x.std(-1, keepdim=True) + self.eps)
        if gamma is None:
            return self.weight * normalized + self.bias
        if x.dim() == 3:  # (batch, hidden_dim) modulations, the same at every frame
            gamma, beta = gamma.unsqueeze(1), beta.unsqueeze(1)
        return (self.weight + gamma) * normalized + (self.bias + beta)


class FeedForward(nn.Sequential):
    """The seed's ``MLP``: Linear(in -> mid), ReLU, Dropout, Linear(mid -> out). (..., in) -> (..., out)."""

    def __init__(self, in_dim: int, mid_dim: int, out_dim: int, dropout: float) -> None:
        super().__init__(
            nn.Linear(in_dim, mid_dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(mid_dim, out_dim)
        )


class MultiHeadAttention(nn.Module):
    """Scaled dot-product attention with ``num_heads`` heads, dropout on the attention weights.

    Args:
        hidden_dim: model width (divisible by ``num_heads``).
        num_heads: heads of ``hidden_dim / num_heads`` each.
        dropout: on the attention map.

    Shapes:
        query (batch, queries, hidden_dim), key_value (batch, keys, hidden_dim), key_mask (batch, keys) True
        where valid -> (batch, queries, hidden_dim).
    """

    def __init__(self, hidden_dim: int, num_heads: int, dropout: float) -> None:
        super().__init__()
        if hidden_dim % num_heads:
            raise ValueError(f"hidden_dim={hidden_dim} must be divisible by num_heads={num_heads}.")
        self.num_heads, self.dropout = num_heads, dropout
        self.query = nn.Linear(hidden_dim, hidden_dim)
        self.key = nn.Linear(hidden_dim, hidden_dim)
        self.value = nn.Linear(hidden_dim, hidden_dim)
        self.merge = nn.Linear(hidden_dim, hidden_dim)

    def forward(self, query: torch.Tensor, key_value: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        q, k, v = (
            self._split(self.query(query)),
            self._split(self.key(key_value)),
            self._split(self.value(key_value)),
        )  # each (batch, heads, time, hidden_dim / heads)
        attended = (
            F.scaled_dot_product_attention(  # softmax(q k^T / sqrt(dim)) with masked keys, dropout, @ v
                q,
                k,
                v,
                attn_mask=key_mask[:, None, None, :],
                dropout_p=self.dropout if self.training else 0.0,
            )
        )
        batch, _, time, _ = attended.shape
        return self.merge(attended.transpose(1, 2).reshape(batch, time, -1))  # (batch, queries, hidden_dim)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, time, hidden_dim) -> (batch, heads, time, hidden_dim / heads)."""
        batch, time, _ = x.shape
        return x.view(batch, time, self.num_heads, -1).transpose(1, 2)


class SelfAttentionBlock(nn.Module):
    """The seed's ``SA`` (post-norm) and, with modulations, MNT's ``SAG``.

    ``y = LN1(y + drop(MHA(y, y, y)))``, ``y = LN2(y + drop(FFN(y)))``; in MNT each ``LN`` is modulated by its
    own ``(gamma, beta)``.

    Shapes:
        x (batch, frames, hidden_dim), mask (batch, frames) True where valid, optional modulations
        (batch, 4 * hidden_dim) = [gamma1, beta1, gamma2, beta2] -> (batch, frames, hidden_dim).
    """

    def __init__(self, hidden_dim: int, num_heads: int, ff_dim: int, dropout: float, norm: str) -> None:
        super().__init__()
        self.attention = MultiHeadAttention(hidden_dim, num_heads, dropout)
        self.ffn = FeedForward(hidden_dim, ff_dim, hidden_dim, dropout)
        self.dropout1, self.dropout2 = nn.Dropout(dropout), nn.Dropout(dropout)
        self.norm1 = ConditionalLayerNorm(hidden_dim, variant=norm)
        self.norm2 = ConditionalLayerNorm(hidden_dim, variant=norm)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor, modulations: torch.Tensor | None = None
    ) -> torch.Tensor:
        first = second = (None, None)
        if modulations is not None:  # chunk order of the seed: (norm1: gamma, beta), (norm2: gamma, beta)
            gamma1, beta1, gamma2, beta2 = modulations.chunk(4, dim=-1)
            first, second = (gamma1, beta1), (gamma2, beta2)
        x = self.norm1(x + self.dropout1(self.attention(x, x, mask)), *first)
        return self.norm2(x + self.dropout2(self.ffn(x)), *second)


class GuidedAttentionBlock(nn.Module):
    """The seed's ``SGA``: self-attention on ``x``, attention from ``x`` to ``y``, feed-forward; post-norm each.

    Shapes:
        x (batch, frames, hidden_dim), y (batch, tokens, hidden_dim), x_mask (batch, frames), y_mask (batch, tokens)
        -> (batch, frames, hidden_dim).
    """

    def __init__(self, hidden_dim: int, num_heads: int, ff_dim: int, dropout: float, norm: str) -> None:
        super().__init__()
        self.self_attention = MultiHeadAttention(hidden_dim, num_heads, dropout)
        self.guided_attention = MultiHeadAttention(hidden_dim, num_heads, dropout)
        self.ffn = FeedForward(hidden_dim, ff_dim, hidden_dim, dropout)
        self.dropouts = nn.ModuleList(nn.Dropout(dropout) for _ in range(3))
        self.norms = nn.ModuleList(ConditionalLayerNorm(hidden_dim, variant=norm) for _ in range(3))

    def forward(
        self, x: torch.Tensor, y: torch.Tensor, x_mask: torch.Tensor, y_mask: torch.Tensor
    ) -> torch.Tensor:
        x = self.norms[0](x + self.dropouts[0](self.self_attention(x, x, x_mask)))
        x = self.norms[1](x + self.dropouts[1](self.guided_attention(x, y, y_mask)))
        return self.norms[2](x + self.dropouts[2](self.ffn(x)))


class AttentionFlattening(nn.Module):
    """The seed's ``AttFlat`` (one glimpse): ``MLP(hidden -> ff -> 1)`` scores, masked softmax over time, weighted
    sum, then ``Linear(hidden_dim -> out_dim)`` (``2 * hidden_dim`` in MAT, ``hidden_dim`` in MNT).

    Shapes:
        x (batch, frames, hidden_dim), mask (batch, frames) True where valid -> (batch, out_dim).
    """

    def __init__(self, hidden_dim: int, ff_dim: int, out_dim: int, dropout: float) -> None:
        super().__init__()
        self.score = FeedForward(hidden_dim, ff_dim, 1, dropout)
        self.merge = nn.Linear(hidden_dim, out_dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        scores = self.score(x).squeeze(-1)  # (batch, frames); bfloat16 under autocast, whatever x is
        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
        weights = scores.softmax(dim=1)
        return self.merge(torch.einsum("bt,bth->bh", weights, x))


class FusionTransformer(SERModel):
    """MAT (``fusion="co_attention"``), MNT (``"modulated"``) and the text-only branch (``"text_only"``).

    Args:
        num_classes: outputs (``ans_size``).
        vocab_size: word ids, padding (0) and unknown (1) included (from the ``word_vocab`` text input).
        fusion: ``co_attention``, ``modulated`` or ``text_only``.
        num_features: audio features per frame (80 log-mel bands).
        word_dim: word embedding size (300 = spaCy GloVe; set from the vectors file by the text input).
        hidden_dim, num_heads, ff_dim, num_layers: transformer width, heads, feed-forward width, blocks per
            modality.
        dropout: ``dropout_r`` (attention maps, feed-forward, residual branches, flattening MLP).
        dropout_input: ``dropout_i`` on the embeddings and audio frames before the LSTMs.
        dropout_output: ``dropout_o`` before the classifier.
        norm: ``torch`` or ``original`` layer norm (see :class:`ConditionalLayerNorm`).

    Attributes:
        hidden_dim: size of the :meth:`forward_features` embedding (``2 * hidden_dim`` for MAT).
        takes_text_ids: True; the engine passes ``text (batch, tokens)`` int64 ids and ``text_lengths``.
    """

    input_spec = InputSpec(kind="frames", feature="log_mel")
    takes_text_ids = True
    FUSIONS = ("co_attention", "modulated", "text_only")

    def __init__(
        self,
        *,
        num_classes: int,
        vocab_size: int,
        fusion: str,
        num_features: int,
        word_dim: int,
        hidden_dim: int,
        num_heads: int,
        ff_dim: int,
        num_layers: int,
        dropout: float,
        dropout_input: float,
        dropout_output: float,
        norm: str,
    ) -> None:
        super().__init__()
        if fusion not in self.FUSIONS:
            raise ValueError(f"fusion={fusion!r}: use one of {', '.join(self.FUSIONS)}.")
        if vocab_size < 3:
            raise ValueError(
                f"vocab_size={vocab_size} must be >= 3 (padding, unknown and at least one word); it "
                "comes from the word_vocab text input's vocabulary."
            )
        if num_layers < 1:
            raise ValueError(f"num_layers={num_layers} must be >= 1.")
        if norm not in NORMS:
            raise ValueError(f"norm={norm!r}: use one of {', '.join(NORMS)}.")
        self.fusion, self.num_classes, self.num_features = fusion, num_classes, num_features
        self.vocab_size, self.word_dim, self.num_layers = vocab_size, word_dim, num_layers
        self.embedding = nn.Embedding(vocab_size, word_dim, padding_idx=0)
        self.input_dropout = nn.Dropout(dropout_input)
        self.text_lstm = nn.LSTM(word_dim, hidden_dim, num_layers=1, batch_first=True)
        block = {
            "hidden_dim": hidden_dim,
            "num_heads": num_heads,
            "ff_dim": ff_dim,
            "dropout": dropout,
            "norm": norm,
        }
        self.text_blocks = nn.ModuleList(SelfAttentionBlock(**block) for _ in range(num_layers))
        flat_dim = 2 * hidden_dim if fusion != "modulated" else hidden_dim
        self.text_flat = AttentionFlattening(hidden_dim, ff_dim, flat_dim, dropout)
        if fusion != "text_only":
            self.audio_lstm = nn.LSTM(num_features, hidden_dim, num_layers=1, batch_first=True)
            self.audio_flat = AttentionFlattening(hidden_dim, ff_dim, flat_dim, dropout)
        if fusion == "co_attention":
            self.audio_blocks = nn.ModuleList(GuidedAttentionBlock(**block) for _ in range(num_layers))
        elif fusion == "modulated":
            self.audio_blocks = nn.ModuleList(SelfAttentionBlock(**block) for _ in range(num_layers))
            # per audio block: (gamma, beta) for each of its two norms; ReLU keeps them >= 0, as in the seed
            self.modulation = nn.Sequential(nn.Linear(hidden_dim, 4 * hidden_dim * num_layers), nn.ReLU())
        self.hidden_dim = flat_dim
        self.norm = ConditionalLayerNorm(flat_dim, variant=norm)
        self.head_dropout = nn.Dropout(dropout_output)
        self.head = nn.Linear(flat_dim, num_classes)

    @torch.no_grad()
    def init_text_embeddings(self, matrix) -> None:
        """Copy initial word vectors ``(vocab_size, word_dim)`` into the (trainable) embedding; row 0 stays 0."""
        matrix = torch.as_tensor(matrix, dtype=self.embedding.weight.dtype)
        if tuple(matrix.shape) != tuple(self.embedding.weight.shape):
            raise ValueError(
                f"word vectors of shape {tuple(matrix.shape)} do not fit the embedding "
                f"{tuple(self.embedding.weight.shape)} (vocab_size, word_dim); leave model.args.word_dim "
                "unset so that it follows the vectors file, or pick vectors of that size."
            )
        self.embedding.weight.copy_(matrix)
        self.embedding.weight[0].zero_()

    def _encode_text(
        self, text: torch.Tensor, text_lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if text.dim() != 2 or text.dtype not in (torch.int64, torch.int32):
            raise ValueError(
                f"{type(self).__name__} takes text as word ids (batch, tokens) int64, got "
                f"{tuple(text.shape)} {text.dtype}; use the word_vocab text input."
            )
        mask = lengths_to_mask(text_lengths, text.shape[1])  # (batch, tokens)
        y, _ = self.text_lstm(self.input_dropout(self.embedding(text)))  # (batch, tokens, hidden_dim)
        for block in self.text_blocks:
            y = block(y, mask)
        return y, mask

    def forward_features(
        self, features: torch.Tensor, lengths: torch.Tensor, *, text: torch.Tensor, text_lengths: torch.Tensor
    ) -> torch.Tensor:
        """features (batch, frames, num_features), lengths (batch,), text (batch, tokens) int64 ids,
        text_lengths (batch,) -> embedding (batch, hidden_dim), after the fusion's layer norm."""
        y, y_mask = self._encode_text(text, text_lengths)
        if self.fusion == "text_only":
            return self.norm(self.text_flat(y, y_mask))
        x_mask = lengths_to_mask(lengths, features.shape[1])  # (batch, frames)
        x, _ = self.audio_lstm(self.input_dropout(features))  # (batch, frames, hidden_dim)
        lang = self.text_flat(y, y_mask)  # (batch, flat_dim)
        if self.fusion == "co_attention":
            for block in self.audio_blocks:
                x = block(x, y, x_mask, y_mask)
        else:
            modulations = self.modulation(lang).chunk(self.num_layers, dim=-1)  # each (batch, 4 * hidden_dim)
            for block, modulation in zip(self.audio_blocks, modulations):
                x = block(x, x_mask, modulation)
        return self.norm(lang + self.audio_flat(x, x_mask))

    def forward_head(self, embedding: torch.Tensor) -> torch.Tensor:
        """embedding (batch, hidden_dim) -> logits (batch, num_classes)."""
        return self.head(self.head_dropout(embedding))

    def forward(
        self, features: torch.Tensor, lengths: torch.Tensor, *, text: torch.Tensor, text_lengths: torch.Tensor
    ) -> torch.Tensor:
        """features (batch, frames, num_features), lengths (batch,), text (batch, tokens), text_lengths (batch,)
        -> logits (batch, num_classes)."""
        return self.forward_head(
            self.forward_features(features, lengths, text=text, text_lengths=text_lengths)
        )


def _build(fusion: str, **args) -> FusionTransformer:
    return FusionTransformer(fusion=fusion, **args)


@register_model()
def mat(
    *,
    num_classes: int,
    vocab_size: int,
    num_features: int = 80,
    word_dim: int = 300,
    hidden_dim: int = 512,
    num_heads: int = 4,
    ff_dim: int = 1024,
    num_layers: int = 2,
    dropout: float = 0.1,
    dropout_input: float = 0.0,
    dropout_output: float = 0.5,
    norm: str = "torch",
) -> FusionTransformer:
    """MAT: text self-attention encoder, audio guided-attention decoder (Model_MAT, README configuration)."""
    return _build(
        "co_attention",
        num_classes=num_classes,
        vocab_size=vocab_size,
        num_features=num_features,
        word_dim=word_dim,
        hidden_dim=hidden_dim,
        num_heads=num_heads,
        ff_dim=ff_dim,
        num_layers=num_layers,
        dropout=dropout,
        dropout_input=dropout_input,
        dropout_output=dropout_output,
        norm=norm,
    )


@register_model()
def mnt(
    *,
    num_classes: int,
    vocab_size: int,
    num_features: int = 80,
    word_dim: int = 300,
    hidden_dim: int = 512,
    num_heads: int = 4,
    ff_dim: int = 1024,
    num_layers: int = 2,
    dropout: float = 0.1,
    dropout_input: float = 0.0,
    dropout_output: float = 0.5,
    norm: str = "torch",
) -> FusionTransformer:
    """MNT: audio self-attention blocks whose layer norms are modulated by the text (Model_MNT)."""
    return _build(
        "modulated",
        num_classes=num_classes,
        vocab_size=vocab_size,
        num_features=num_features,
        word_dim=word_dim,
        hidden_dim=hidden_dim,
        num_heads=num_heads,
        ff_dim=ff_dim,
        num_layers=num_layers,
        dropout=dropout,
        dropout_input=dropout_input,
        dropout_output=dropout_output,
        norm=norm,
    )


@register_model()
def mat_text(
    *,
    num_classes: int,
    vocab_size: int,
    num_features: int = 80,
    word_dim: int = 300,
    hidden_dim: int = 512,
    num_heads: int = 4,
    ff_dim: int = 1024,
    num_layers: int = 2,
    dropout: float = 0.1,
    dropout_input: float = 0.0,
    dropout_output: float = 0.5,
    norm: str = "torch",
) -> FusionTransformer:
    """MAT's text branch alone (text-only baseline; ``features`` and ``num_features`` are ignored)."""
    return _build(
        "text_only",
        num_classes=num_classes,
        vocab_size=vocab_size,
        num_features=num_features,
        word_dim=word_dim,
        hidden_dim=hidden_dim,
        num_heads=num_heads,
        ff_dim=ff_dim,
        num_layers=num_layers,
        dropout=dropout,
        dropout_input=dropout_input,
        dropout_output=dropout_output,
        norm=norm,
    )
