"""Settings of stage ``pretrain`` (:mod:`serkit.cpt.pretrain`) and the check that a run folder holds this run.

:class:`PretrainConfig` is read from YAML plus ``key=value`` overrides (:func:`load_pretrain_config`). A run
folder's ``config.yaml`` records the settings that change the result; :func:`claim_run_folder` refuses a folder
that holds a run with other such settings, so that resuming never mixes two runs. The runtime settings
(:data:`RUNTIME_SETTINGS`) may differ between a run and its resumption.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from serkit.config import from_dict
from serkit.core.errors import SerkitError
from serkit.core.values import read_yaml, to_dict

__all__ = [
    "EXPORT_CHOICES",
    "RUNTIME_SETTINGS",
    "PretrainConfig",
    "claim_run_folder",
    "load_pretrain_config",
    "run_identity",
]

#: The weights a pre-training run saves (``<name>.pt``), any of which stage ``export`` can export. Here, not in
#: :mod:`serkit.cpt.export`, so that ``serkit hubert export --which`` is built without importing torch.
EXPORT_CHOICES = ("best_valid", "best_train", "last")

#: Settings that do not change the result: a run folder may be resumed with other values.
RUNTIME_SETTINGS = ("progress", "threads", "num_workers")


@dataclass(frozen=True)
class PretrainConfig:
    """Settings of one pre-training run; defaults are the original's (``train.py`` of HFLEA, torchaudio's recipe).

    ``num_classes`` must equal the k-means cluster count of the labels. ``precision``: Accelerate's mixed
    precision (``no``, ``fp16``, ``bf16``; the original used fp16 on GPUs; without a GPU it runs in float32, with
    a warning). ``save_every``: updates between resume
    states. ``normalize_waveform``: None follows the starting model's feature extractor (``do_normalize``).
    """

    num_classes: int = 0
    max_updates: int = 20000
    warmup_updates: int = 4000
    lr: float = 5e-4
    betas: tuple[float, ...] = (0.9, 0.98)
    eps: float = 1e-6
    weight_decay: float = 0.01
    clip_norm: float = 10.0
    seconds_per_batch: float = 87.5
    min_samples: int = 16000
    max_samples: int = 250000
    num_buckets: int = 1000
    mask_prob: float = 0.8
    mask_length: int = 10
    mask_min_masks: int = 2
    final_dim: int = 256
    logit_temperature: float = 0.1
    masked_weight: float = 1.0
    unmasked_weight: float = 0.0
    feature_weight: float = 10.0
    freeze_feature_encoder: bool = True
    precision: str = "no"
    seed: int = 0
    save_every: int = 500
    num_workers: int = 0
    sample_rate: int = 16000
    normalize_waveform: bool | None = None
    threads: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        if self.max_updates < 1 or self.warmup_updates < 0 or self.warmup_updates > self.max_updates:
            raise ValueError(
                f"max_updates={self.max_updates}, warmup_updates={self.warmup_updates}: need "
                "max_updates >= 1 and 0 <= warmup_updates <= max_updates."
            )
        if len(self.betas) != 2:
            raise ValueError(f"betas={self.betas}: give two numbers, e.g. [0.9, 0.98].")
        if self.precision not in ("no", "fp16", "bf16"):
            raise ValueError(f"precision={self.precision!r}: use no, fp16 or bf16.")
        if self.min_samples > self.max_samples:
            raise ValueError(f"min_samples={self.min_samples} > max_samples={self.max_samples}.")


def load_pretrain_config(
    path: str | Path | None, overrides: list[str] | None = None, base: dict[str, Any] | None = None
) -> PretrainConfig:
    """A :class:`PretrainConfig` from a YAML mapping (optional) plus ``key=value`` overrides."""
    from serkit.core.values import apply_overrides

    data = dict(base or {})
    if path is not None:
        data.update(read_yaml(path))
    return from_dict(PretrainConfig, apply_overrides(data, overrides))


def run_identity(
    config: PretrainConfig, *, init: str, train_labels: str | Path, valid_labels: str | Path | None
) -> dict[str, Any]:
    """What makes a run this run: starting model, label lists and the result-changing settings."""
    return {
        "init": str(init),
        "train_labels": str(Path(train_labels).resolve()),
        "valid_labels": str(Path(valid_labels).resolve()) if valid_labels else "",
        "settings": {k: v for k, v in to_dict(config).items() if k not in RUNTIME_SETTINGS},
    }


def claim_run_folder(out_dir: Path, resolved: dict[str, Any]) -> None:
    """Refuse a folder that holds a run with other result-changing settings (``resolved``: :func:`run_identity`)."""
    saved = out_dir / "config.yaml"
    if not saved.is_file():
        return
    old = read_yaml(saved)
    old["settings"] = {k: v for k, v in old.get("settings", {}).items() if k not in RUNTIME_SETTINGS}
    if old != json.loads(json.dumps(resolved)):
        raise SerkitError(
            f"{out_dir} holds another pre-training run (see {saved}); use a new folder or delete it."
        )
