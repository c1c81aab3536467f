"""Features computed from waveforms, and their disk cache.

Feature outputs are ``(batch, num_features, frames)`` (``(batch, 3, n_mels, frames)`` for the three-channel
log-mel); see :mod:`serkit.features.spectral` for the layout and the registered features, and
:mod:`serkit.features.cache` for the cache.

Example:
    >>> import numpy as np
    >>> config = feature_from_dict({"name": "mfcc", "n_mfcc": 26})
    >>> tuple(config.compute(np.zeros(28800, dtype=np.float32)).shape)  # 1.8 s at 16 kHz
    (26, 57)
"""

from serkit.features.cache import FeatureCache
from serkit.features.dcnn import DCNNSegmentsConfig  # registers "dcnn_segments" (DCNN-BLSTMwA images)
from serkit.features.opensmile_features import OpenSmileConfig  # registers "egemaps"; opensmile loads lazily
from serkit.features.raw import NoAudioConfig, WaveformConfig  # registers "waveform" and "none"
from serkit.features.ssl import SSLConfig  # registers "ssl" (HF speech encoders); transformers loads lazily
from serkit.features.spectral import (
    FEATURES,
    APCNNSpectrogramConfig,
    FeatureConfig,
    LogMelConfig,
    MFCCConfig,
    ThreeChannelLogMelConfig,
    dct_matrix,
    feature_from_dict,
    list_features,
    mel_filterbank,
    power_to_db,
    regression_delta,
    savgol_delta,
    stft_power,
)

__all__ = [
    "FEATURES",
    "APCNNSpectrogramConfig",
    "DCNNSegmentsConfig",
    "FeatureCache",
    "FeatureConfig",
    "LogMelConfig",
    "MFCCConfig",
    "NoAudioConfig",
    "OpenSmileConfig",
    "SSLConfig",
    "ThreeChannelLogMelConfig",
    "WaveformConfig",
    "dct_matrix",
    "feature_from_dict",
    "list_features",
    "mel_filterbank",
    "power_to_db",
    "regression_delta",
    "savgol_delta",
    "stft_power",
]
