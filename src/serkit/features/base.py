"""The feature contract: :class:`FeatureConfig`, the :data:`FEATURES` registry and :func:`feature_from_dict`.

A feature is a frozen dataclass config whose fields are plain names and numbers, registered by name in
:data:`FEATURES` with ``@FEATURES.register(name)`` in the module that defines it, so a recipe says
``features: {name: mfcc, n_mfcc: 26}`` and :func:`feature_from_dict` builds it. ``config.compute(waveforms, lengths)``
returns the features, ``config.key()`` a stable string for the disk cache (:mod:`serkit.features.cache`) that
changes whenever an option or the feature's implementation ``version`` does.

Layout (one convention for every feature in serkit):

* waveforms in: ``(batch, samples)``; a single ``(samples,)`` waveform is accepted and gives the output
  without its batch axis;
* features out: ``(batch, num_features, frames)``, i.e. librosa's ``(n_features, frames)`` with a batch axis in
  front, which is also the ``(height, width)`` image GLAM's CNNs take; the three-channel log-mel of DCNN-BLSTMwA is
  ``(batch, 3, n_mels, frames)``. Acoustic sequence models take ``(batch, frames, num_features)``: the
  dataset or model transposes (``features.transpose(-1, -2)``); features never change layout on their own.
  A feature whose frames are images or encoder states says so with ``frame_axis = 1``.

The registered features live in :mod:`serkit.features.spectral` (``mfcc``, ``log_mel``, ``three_channel_logmel``,
``apcnn_spectrogram``), :mod:`~serkit.features.dcnn`, :mod:`~serkit.features.ssl`,
:mod:`~serkit.features.opensmile` and :mod:`~serkit.features.raw`; importing :mod:`serkit.features` registers them
all.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from serkit.core.registry import Registry, closest_names
from serkit.features.validation import as_waveform_batch

__all__ = ["FEATURES", "FeatureConfig", "feature_from_dict", "list_features"]

#: Feature name -> config class (a :class:`FeatureConfig` subclass).
FEATURES: Registry[type[FeatureConfig]] = Registry("feature")


@dataclass(frozen=True)
class FeatureConfig:
    """Base of the feature configs: plain fields, validated on construction, hashable into a cache key.

    Subclasses are frozen dataclasses registered in :data:`FEATURES` under :attr:`name`; they implement
    :attr:`feature_shape`, :meth:`num_frames` and :meth:`_compute_batch`. Bump :attr:`version` whenever a change
    to the computation changes its output, so that cached features computed by older code are not reused.
    """

    name: ClassVar[str] = ""
    version: ClassVar[int] = 1
    #: Where ``compute`` puts the frame axis: -1 gives ``(batch, *feature_shape, frames)``; a feature whose frames are
    #: images (DCNN segments) may say 1, ``(batch, frames, *feature_shape)``.
    frame_axis: ClassVar[int] = -1
    #: False for inputs that need no audio file (``none``): the pipeline then reads nothing.
    reads_audio: ClassVar[bool] = True

    def __post_init__(self) -> None:
        self._check_field_types()
        self.validate()

    def _check_field_types(self) -> None:
        hints = typing.get_type_hints(type(self))
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            hint = hints[field.name]
            allowed = (
                typing.get_args(hint)
                if typing.get_origin(hint) in (typing.Union, types.UnionType)
                else (hint,)
            )
            if value is None and type(None) in allowed:
                continue
            if float in allowed and isinstance(value, int) and not isinstance(value, bool):
                object.__setattr__(self, field.name, float(value))  # YAML writes 20 for 20.0
                continue
            accepted = tuple(t for t in allowed if t is not type(None))
            if isinstance(value, bool) and bool not in accepted or not isinstance(value, accepted):
                expected = " or ".join("null" if t is type(None) else t.__name__ for t in allowed)
                raise ValueError(
                    f"feature {self.name!r}: option {field.name}={value!r} must be {expected}, "
                    f"got {type(value).__name__}."
                )

    def validate(self) -> None:
        """Check option values (types are checked already); raise ValueError naming the option."""

    # -- what a subclass provides -----------------------------------------------------------------------------

    @property
    def feature_shape(self) -> tuple[int, ...]:
        """Shape of one frame: ``(num_features,)``, or ``(channels, num_features)`` for multi-channel features."""
        raise NotImplementedError

    def num_frames(self, num_samples: int) -> int:
        """Number of frames computed from ``num_samples`` samples."""
        raise NotImplementedError

    def _compute_batch(self, waveforms: torch.Tensor) -> torch.Tensor:
        """(batch, samples) float tensor -> (batch, *feature_shape, frames)."""
        raise NotImplementedError

    # -- shared behaviour -----------------------------------------------------------------------------------

    @property
    def num_features(self) -> int:
        """Size of the feature axis (MFCC coefficients, mel bands or frequency bins)."""
        return self.feature_shape[-1]

    def compute(
        self,
        waveforms: np.ndarray | torch.Tensor,
        lengths: np.ndarray | torch.Tensor | list[int] | None = None,
    ) -> torch.Tensor:
        """Compute the features of a batch of waveforms.

        Args:
            waveforms: (batch, samples) or (samples,), numpy or torch, at ``sample_rate``.
            lengths: (batch,) valid samples of each zero-padded waveform. Each example is then computed from its
                own samples only, exactly as if it were alone, and its frames past ``num_frames(length)`` are 0.

        Returns:
            features: (batch, *feature_shape, frames) with ``frames = num_frames(samples)``
            (no batch axis for a single waveform); use :meth:`frame_lengths` for each example's valid frames.
        """
        x, single = as_waveform_batch(waveforms)
        if lengths is None:
            out = self._compute_batch(x)
            return out[0] if single else out
        if single:
            raise ValueError("lengths are for a (batch, samples) batch; a single waveform needs none.")
        lengths = self._check_lengths(lengths, x)
        samples = x.shape[-1]
        if bool((lengths == samples).all()):
            return self._compute_batch(x)
        out = x.new_zeros((x.shape[0], *self.feature_shape, self.num_frames(samples)))
        for index, length in enumerate(lengths.tolist()):
            example = self._compute_batch(x[index : index + 1, :length])[0]  # (*feature_shape, frames_i)
            out[index, ..., : example.shape[-1]] = example
        return out

    def frame_lengths(self, lengths: np.ndarray | torch.Tensor | list[int]) -> torch.Tensor:
        """(batch,) valid samples -> (batch,) int64 valid frames."""
        lengths = torch.as_tensor(lengths).reshape(-1).tolist()
        return torch.tensor([self.num_frames(int(n)) for n in lengths], dtype=torch.int64)

    def _check_lengths(self, lengths: np.ndarray | torch.Tensor | list[int], x: torch.Tensor) -> torch.Tensor:
        lengths = torch.as_tensor(lengths)
        if lengths.shape != (x.shape[0],) or lengths.is_floating_point():
            raise ValueError(
                f"lengths must be integers of shape (batch,) = ({x.shape[0]},), "
                f"got {lengths.dtype} of shape {tuple(lengths.shape)}."
            )
        if bool(((lengths < 1) | (lengths > x.shape[-1])).any()):
            raise ValueError(
                f"lengths must be in [1, {x.shape[-1]}] (the padded number of samples), "
                f"got {lengths.tolist()}."
            )
        return lengths

    def to_dict(self) -> dict[str, Any]:
        """``{"name": ..., <every option>: value}``: plain names and numbers, the form a recipe uses."""
        return {"name": self.name, **dataclasses.asdict(self)}

    def key(self) -> str:
        """A stable, filesystem-safe key for the cache, e.g. ``mfcc-v1-3f2a9c1b0d4e``.

        It hashes every option (defaults included) and the implementation :attr:`version`, so any change of
        either gives a new key; equal configs give equal keys in every process.
        """
        text = json.dumps({"version": self.version, **self.to_dict()}, sort_keys=True, separators=(",", ":"))
        return f"{self.name}-v{self.version}-{hashlib.sha1(text.encode('utf-8')).hexdigest()[:12]}"

    @classmethod
    def from_dict(cls, options: Mapping[str, Any]) -> FeatureConfig:
        """Build from a mapping of options (a ``name``, if present, must be this feature's); an unknown option
        names the closest valid one."""
        options = dict(options)
        name = options.pop("name", cls.name)
        if name != cls.name:
            raise ValueError(
                f"options for feature {name!r} given to {cls.__name__} (feature {cls.name!r}); "
                "use feature_from_dict to pick the config by name."
            )
        valid = [field.name for field in dataclasses.fields(cls)]
        for option in options:
            if option not in valid:
                hint = closest_names(str(option), valid)
                did_you_mean = f" Did you mean {', '.join(map(repr, hint))}?" if hint else ""
                raise ValueError(
                    f"unknown option {option!r} for feature {cls.name!r}.{did_you_mean} "
                    f"Valid options: {', '.join(valid)}."
                )
        return cls(**options)


def feature_from_dict(spec: Mapping[str, Any]) -> FeatureConfig:
    """Build a feature config from a recipe mapping such as ``{"name": "mfcc", "n_mfcc": 26}``.

    Raises:
        ValueError: ``spec`` has no ``name``, or an unknown option (naming the closest valid one), or a bad value.
        KeyError: an unknown feature name (naming the closest registered ones).
    """
    if not isinstance(spec, Mapping) or "name" not in spec:
        raise ValueError(
            f"a feature spec must be a mapping with a 'name' (one of {', '.join(FEATURES.names())}), "
            f"got {spec!r}."
        )
    config_class = FEATURES.get(str(spec["name"]))
    return config_class.from_dict({key: value for key, value in spec.items() if key != "name"})


def list_features() -> list[str]:
    """Registered feature names."""
    return FEATURES.names()
