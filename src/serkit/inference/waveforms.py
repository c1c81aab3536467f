"""In-memory waveforms for :class:`serkit.inference.Recognizer`: probabilities, dimension values and the speech gate
of one waveform (moved out of :mod:`serkit.inference.recognizer` to keep it readable)."""

from __future__ import annotations

import numpy as np
import torch

from serkit.audio import io as audio_io
from serkit.inference.inputs import as_waveform
from serkit.inference.streaming import Source

__all__ = ["WaveformMixin"]


class WaveformMixin:
    """``predict_waveform``, ``predict_waveform_dimensions`` and ``is_speech`` of a recogniser with ``sample_rate``,
    ``_max_samples()``, ``_outputs(sources, texts)``, ``_speech_frames`` and ``_is_speech``."""

    def _waveform_source(self, waveform: np.ndarray | torch.Tensor, sample_rate: int | None) -> Source:
        samples = as_waveform(waveform)
        if sample_rate is not None and sample_rate != self.sample_rate:
            if not (isinstance(sample_rate, (int, np.integer)) and sample_rate > 0):
                raise ValueError(
                    f"sample_rate={sample_rate!r}: give the waveform's rate in Hz (a positive integer)."
                )
            samples = audio_io.resample(samples, int(sample_rate), self.sample_rate)
        limit = self._max_samples()
        return (
            "waveform",
            lambda start, stop: samples[start:stop],
            len(samples) if limit is None else min(len(samples), limit),
        )

    def predict_waveform(
        self, waveform: np.ndarray | torch.Tensor, text: str | None = None, *, sample_rate: int | None = None
    ) -> np.ndarray:
        """Probabilities (num_classes,) of one waveform (and its transcript, for fusion models).

        Args:
            waveform: (samples,) mono, or (samples, channels) mixed down to mono by their mean (the layout
                soundfile and :func:`serkit.audio.io.load_multichannel` return; a (channels, samples) array is
                refused, pass its transpose). Float samples are expected in [-1, 1]; integer PCM is scaled there
                (int16 / 32768, int32 / 2**31, uint8 (x - 128) / 128). A torch tensor is accepted too.
            text: the transcript, for fusion models.
            sample_rate: the waveform's rate in Hz, resampled to the model's; None means it is already at the
                model's rate (:attr:`sample_rate`).

        Raises:
            EmptyAudioError: no samples. NonFiniteAudioError: NaN or infinite samples. ValueError / TypeError:
            an unsupported shape, dtype or sample rate; a model that predicts dimensions only
            (:meth:`predict_waveform_dimensions`).
        """
        self.task.require_classes("predict_waveform")
        source = self._waveform_source(waveform, sample_rate)
        return self._outputs([source], None if text is None else [text])[0][0]

    def predict_waveform_dimensions(
        self,
        waveform: np.ndarray | torch.Tensor,
        text: str | None = None,
        *,
        sample_rate: int | None = None,
        scale: str = "unit",
    ) -> np.ndarray:
        """Dimension values (D,) of one waveform (accepted as in :meth:`predict_waveform`); ``scale`` ``unit``
        ([0, 1]) or ``corpus`` (the training corpus's rating scale)."""
        self.task.require_dimensions("predict_waveform_dimensions")
        source = self._waveform_source(waveform, sample_rate)
        return self.task.scaled(self._outputs([source], None if text is None else [text])[1][0], scale)

    def is_speech(self, waveform: np.ndarray | torch.Tensor, *, sample_rate: int | None = None) -> bool:
        """Whether the energy gate finds speech in a waveform (accepted as in :meth:`predict_waveform`)."""
        _, read, length = self._waveform_source(waveform, sample_rate)
        return self._is_speech(*self._speech_frames(read(0, length)))
