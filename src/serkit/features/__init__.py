"""Features computed from waveforms, and their disk cache.

Feature outputs are ``(batch, num_features, frames)`` (``(batch, 3, n_mels, frames)`` for the three-channel
log-mel). Where things are:

* :mod:`~serkit.features.base`: the :class:`FeatureConfig` contract, the :data:`FEATURES` registry,
  :func:`feature_from_dict`;
* :mod:`~serkit.features.dsp` (STFT, mel, dB, DCT, MFCC) and :mod:`~serkit.features.deltas`: pure functions;
* the registered features: :mod:`~serkit.features.spectral` (``mfcc``, ``log_mel``, ``three_channel_logmel``,
  ``apcnn_spectrogram``), :mod:`~serkit.features.dcnn`, :mod:`~serkit.features.ssl`,
  :mod:`~serkit.features.opensmile`, :mod:`~serkit.features.raw`; importing this package registers them all;
* :mod:`~serkit.features.cache` (disk cache), :mod:`~serkit.features.pipeline` (utterances -> model inputs),
  :mod:`serkit.features.text` (text inputs of fusion models).

Example:
    >>> import numpy as np
    >>> config = feature_from_dict({"name": "mfcc", "n_mfcc": 26})
    >>> tuple(config.compute(np.zeros(28800, dtype=np.float32)).shape)  # 1.8 s at 16 kHz
    (26, 57)
"""

from serkit.features.base import FEATURES, FeatureConfig, feature_from_dict, list_features
from serkit.features.cache import FeatureCache
from serkit.features.dcnn import DCNNSegmentsConfig  # registers "dcnn_segments" (DCNN-BLSTMwA images)
from serkit.features.deltas import regression_delta, savgol_delta
from serkit.features.dsp import dct_matrix, mel_filterbank, mel_spectrogram, mfcc, power_to_db, stft_power
from serkit.features.opensmile import OpenSmileConfig  # registers "egemaps"; opensmile loads lazily
from serkit.features.raw import NoAudioConfig, WaveformConfig  # registers "waveform" and "none"
from serkit.features.spectral import (  # registers "mfcc", "log_mel", "three_channel_logmel", "apcnn_spectrogram"
    APCNNSpectrogramConfig,
    LogMelConfig,
    MFCCConfig,
    ThreeChannelLogMelConfig,
)
from serkit.features.ssl import SSLConfig  # registers "ssl" (HF speech encoders); transformers loads lazily

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
    "mel_spectrogram",
    "mfcc",
    "power_to_db",
    "regression_delta",
    "savgol_delta",
    "stft_power",
]
