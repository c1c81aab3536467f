"""Pretrained speech encoders for the SSL models (wav2vec2, HuBERT, WavLM, data2vec-audio).

Loading and running them moved to :mod:`serkit.backbones.hf`, below the features in the layers, so that the ``ssl``
feature and the text encoders can use them too; the names are imported here for the model families.
"""

from __future__ import annotations

from serkit.backbones.hf import (
    LAYER_MODES,
    encode_waveforms,
    frame_lengths,
    load_audio_encoder,
    load_feature_extractor,
    model_fingerprint,
    resolve_model_path,
    select_layers,
    uses_attention_mask,
)

__all__ = [
    "LAYER_MODES",
    "encode_waveforms",
    "frame_lengths",
    "load_audio_encoder",
    "load_feature_extractor",
    "model_fingerprint",
    "resolve_model_path",
    "select_layers",
    "uses_attention_mask",
]
