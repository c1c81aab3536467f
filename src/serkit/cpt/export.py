"""Stage ``export``: encoders as Hugging Face ``save_pretrained`` folders (SEEDS.md 5.3c).

* :func:`export_pretrained` — the encoder of a pre-training run (``best_valid.pt``, ``best_train.pt`` or
  ``last.pt``) without the projection and label embeddings; the original's ``model_transfer.py``, which stripped
  Lightning's ``model.`` prefix (and could not run: it left out two required constructor arguments).
* :func:`export_finetuned` — the encoder inside a fine-tuned ``hubert_ser`` checkpoint (a run's ``best.pt``), for
  clustering its frames into emotional states.

Both folders also get a ``preprocessor_config.json`` (``Wav2Vec2FeatureExtractor``: 16 kHz, the waveform
normalisation the encoder was trained with) and ``serkit_export.json`` saying where the weights came from, so
``AutoModel.from_pretrained(folder)`` and ``hubert_ser(pretrained=folder)`` work offline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from serkit.core.errors import SerkitError
from serkit.core.fileio import atomic_write_json
from serkit.cpt.pretrain_config import EXPORT_CHOICES
from serkit.training.checkpoint import load_checkpoint

__all__ = ["EXPORT_CHOICES", "export_finetuned", "export_pretrained"]


def _save(
    encoder: Any, out_dir: Path, *, normalize: bool, sample_rate: int, provenance: dict[str, Any]
) -> Path:
    import transformers

    out_dir.mkdir(parents=True, exist_ok=True)
    encoder.save_pretrained(out_dir)
    layer_norm = getattr(encoder.config, "feat_extract_norm", "group") == "layer"
    transformers.Wav2Vec2FeatureExtractor(
        feature_size=1,
        sampling_rate=sample_rate,
        padding_value=0.0,
        do_normalize=normalize,
        return_attention_mask=layer_norm,
    ).save_pretrained(out_dir)
    atomic_write_json(out_dir / "serkit_export.json", provenance)  # last: marks the folder complete
    return out_dir


def export_pretrained(pretrain_dir: str | Path, out_dir: str | Path, *, which: str = "best_valid") -> Path:
    """Write the encoder of a pre-training run as a ``save_pretrained`` folder.

    ``which="best_valid"`` falls back to ``last`` when the run had no validation list.
    """
    import transformers

    if which not in EXPORT_CHOICES:
        raise ValueError(f"export: which={which!r}; use one of {', '.join(EXPORT_CHOICES)}.")
    pretrain_dir, out_dir = Path(pretrain_dir), Path(out_dir)
    if not (pretrain_dir / "done.json").is_file():
        raise SerkitError(
            f"{pretrain_dir}: the pre-training run is not finished (no done.json); run or resume "
            "`serkit hubert pretrain` first."
        )
    source = pretrain_dir / f"{which}.pt"
    if which == "best_valid" and not source.is_file():
        source = pretrain_dir / "last.pt"
    checkpoint = load_checkpoint(source, require=("state_dict", "encoder_config"))
    config_dict = dict(checkpoint["encoder_config"])
    config = transformers.AutoConfig.for_model(config_dict.pop("model_type"), **config_dict)
    encoder = transformers.AutoModel.from_config(config)
    prefix = "encoder."
    weights = {k[len(prefix) :]: v for k, v in checkpoint["state_dict"].items() if k.startswith(prefix)}
    encoder.load_state_dict(weights, strict=True)
    return _save(
        encoder,
        out_dir,
        normalize=bool(checkpoint["normalize_waveform"]),
        sample_rate=int(checkpoint["sample_rate"]),
        provenance={
            "kind": "pretrained",
            "source": str(source.resolve()),
            "init": checkpoint["init"],
            "num_classes": checkpoint["num_classes"],
            "step": checkpoint.get("step"),
            "epoch": checkpoint.get("epoch"),
        },
    )


def export_finetuned(checkpoint_path: str | Path, out_dir: str | Path) -> Path:
    """Write the encoder of a fine-tuned ``hubert_ser`` checkpoint (``best.pt``) as a ``save_pretrained`` folder.

    The model is rebuilt through the registry from the checkpoint's ``model_name`` / ``model_args`` (its
    ``pretrained`` folder must still exist), then the fine-tuned weights are loaded.
    """
    from serkit.models import create_model

    checkpoint = load_checkpoint(checkpoint_path, require=("state_dict", "model_name", "model_args"))
    args = dict(checkpoint["model_args"])
    model = create_model(checkpoint["model_name"], **args)
    model.load_state_dict(checkpoint["state_dict"], strict=True)
    encoder = getattr(model, "encoder", None)
    if encoder is None or not hasattr(encoder, "save_pretrained"):
        raise SerkitError(
            f"{checkpoint_path}: model {checkpoint['model_name']!r} has no Hugging Face encoder to "
            "export; use a hubert_ser checkpoint."
        )
    sample_rate = int(checkpoint.get("input", {}).get("sample_rate", 16000))
    return _save(
        encoder,
        Path(out_dir),
        normalize=bool(model.normalize_waveform),
        sample_rate=sample_rate,
        provenance={
            "kind": "finetuned",
            "source": str(Path(checkpoint_path).resolve()),
            "model_name": checkpoint["model_name"],
            "epoch": checkpoint.get("epoch"),
            "label_names": checkpoint.get("label_names"),
        },
    )
