"""HuBERT masked prediction: logits, loss (hand-computed), masks, batches, and resume after an interruption."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hubert_fakes import write_voiced

from serkit.cpt import pretrain as pretrain_module
from serkit.cpt.batching import bucket_batches
from serkit.cpt.features import extract_features
from serkit.cpt.kmeans import fit_kmeans
from serkit.cpt.labels import assign_labels
from serkit.cpt.pretrain import PretrainConfig, pretrain
from serkit.cpt.pretrain_model import cosine_logits, masked_prediction_loss
from serkit.data.utterance import Utterance
from serkit.models.layers import span_mask
from serkit.training.checkpoint import load_checkpoint


def test_loss_matches_a_hand_computed_case():
    embeddings = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    projected = torch.tensor([[[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]]])  # (batch 1, frames 3, final_dim 2)
    logits = cosine_logits(projected, embeddings, 0.1)
    r = 1 / math.sqrt(2)
    torch.testing.assert_close(logits, torch.tensor([[[10.0, 0.0], [10 * r, 10 * r], [0.0, 10.0]]]))
    targets, mask = torch.tensor([[0, 1, 0]]), torch.tensor([[True, False, True]])
    loss, count = masked_prediction_loss(logits, targets, mask, torch.tensor(0.5))
    # masked frames: -log softmax(10, 0)[0] and -log softmax(0, 10)[0]; penalty 10 * 0.5 * 2 masked frames
    expected = math.log(1 + math.exp(-10)) + math.log(1 + math.exp(10)) + 10.0
    assert count == 2 and loss.item() == pytest.approx(expected, rel=1e-6)
    with_unmasked, _ = masked_prediction_loss(logits, targets, mask, torch.tensor(0.5), unmasked_weight=1.0)
    assert with_unmasked.item() == pytest.approx(expected + math.log(2), rel=1e-6)  # frame 1 is a tie


def _torchaudio_logits(
    proj_x: torch.Tensor, target: torch.Tensor, label_embeddings: torch.Tensor
) -> torch.Tensor:
    """The original's logit generator (torchaudio ``_compute_logits``): target in column 0, its duplicate -inf."""
    pos = torch.index_select(label_embeddings, 0, target.long())
    negs = label_embeddings.unsqueeze(1).expand(-1, proj_x.size(0), -1)
    neg_is_pos = (pos == negs).all(-1)
    logits = F.cosine_similarity(proj_x, torch.cat([pos.unsqueeze(0), negs], dim=0), dim=-1) / 0.1
    logits[1:][neg_is_pos] = float("-inf")
    return logits.transpose(0, 1)


def test_loss_equals_the_originals_target_first_formulation():
    torch.manual_seed(0)
    projected, embeddings = torch.randn(12, 8), torch.rand(5, 8)
    targets = torch.randint(5, (12,))
    ours = F.cross_entropy(cosine_logits(projected, embeddings, 0.1), targets, reduction="sum")
    original = F.cross_entropy(
        _torchaudio_logits(projected, targets, embeddings), torch.zeros(12, dtype=torch.long), reduction="sum"
    )
    torch.testing.assert_close(ours, original)


def test_span_mask_covers_about_the_probability_and_never_padding():
    generator = torch.Generator().manual_seed(0)
    mask = span_mask(
        torch.tensor([500, 300, 5]), max_frames=500, mask_prob=0.8, mask_length=10, generator=generator
    )
    assert mask.shape == (3, 500) and not mask[1, 300:].any() and not mask[2, 5:].any()
    # HuBERT: 0.8 * L / 10 spans of 10 frames, overlapping -> roughly 1 - exp(-0.8) = 55 % of frames
    assert 0.4 < mask[0].float().mean().item() < 0.7
    assert mask[2].any()  # min_masks: even a 5-frame utterance gets masked
    again = span_mask(
        torch.tensor([500, 300, 5]),
        max_frames=500,
        mask_prob=0.8,
        mask_length=10,
        generator=torch.Generator().manual_seed(0),
    )
    assert torch.equal(mask, again)


def test_buckets_respect_the_audio_budget_and_cover_every_utterance():
    lengths = np.random.default_rng(0).integers(16000, 80000, size=200)
    batches = bucket_batches(
        lengths, max_samples=200000, num_buckets=10, generator=torch.Generator().manual_seed(0)
    )
    assert sorted(i for b in batches for i in b) == list(range(200))
    assert all(lengths[b].sum() <= 200000 or len(b) == 1 for b in batches)
    # similar lengths in a batch: the crop to the shortest loses little
    assert np.mean([lengths[b].min() / lengths[b].max() for b in batches if len(b) > 1]) > 0.8


@pytest.fixture(scope="module")
def label_lists(tiny_hubert: Path, tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("pretrain_lists")
    utterances = [
        Utterance(
            id=f"u{i}",
            path=str(write_voiced(root / f"u{i}.wav", seconds=1.0 + 0.1 * i, f0=100 + 20 * i, seed=i)),
        )
        for i in range(8)
    ]
    extract_features(utterances, root / "features", model=str(tiny_hubert), layer=1, progress=False)
    fit_kmeans(root / "features", root / "kmeans", clusters=6, ids=[f"u{i}" for i in range(6)], n_init=1)
    train = assign_labels(
        root / "features", root / "kmeans", root / "train.tsv", ids=[f"u{i}" for i in range(6)]
    )
    valid = assign_labels(root / "features", root / "kmeans", root / "valid.tsv", ids=["u6", "u7"])
    return train, valid


#: 6 training utterances of 1.0-1.5 s in 2 length buckets, 2.9 s per batch: 4 batches per epoch, so 5 updates
#: cross an epoch end.
SETTINGS = PretrainConfig(
    num_classes=6,
    max_updates=5,
    warmup_updates=2,
    seconds_per_batch=2.9,
    num_buckets=2,
    save_every=1,
    progress=False,
)


def test_resume_after_interruption_gives_the_same_weights(tiny_hubert, label_lists, tmp_path, monkeypatch):
    train, valid = label_lists
    straight = pretrain(
        SETTINGS, init=str(tiny_hubert), train_labels=train, valid_labels=valid, out_dir=tmp_path / "straight"
    )
    assert straight["steps"] == 5 and straight["epochs"] == 2

    real_save, saves = pretrain_module.save_checkpoint, []

    def save_then_die(path, payload):
        real_save(path, payload)
        saves.append(Path(path).name)
        if saves.count("state.pt") == 2:  # killed right after the resume state of update 2
            raise KeyboardInterrupt

    monkeypatch.setattr(pretrain_module, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        pretrain(
            SETTINGS,
            init=str(tiny_hubert),
            train_labels=train,
            valid_labels=valid,
            out_dir=tmp_path / "resumed",
        )
    assert not (tmp_path / "resumed" / "done.json").exists()
    assert load_checkpoint(tmp_path / "resumed" / "state.pt")["step"] == 2
    monkeypatch.setattr(pretrain_module, "save_checkpoint", real_save)
    resumed = pretrain(
        SETTINGS, init=str(tiny_hubert), train_labels=train, valid_labels=valid, out_dir=tmp_path / "resumed"
    )
    assert resumed["history"] == straight["history"]
    a = load_checkpoint(tmp_path / "straight" / "last.pt")["state_dict"]
    b = load_checkpoint(tmp_path / "resumed" / "last.pt")["state_dict"]
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)
    # the frozen front end did not move; the transformer did
    start = load_checkpoint(tmp_path / "straight" / "state.pt")
    assert start["step"] == 5
    from transformers import AutoModel

    initial = AutoModel.from_pretrained(tiny_hubert).state_dict()
    front = [k for k in initial if k.startswith("feature_extractor.")]
    assert front and all(torch.equal(initial[k], a[f"encoder.{k}"]) for k in front)
    assert not torch.equal(
        initial["encoder.layers.0.attention.q_proj.weight"],
        a["encoder.encoder.layers.0.attention.q_proj.weight"],
    )


def test_a_finished_run_is_skipped_and_another_config_refused(tiny_hubert, label_lists, tmp_path):
    train, valid = label_lists
    settings = PretrainConfig(
        num_classes=6, max_updates=1, warmup_updates=0, seconds_per_batch=2.6, progress=False
    )
    first = pretrain(settings, init=str(tiny_hubert), train_labels=train, out_dir=tmp_path / "run")
    assert (
        pretrain(settings, init=str(tiny_hubert), train_labels=train, out_dir=tmp_path / "run")["steps"]
        == first["steps"]
    )
    from serkit.core.errors import SerkitError

    with pytest.raises(SerkitError, match="another pre-training run"):
        pretrain(
            PretrainConfig(num_classes=6, max_updates=2, warmup_updates=0, progress=False),
            init=str(tiny_hubert),
            train_labels=train,
            out_dir=tmp_path / "run",
        )
    with pytest.raises(SerkitError, match="num_classes"):
        pretrain(
            PretrainConfig(num_classes=3, max_updates=1, warmup_updates=0, progress=False),
            init=str(tiny_hubert),
            train_labels=train,
            valid_labels=valid,
            out_dir=tmp_path / "small",
        )
