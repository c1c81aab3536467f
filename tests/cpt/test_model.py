"""The fine-tuning model ``hubert_ser``: loading, waveform normalisation, frozen front end, masking, the runner."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers
from hubert_fakes import TINY_HUBERT, save_tiny_hubert

from serkit.cli import main
from serkit.models import create_model
from serkit.models.hubert import normalize_waveforms

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "cpt_hubert" / "iemocap_loso_hubert.yaml"


def test_normalisation_matches_the_feature_extractor_on_a_padded_batch():
    """Each waveform as if alone (the extractor with an attention mask; without one it would count the padding)."""
    rng = np.random.default_rng(0)
    waves = [rng.standard_normal(n).astype(np.float32) * 0.1 + 0.3 for n in (800, 500)]
    extractor = transformers.Wav2Vec2FeatureExtractor(do_normalize=True)
    expected = extractor(
        waves, sampling_rate=16000, padding=True, return_attention_mask=True, return_tensors="pt"
    ).input_values
    batch = torch.zeros(2, 800)
    batch[0], batch[1, :500] = torch.from_numpy(waves[0]), torch.from_numpy(waves[1])
    torch.testing.assert_close(
        normalize_waveforms(batch, torch.tensor([800, 500])), expected, rtol=1e-4, atol=1e-5
    )


def test_loads_a_folder_follows_its_feature_extractor_and_freezes_the_front_end(tiny_hubert, tmp_path):
    model = create_model("hubert_ser", num_classes=4, pretrained=str(tiny_hubert))
    assert model.normalize_waveform is True and model.dropout.p == pytest.approx(0.1)  # config.final_dropout
    loaded = transformers.AutoModel.from_pretrained(tiny_hubert).state_dict()
    for key, value in model.encoder.state_dict().items():
        if key in loaded:
            torch.testing.assert_close(value, loaded[key], rtol=0, atol=0)
    waveforms, lengths = torch.randn(2, 16000), torch.tensor([16000, 12000])
    model.train()
    torch.nn.functional.cross_entropy(model(waveforms, lengths), torch.tensor([0, 3])).backward()
    front = list(model.encoder.feature_extractor.parameters())
    assert front and all(not p.requires_grad and p.grad is None for p in front)
    assert model.encoder.encoder.layers[0].attention.q_proj.weight.grad is not None

    plain = save_tiny_hubert(tmp_path / "plain")
    transformers.Wav2Vec2FeatureExtractor(do_normalize=False).save_pretrained(plain)
    assert create_model("hubert_ser", num_classes=4, pretrained=str(plain)).normalize_waveform is False
    with pytest.raises(ValueError, match="not both"):
        create_model("hubert_ser", num_classes=4, pretrained=str(plain), encoder_config=TINY_HUBERT)


def test_time_masking_only_while_training(tiny_hubert):
    model = create_model("hubert_ser", num_classes=4, pretrained=str(tiny_hubert), dropout=0.0)
    seen = []
    model.encoder.register_forward_pre_hook(
        lambda _m, _a, kwargs: seen.append(kwargs["mask_time_indices"]), with_kwargs=True
    )
    waveforms, lengths = torch.randn(2, 8000), torch.tensor([8000, 6000])
    model.eval()
    with torch.no_grad():
        first, second = model(waveforms, lengths), model(waveforms, lengths)
    torch.testing.assert_close(first, second, rtol=0, atol=0)
    model.train()
    model(waveforms, lengths)
    assert seen[0] is None and seen[1] is None
    mask = seen[2]
    frames = model.frame_lengths(lengths)
    assert mask.any() and not mask[1, int(frames[1]) :].any()  # never in the padding


def test_fine_tuning_recipe_runs_in_the_runner(tiny_hubert, iemocap5, tmp_path):
    out = tmp_path / "run"
    overrides = [
        f"corpus.root={iemocap5}",
        f"model.args.pretrained={tiny_hubert}",
        "protocol.folds=[0]",
        "train.epochs=1",
        "train.batch_size=8",
        'train.precision="no"',
        "train.progress=false",
        "seeds=[0]",
        "input.max_seconds=1.0",
    ]
    assert main(["train", str(RECIPE), "--out", str(out), *[x for o in overrides for x in ("--set", o)]]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_runs"] == 1 and summary["selection"] == "validation" and summary["speaker_independent"]
    assert summary["label_names"] == ["happy", "neutral", "sad", "angry"]
    from serkit.training.checkpoint import load_checkpoint

    best = load_checkpoint(out / "runs" / "Ses01" / "seed0" / "best.pt")
    assert best["model_name"] == "hubert_ser" and best["model_args"]["pretrained"] == str(tiny_hubert)
