"""openSMILE functionals (eGeMAPS, GeMAPS, ComParE): the classical hand-crafted reference of SER papers.

The feature ``egemaps`` (:class:`OpenSmileConfig`) wraps the ``opensmile`` PyPI package (audEERING's openSMILE
binary with its published configurations). It is an *optional* dependency: it is imported only when features are
computed, and a clear ImportError says ``pip install opensmile`` when it is missing.

Functionals summarise a whole signal into one vector (eGeMAPSv02: 88 values such as F0 mean, jitter, loudness
percentiles, MFCC means), so the output is ``(batch, num_features, 1)``: a single frame. Recipes therefore use
``input.mode: utterance`` (one chunk of one frame per utterance); with ``mode: segments`` every segment would get
its own functionals, which is possible but not what papers report. A recipe reads::

    features: {name: egemaps, feature_set: eGeMAPSv02}
    input: {mode: utterance}
    model: {name: linear_svm}

Example:
    >>> config = OpenSmileConfig()
    >>> config.feature_shape, config.num_frames(16000)
    ((88,), 1)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from serkit.features.base import FEATURES, FeatureConfig
from serkit.features.validation import check_choice, check_positive_int

__all__ = ["FEATURE_SET_SIZES", "MIN_SECONDS", "OpenSmileConfig"]

#: Supported openSMILE feature sets (``opensmile.FeatureSet`` member names) -> number of functionals.
FEATURE_SET_SIZES: dict[str, int] = {
    "eGeMAPSv02": 88,
    "GeMAPSv01b": 62,
    "ComParE_2016": 6373,
}

#: Feature levels: only utterance functionals so far (low-level descriptors have their own frame grid).
LEVELS = ("functionals",)

#: Shortest signal openSMILE summarises: its pitch analysis uses 60 ms frames, and a shorter signal gives NaN.
MIN_SECONDS = 0.06


def _import_opensmile() -> Any:
    try:
        import opensmile  # the PyPI package (absolute import), not this module
    except ImportError as exc:
        raise ImportError(
            "the 'egemaps' feature needs the opensmile package, which is not installed; run "
            "`pip install opensmile` (it ships the openSMILE binary) or pick another feature."
        ) from exc
    return opensmile


@functools.cache
def _smile(feature_set: str, level: str) -> Any:
    """One ``opensmile.Smile`` per (feature set, level) and process: building it parses the config files."""
    opensmile = _import_opensmile()
    levels = {"functionals": opensmile.FeatureLevel.Functionals}
    return opensmile.Smile(feature_set=opensmile.FeatureSet[feature_set], feature_level=levels[level])


@FEATURES.register("egemaps")
@dataclass(frozen=True)
class OpenSmileConfig(FeatureConfig):
    """openSMILE functionals of each waveform, ``opensmile.Smile(feature_set, Functionals).process_signal``.

    One vector per example, as a single frame: ``(batch, num_features, 1)`` with 88 features for
    ``eGeMAPSv02`` (Eyben et al. 2016), 62 for ``GeMAPSv01b`` and 6373 for ``ComParE_2016``. Use it with
    ``input.mode: utterance``. Examples are processed one at a time (openSMILE has no batch axis), on the CPU,
    in float32; the result takes the input's dtype and device. Signals shorter than :data:`MIN_SECONDS` raise
    ValueError, because openSMILE returns NaN for them.
    """

    name: ClassVar[str] = "egemaps"

    sample_rate: int = 16000
    feature_set: str = "eGeMAPSv02"
    level: str = "functionals"

    def validate(self) -> None:
        check_positive_int("sample_rate", self.sample_rate)
        check_choice("feature_set", self.feature_set, FEATURE_SET_SIZES)
        check_choice("level", self.level, LEVELS)

    @property
    def feature_shape(self) -> tuple[int, ...]:
        return (FEATURE_SET_SIZES[self.feature_set],)

    def num_frames(self, num_samples: int) -> int:
        return 1  # functionals summarise the whole signal, whatever its length

    def _compute_batch(self, waveforms: torch.Tensor) -> torch.Tensor:
        minimum = round(MIN_SECONDS * self.sample_rate)
        if waveforms.shape[-1] < minimum:
            raise ValueError(
                f"feature {self.name!r} needs at least {MIN_SECONDS} s ({minimum} samples at "
                f"{self.sample_rate} Hz) per signal, got {waveforms.shape[-1]} samples; drop or pad "
                "shorter utterances."
            )
        smile = _smile(self.feature_set, self.level)
        signals = waveforms.detach().to("cpu", torch.float32).numpy()
        rows = []
        for signal in signals:
            values = smile.process_signal(signal, self.sample_rate).to_numpy(
                dtype=np.float32
            )  # (1, num_features)
            if not np.isfinite(values).all():
                raise ValueError(
                    f"openSMILE returned non-finite {self.feature_set} values for a "
                    f"{len(signal)}-sample signal; check the audio (silence, clipping, length)."
                )
            rows.append(values[0])
        features = torch.from_numpy(np.stack(rows))  # (batch, num_features)
        return features.unsqueeze(-1).to(
            device=waveforms.device, dtype=waveforms.dtype
        )  # (batch, num_features, 1)
