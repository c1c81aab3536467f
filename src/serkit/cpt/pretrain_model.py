"""HuBERT's masked-prediction head and loss, on any wav2vec2-style Hugging Face encoder (SEEDS.md 5.3b).

The model (:class:`HubertPretrainModel`) is the encoder plus HuBERT's logit generator: the last hidden states are
projected to ``final_dim`` (256) and compared with one learned embedding per cluster by cosine similarity divided by
a temperature (0.1). The loss (:func:`masked_prediction_loss`, torchaudio's ``hubert_loss`` with
``reduction="sum"``) is the cross-entropy of the masked frames, plus the unmasked frames with weight 0, plus
``10 * mean(CNN features ** 2)`` per masked frame. The original's logits put the target embedding in column 0 and
set its duplicate among the negatives to minus infinity; that is the same softmax as plain cross-entropy over the
clusters, which is what is computed here.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["HubertPretrainModel", "cosine_logits", "masked_prediction_loss"]


def cosine_logits(
    projected: torch.Tensor, label_embeddings: torch.Tensor, temperature: float
) -> torch.Tensor:
    """projected (..., final_dim), label_embeddings (num_classes, final_dim) -> (..., num_classes)
    ``cos(x, e_c) / temperature``, computed in float32."""
    x = F.normalize(projected.float(), dim=-1, eps=1e-8)
    e = F.normalize(label_embeddings.float(), dim=-1, eps=1e-8)
    return x @ e.T / temperature


def masked_prediction_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    mask: torch.Tensor,
    feature_penalty: torch.Tensor,
    *,
    masked_weight: float = 1.0,
    unmasked_weight: float = 0.0,
    feature_weight: float = 10.0,
) -> tuple[torch.Tensor, int]:
    """HuBERT's loss, summed (torchaudio ``hubert_loss(..., reduction="sum")``).

    ``masked_weight * CE_sum(masked frames) + unmasked_weight * CE_sum(other frames)
    + feature_weight * feature_penalty * num_masked``.

    Args:
        logits: (batch, frames, num_classes). targets: (batch, frames) cluster ids. mask: (batch, frames) True
            where masked. feature_penalty: () mean of the squared CNN features.

    Returns:
        the summed loss () and the number of masked frames (divide by it, over all processes, for the mean).
    """
    num_masked = int(mask.sum())
    flat_logits, flat_targets = logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)
    flat_mask = mask.reshape(-1)
    loss = feature_penalty.float() * feature_weight * num_masked
    if num_masked:
        loss = loss + masked_weight * F.cross_entropy(
            flat_logits[flat_mask], flat_targets[flat_mask], reduction="sum"
        )
    if unmasked_weight and bool((~flat_mask).any()):
        loss = loss + unmasked_weight * F.cross_entropy(
            flat_logits[~flat_mask], flat_targets[~flat_mask], reduction="sum"
        )
    return loss, num_masked


class HubertPretrainModel(nn.Module):
    """A wav2vec2-style encoder + HuBERT's projection and label embeddings.

    Args:
        encoder: e.g. ``HubertModel``, with a mask embedding (``masked_spec_embed``).
        num_classes: clusters. final_dim: projection width (256). temperature: of the cosine logits (0.1).
    """

    def __init__(
        self, encoder: nn.Module, *, num_classes: int, final_dim: int = 256, temperature: float = 0.1
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.final_proj = nn.Linear(int(encoder.config.hidden_size), final_dim)
        self.label_embeddings = nn.Parameter(torch.empty(num_classes, final_dim).uniform_())
        self.temperature = temperature
        self._cnn_output: list[torch.Tensor] = []
        encoder.feature_extractor.register_forward_hook(self._keep_cnn_output)

    def _keep_cnn_output(self, _module: nn.Module, _args: Any, output: torch.Tensor) -> None:
        self._cnn_output.append(output)

    def forward(self, waveforms: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """waveforms (batch, samples) of equal length, mask (batch, frames) ->
        logits (batch, frames, num_classes), feature penalty () = mean of the squared CNN output."""
        self._cnn_output.clear()
        hidden = self.encoder(
            waveforms, mask_time_indices=mask
        ).last_hidden_state  # (batch, frames, hidden_dim)
        (features,) = self._cnn_output  # (batch, conv_dim, frames)
        self._cnn_output.clear()
        logits = cosine_logits(self.final_proj(hidden), self.label_embeddings, self.temperature)
        return logits, features.float().pow(2).mean()
