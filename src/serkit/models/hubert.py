"""HuBERT (or any wav2vec2-style encoder) fine-tuned for emotion: CPT-HuBERT's classifier (SEEDS.md 5.5).

``HubertForClassification`` of ``ASolitaryMan/HFLEA`` ``fine_tune_hubert.py``: the waveform goes through the
pretrained encoder (convolutional front end frozen, SpecAugment-style time masking with probability 0.08 while
training), dropout ``config.final_dropout`` on the last hidden states, padded frames zeroed, soft attention pooling
``a = softmax_t(tanh(h_t w))``, ``sum_t a_t h_t`` with ``w (hidden_dim, 1) ~ U(0, 1)``, and one linear layer.

Input follows the engine's ``waveform`` feature: ``features (batch, samples)`` at 16 kHz with ``lengths`` in samples.
Waveforms are normalised per utterance over their valid samples (zero mean, unit variance) when the encoder's
feature extractor says ``do_normalize``, as ``Wav2Vec2FeatureExtractor`` does, so recipes use
``input.normalize: none``. Frame lengths come from :func:`serkit.backbones.hf.frame_lengths`.

The encoder comes from ``pretrained`` (a hub name such as ``facebook/hubert-base-ls960``, or a folder written by
``save_pretrained``, e.g. ``serkit hubert export``), or, for tests and for rebuilding without the original files,
from ``encoder_config`` (``HubertConfig`` keyword arguments, random weights) with ``pretrained=""``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from serkit.backbones.hf import frame_lengths, resolve_model_path
from serkit.models import register_model
from serkit.models.base import InputSpec, SERModel
from serkit.models.layers import lengths_to_mask, span_mask

__all__ = [
    "HubertClassifier",
    "SoftAttentionPooling",
    "freeze_front_end",
    "hubert_ser",
    "load_encoder",
    "normalize_waveforms",
]


def load_encoder(
    pretrained: str,
    *,
    encoder_config: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> nn.Module:
    """A trainable encoder: ``AutoModel.from_pretrained(pretrained, **overrides)``, or a random ``HubertModel``
    built from ``encoder_config`` (then ``pretrained`` must be empty).

    ``overrides`` set config attributes at load time (``mask_time_prob`` decides whether the model has its
    learned mask embedding).

    Raises:
        ValueError: neither or both sources, an unloadable name, or a model without a convolutional front end.
    """
    import transformers

    overrides = dict(overrides or {})
    if encoder_config is not None:
        if pretrained:
            raise ValueError(
                f"hubert: give either pretrained={pretrained!r} or encoder_config, not both; set "
                "pretrained='' to build a randomly initialised encoder from encoder_config."
            )
        model: nn.Module = transformers.HubertModel(
            transformers.HubertConfig(**{**encoder_config, **overrides})
        )
    else:
        if not pretrained:
            raise ValueError(
                "hubert: pretrained is empty; give a hub name (facebook/hubert-base-ls960), a folder "
                "written by save_pretrained, or encoder_config for a random encoder."
            )
        where = resolve_model_path(pretrained)
        try:
            model = transformers.AutoModel.from_pretrained(where, **overrides)
        except OSError as exc:
            raise ValueError(
                f"hubert: cannot load {pretrained!r} ({exc}). Offline, give a local folder written "
                "by save_pretrained."
            ) from None
    if not (hasattr(model.config, "conv_kernel") and hasattr(model.config, "conv_stride")):
        raise ValueError(
            f"hubert: {pretrained!r} ({type(model).__name__}) has no convolutional front end "
            "(conv_kernel / conv_stride); use a wav2vec2, HuBERT, WavLM or data2vec-audio encoder."
        )
    model.train()
    return model


def _detach_output(_module: nn.Module, _args: Any, output: torch.Tensor) -> torch.Tensor:
    return output.detach()


def freeze_front_end(encoder: nn.Module) -> None:
    """Freeze the convolutional front end (``feature_extractor``) of a wav2vec2-style encoder.

    Uses the encoder's ``freeze_feature_encoder()`` where its class has one. ``HubertModel`` itself does not (only
    its task heads do, through a private method), so there the parameters are frozen and the front end's output is
    detached: exactly what the heads' method achieves, no gradient or backward pass through the convolutions.
    """
    if hasattr(encoder, "freeze_feature_encoder"):
        encoder.freeze_feature_encoder()
        return
    front_end = getattr(encoder, "feature_extractor", None)
    if front_end is None:
        raise ValueError(f"{type(encoder).__name__} has no feature_extractor to freeze.")
    front_end.requires_grad_(False)
    front_end.register_forward_hook(_detach_output)


def normalize_waveforms(waveforms: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Zero mean, unit variance per utterance over its valid samples; padding stays 0.

    The formula of ``Wav2Vec2FeatureExtractor.zero_mean_unit_var_norm``: ``(x - mean) / sqrt(var + 1e-7)``.

    Args:
        waveforms: (batch, samples). lengths: (batch,) valid samples.

    Returns:
        (batch, samples).
    """
    valid = lengths_to_mask(lengths, waveforms.shape[1]).to(waveforms.dtype)
    count = lengths.clamp_min(1).to(waveforms.dtype).unsqueeze(1)
    mean = (waveforms * valid).sum(1, keepdim=True) / count
    variance = (((waveforms - mean) * valid) ** 2).sum(1, keepdim=True) / count
    return (waveforms - mean) / torch.sqrt(variance + 1e-7) * valid


class SoftAttentionPooling(nn.Module):
    """HFLEA's ``SoftAttention``: ``e_t = tanh(h_t w)``, masked softmax over frames, ``sum_t a_t h_t``.

    Args:
        hidden_dim: width of the frames.
    """

    def __init__(self, hidden_dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(hidden_dim, 1).uniform_(0.0, 1.0))

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """hidden (batch, frames, hidden_dim), mask (batch, frames) True where valid -> (batch, hidden_dim)."""
        scores = torch.tanh(hidden @ self.weight).squeeze(-1)  # (batch, frames)
        weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=1)
        return torch.einsum("bt,btd->bd", weights, hidden)


class MeanPooling(nn.Module):
    """Mean of the valid frames (HFLEA's unused ``mean`` option)."""

    def __init__(self, hidden_dim: int) -> None:
        super().__init__()

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """hidden (batch, frames, hidden_dim), mask (batch, frames) -> (batch, hidden_dim)."""
        weights = mask.to(hidden.dtype)
        return (hidden * weights.unsqueeze(-1)).sum(1) / weights.sum(1, keepdim=True).clamp_min(1.0)


_POOLINGS: dict[str, type[nn.Module]] = {"attention": SoftAttentionPooling, "mean": MeanPooling}


class HubertClassifier(SERModel):
    """Encoder -> dropout -> zero padded frames -> pooling -> linear.

    Args:
        encoder: a wav2vec2-style model (``HubertModel``) returning ``last_hidden_state (batch, frames,
            hidden_dim)``; it must have a learned mask embedding if ``mask_time_prob > 0``.
        num_classes: outputs.
        dropout: on the encoder's last hidden states.
        pooling: ``attention`` (the original) or ``mean``.
        mask_time_prob, mask_time_length, mask_time_min_masks: time masking while training (0 disables it).
        normalize_waveform: standardise each waveform over its valid samples first.
    """

    input_spec = InputSpec(kind="waveform", feature="waveform", sample_rate=16000)

    def __init__(
        self,
        encoder: nn.Module,
        *,
        num_classes: int,
        dropout: float,
        pooling: str,
        mask_time_prob: float,
        mask_time_length: int,
        mask_time_min_masks: int,
        normalize_waveform: bool,
    ) -> None:
        super().__init__()
        if pooling not in _POOLINGS:
            raise ValueError(f"hubert_ser: pooling={pooling!r}; use one of {', '.join(_POOLINGS)}.")
        if mask_time_prob > 0 and getattr(encoder, "masked_spec_embed", None) is None:
            raise ValueError(
                "hubert_ser: the encoder has no mask embedding (its config has mask_time_prob=0); "
                "load it with mask_time_prob > 0 or set mask_time_prob=0."
            )
        self.encoder = encoder
        self.num_classes = num_classes
        self.hidden_dim = int(encoder.config.hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.pooling = _POOLINGS[pooling](self.hidden_dim)
        self.head = nn.Linear(self.hidden_dim, num_classes)
        self.mask_time_prob, self.mask_time_length = mask_time_prob, mask_time_length
        self.mask_time_min_masks = mask_time_min_masks
        self.normalize_waveform = normalize_waveform

    def example_input(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Random waveforms (batch, samples) of 20, 15 and 7 encoder frames (cycled), and their lengths."""
        config = self.encoder.config
        stride = 1
        receptive = 1
        for kernel, step in zip(config.conv_kernel, config.conv_stride):
            receptive += (int(kernel) - 1) * stride
            stride *= int(step)
        lengths = torch.tensor([receptive + (frames - 1) * stride for frames in (20, 15, 7)] * batch)[:batch]
        return torch.randn(batch, int(lengths.max())), lengths

    def frame_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """(batch,) samples -> (batch,) encoder frames."""
        return frame_lengths(self.encoder.config, lengths).to(lengths.device)

    def forward_features(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """features (batch, samples) waveforms, lengths (batch,) samples -> embedding (batch, hidden_dim)."""
        if features.dim() != 2:
            raise ValueError(
                f"hubert_ser takes waveforms (batch, samples), got shape {tuple(features.shape)}; use "
                "features: {name: waveform} in the recipe."
            )
        frames = self.frame_lengths(lengths)
        if bool((frames < 1).any()):
            shortest = int(lengths.min())
            raise ValueError(
                f"hubert_ser: an input of {shortest} samples is shorter than the encoder's receptive "
                "field; drop such utterances or pad them."
            )
        waveforms = normalize_waveforms(features, lengths) if self.normalize_waveform else features
        padded = bool((lengths < features.shape[1]).any())
        attention_mask = lengths_to_mask(lengths, features.shape[1]).long() if padded else None
        mask_time = None
        if self.training and self.mask_time_prob > 0:
            max_frames = int(frame_lengths(self.encoder.config, features.shape[1]))
            mask_time = span_mask(
                frames,
                max_frames=max_frames,
                mask_prob=self.mask_time_prob,
                mask_length=self.mask_time_length,
                min_masks=self.mask_time_min_masks,
            )
        hidden = self.encoder(
            waveforms, attention_mask=attention_mask, mask_time_indices=mask_time
        ).last_hidden_state  # (batch, frames, hidden_dim)
        hidden = self.dropout(hidden)
        valid = lengths_to_mask(frames, hidden.shape[1])
        hidden = hidden * valid.unsqueeze(-1).to(hidden.dtype)
        return self.pooling(hidden, valid)

    def forward_head(self, embedding: torch.Tensor) -> torch.Tensor:
        """embedding (batch, hidden_dim) -> logits (batch, num_classes)."""
        return self.head(embedding)

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """features (batch, samples), lengths (batch,) -> logits (batch, num_classes)."""
        return self.forward_head(self.forward_features(features, lengths))


def _waveform_normalisation(pretrained: str) -> bool:
    from serkit.backbones.hf import load_feature_extractor

    return bool(getattr(load_feature_extractor(pretrained), "do_normalize", True))


@register_model()
def hubert_ser(
    *,
    num_classes: int,
    pretrained: str = "facebook/hubert-base-ls960",
    encoder_config: dict | None = None,
    dropout: float | None = None,
    pooling: str = "attention",
    mask_time_prob: float = 0.08,
    mask_time_length: int = 10,
    mask_time_min_masks: int = 2,
    freeze_feature_encoder: bool = True,
    normalize_waveform: bool | None = None,
) -> HubertClassifier:
    """CPT-HuBERT's fine-tuning model (SEEDS.md 5.5).

    Args:
        pretrained: hub name or ``save_pretrained`` folder of the encoder ("" with ``encoder_config``).
        encoder_config: ``HubertConfig`` keyword arguments of a randomly initialised encoder (tests).
        dropout: on the last hidden states; None takes the encoder config's ``final_dropout`` (0.1).
        pooling: ``attention`` (soft attention, the original) or ``mean``.
        mask_time_prob: SpecAugment-style time masking while training (the original 0.08).
        freeze_feature_encoder: keep the convolutional front end fixed (the original).
        normalize_waveform: per-utterance standardisation; None follows the encoder's feature extractor
            (``do_normalize``; True for a random encoder).
    """
    encoder = load_encoder(
        pretrained,
        encoder_config=encoder_config,
        overrides={"mask_time_prob": mask_time_prob, "mask_time_length": mask_time_length},
    )
    if freeze_feature_encoder:
        freeze_front_end(encoder)
    if normalize_waveform is None:
        normalize_waveform = True if encoder_config is not None else _waveform_normalisation(pretrained)
    return HubertClassifier(
        encoder,
        num_classes=num_classes,
        dropout=float(encoder.config.final_dropout if dropout is None else dropout),
        pooling=pooling,
        mask_time_prob=mask_time_prob,
        mask_time_length=mask_time_length,
        mask_time_min_masks=mask_time_min_masks,
        normalize_waveform=normalize_waveform,
    )
