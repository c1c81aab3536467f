"""The report line naming a recipe's non-default regularisers (label smoothing, EMA, SpecAugment).

Example:
    >>> from serkit.config import TrainConfig
    >>> regularisation_note(TrainConfig(label_smoothing=0.1, ema_decay=0.999, spec_time_masks=2, spec_freq_masks=2))
    'regularisation: label smoothing 0.1, EMA 0.999, SpecAugment 2x10% time / 2x8 bins'
    >>> regularisation_note(TrainConfig())
    ''
"""

from __future__ import annotations

from serkit.config import TrainConfig
from serkit.training.augment_features import SpecAugment

__all__ = ["regularisation_note"]


def regularisation_note(config: TrainConfig) -> str:
    """One line for the summary notes, or ``""`` when every one of them is off."""
    parts = [f"label smoothing {config.label_smoothing:g}"] if config.label_smoothing else []
    parts += [f"EMA {config.ema_decay:g}"] if config.ema_decay else []
    spec_augment = SpecAugment.from_config(config)
    parts += [spec_augment.describe()] if spec_augment.active else []
    return f"regularisation: {', '.join(parts)}" if parts else ""
