"""Label smoothing, weight averaging (EMA), SpecAugment and the one-cycle / cosine schedules (issue 16)."""

from __future__ import annotations

import doctest
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from tiny_runs import tiny_corpus, tiny_recipe

from serkit.config import ConfigError, TrainConfig
from serkit.models import create_model
from serkit.models.losses import cross_entropy, focal_loss, mixup, multilabel_bce
from serkit.recipe import load_experiment
from serkit.training import engine, regularisers
from serkit.training.augment_features import SpecAugment
from serkit.training.averaging import WeightAverage
from serkit.training.checkpoint import load_checkpoint
from serkit.training.data import ChunkSet, utterance_logits
from serkit.training.engine import train_one
from serkit.training.optim import build_optimizer, build_scheduler

LABELS = ["neutral", "happy", "sad", "angry"]
META = {"model_name": "cnn_tiny", "model_args": {"num_classes": 4, "num_features": 5}, "label_names": LABELS}
CONFIG = TrainConfig(
    epochs=4, batch_size=8, eval_batch_size=16, lr=1e-2, progress=False, threads=1, precision="no"
)


def _chunk_set(num_utterances: int, seed: int) -> ChunkSet:
    """Two chunks of 6-11 frames x 5 features per utterance; the class shifts the mean."""
    rng = np.random.default_rng(seed)
    targets = np.arange(num_utterances) % 4
    chunks = [
        (rng.normal(size=(int(rng.integers(6, 12)), 5)) + t).astype(np.float32)
        for t in targets
        for _ in (0, 1)
    ]
    owner = np.repeat(np.arange(num_utterances), 2)
    return ChunkSet(chunks, owner, targets, [f"u{i}" for i in range(num_utterances)])


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model("cnn_tiny", num_classes=4, num_features=5)


def _train(config: TrainConfig, run_dir: Path, seed: int = 3):
    train, val = _chunk_set(24, 0), _chunk_set(8, 1)
    return train_one(
        _model(),
        train,
        val,
        config=config,
        seed=seed,
        run_dir=run_dir,
        label_names=LABELS,
        checkpoint_meta=META,
    )


# ------------------------------------------------------------------------------------------------ label smoothing


def test_label_smoothing_matches_the_hand_value():
    logits, target, eps = torch.tensor([[2.0, 0.0, -1.0]]), torch.tensor([0]), 0.3
    log_p = torch.log_softmax(logits, dim=1)[0]
    smoothed = torch.tensor([1 - eps + eps / 3, eps / 3, eps / 3])  # q = (1 - eps) one_hot + eps / K
    hand = -(smoothed * log_p).sum()
    assert cross_entropy(logits, target, label_smoothing=eps) == pytest.approx(float(hand), abs=1e-6)
    # the change vs no smoothing: eps * (mean over classes of -log p_k  -  (-log p_true))
    change = eps * (-log_p.mean() + log_p[0])
    assert cross_entropy(logits, target, label_smoothing=eps) - cross_entropy(
        logits, target
    ) == pytest.approx(float(change), abs=1e-6)
    # focal loss at gamma 0 is smoothed cross-entropy; at gamma 2 it is the same weighting of every class term
    assert focal_loss(logits, target, gamma=0.0, label_smoothing=eps) == pytest.approx(float(hand), abs=1e-6)
    p = log_p.exp()
    focal_hand = -(smoothed * (1 - p) ** 2 * log_p).sum()
    assert focal_loss(logits, target, gamma=2.0, label_smoothing=eps) == pytest.approx(
        float(focal_hand), abs=1e-6
    )


def test_bce_smooths_each_label_towards_one_half():
    logits, targets = torch.tensor([[1.5, -0.5]]), torch.tensor([[1.0, 0.0]])
    hand = F.binary_cross_entropy_with_logits(logits, torch.tensor([[0.9, 0.1]]))
    assert multilabel_bce(logits, targets, label_smoothing=0.2) == pytest.approx(float(hand), abs=1e-6)


def test_mixup_loss_honours_label_smoothing():
    features, targets = torch.randn(6, 4, 3), torch.tensor([0, 1, 2, 3, 0, 1])
    mixed = mixup(features, targets, 0.5, torch.Generator().manual_seed(0))
    logits = torch.randn(6, 4)
    expected = mixed.lam * F.cross_entropy(logits, targets, label_smoothing=0.1) + (1 - mixed.lam) * (
        F.cross_entropy(logits, mixed.targets_b, label_smoothing=0.1)
    )
    assert mixed.loss(cross_entropy, logits, label_smoothing=0.1) == pytest.approx(float(expected), abs=1e-6)


def test_the_loop_passes_label_smoothing_to_the_loss(tmp_path: Path, monkeypatch):
    seen = []

    def spy(logits, targets, **kwargs):
        seen.append(kwargs["label_smoothing"])
        return cross_entropy(logits, targets, **kwargs)

    monkeypatch.setattr(engine.LOSSES, "get", lambda name: spy)
    _train(replace(CONFIG, epochs=1, label_smoothing=0.15, mixup_alpha=0.4), tmp_path)
    assert seen and set(seen) == {0.15}


# ------------------------------------------------------------------------------------------------ EMA


def test_weight_average_is_the_ema_of_the_weights():
    model = torch.nn.Linear(2, 1)
    average = WeightAverage(model, 0.9)
    steps = []
    for value in (1.0, 3.0, -2.0):
        with torch.no_grad():
            model.weight.fill_(value)
        average.update()
        steps.append(value)
    hand = (steps[0] * 0.9 + steps[1] * 0.1) * 0.9 + steps[2] * 0.1  # the first update copies the weights
    assert torch.allclose(average.evaluated().weight, torch.full((1, 2), hand))
    assert WeightAverage(model, 0.0).evaluated() is model and WeightAverage(model, 0.0).state_dict() == {}
    with pytest.raises(ValueError, match="ema_decay"):
        WeightAverage(model, 1.0)


def test_ema_weights_are_validated_and_saved_in_best(tmp_path: Path):
    config = replace(CONFIG, epochs=3, ema_decay=0.9, select_on="last")
    outcome = _train(config, tmp_path)
    last, best = load_checkpoint(tmp_path / "last.pt"), load_checkpoint(tmp_path / "best.pt")
    ema = {k.removeprefix("module."): v for k, v in last["ema"].items() if k.startswith("module.")}
    assert set(ema) == set(best["state_dict"]) == set(last["model"])
    assert all(torch.equal(best["state_dict"][k], ema[k]) for k in ema)  # best.pt holds the average
    assert any(not torch.equal(ema[k], last["model"][k]) for k in ema)  # which is not the raw weights
    # the last epoch's validation loss is that of the averaged weights
    model = create_model("cnn_tiny", num_classes=4, num_features=5)
    model.load_state_dict(best["state_dict"])
    val = _chunk_set(8, 1)
    logits, _ = utterance_logits(model, val, batch_size=16)
    loss = F.cross_entropy(logits, torch.from_numpy(val.targets)).item()
    assert outcome.history[-1]["val_loss"] == pytest.approx(loss, rel=1e-5)


def test_resume_with_every_option_on_is_identical_to_an_uninterrupted_run(tmp_path: Path, monkeypatch):
    config = replace(
        CONFIG,
        ema_decay=0.8,
        label_smoothing=0.1,
        mixup_alpha=0.3,
        spec_time_masks=2,
        spec_time_width=0.3,
        spec_freq_masks=1,
        spec_freq_width=2,
        scheduler="one_cycle",
        warmup=0.3,
    )
    full = _train(config, tmp_path / "full")
    real_save = engine.save_checkpoint

    def killing_save(
        path, payload
    ):  # a kill right after epoch 2's last.pt (the same recipe, unlike epochs=2)
        real_save(path, payload)
        if Path(path).name == "last.pt" and payload["epoch"] == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(engine, "save_checkpoint", killing_save)
    with pytest.raises(KeyboardInterrupt):
        _train(config, tmp_path / "resumed")
    monkeypatch.setattr(engine, "save_checkpoint", real_save)
    resumed = _train(config, tmp_path / "resumed")

    def kept(history):
        return [{k: v for k, v in r.items() if k not in engine.TIMING_KEYS} for r in history]

    assert kept(resumed.history) == kept(full.history)
    for name, key in (("last.pt", "model"), ("last.pt", "ema"), ("best.pt", "state_dict")):
        a, b = (load_checkpoint(tmp_path / run / name)[key] for run in ("full", "resumed"))
        assert all(torch.equal(a[k], b[k]) for k in a), (name, key)
    assert full.history[-1]["lr"] == pytest.approx(1e-2 / 25e4)  # one_cycle ran to its end, no extra step


def test_spec_augment_changes_training_and_stays_deterministic(tmp_path: Path):
    masked = replace(
        CONFIG, epochs=1, spec_time_masks=2, spec_time_width=0.5, spec_freq_masks=1, spec_freq_width=2
    )
    a, b = _train(masked, tmp_path / "a"), _train(masked, tmp_path / "b")
    plain = _train(replace(masked, spec_time_masks=0, spec_freq_masks=0), tmp_path / "plain")
    assert a.history[0]["train_loss"] == b.history[0]["train_loss"] != plain.history[0]["train_loss"]


# ------------------------------------------------------------------------------------------------ SpecAugment


def _padded_batch(lengths: list[int], trailing: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """Features > 0 on valid frames, -7 on padding (a mask landing there would show): (batch, frames, *trailing)."""
    features = torch.full((len(lengths), max(lengths), *trailing), -7.0)
    for row, length in enumerate(lengths):
        features[row, :length] = torch.rand(length, *trailing) + 0.5
    return features, torch.tensor(lengths)


@pytest.mark.parametrize("trailing", [(6,), (3, 6)], ids=["frames_x_features", "frames_x_channels_x_bins"])
def test_time_masks_zero_whole_valid_frames(trailing):
    lengths = [40, 25, 12, 40]
    features, lens = _padded_batch(lengths, trailing)
    out = SpecAugment(time_masks=2, time_width=0.2)(features, lens, torch.Generator().manual_seed(0))
    zero = (out == 0).flatten(2)  # (batch, frames, rest)
    assert torch.equal(
        zero.all(2), zero.any(2)
    )  # a frame is zeroed whole (every channel and bin) or not at all
    for row, length in enumerate(lengths):
        frames = zero[row, :length].all(1)
        assert (
            int(frames.sum()) <= 2 * int(0.2 * length) and not zero[row, length:].any()
        )  # valid frames only
        assert torch.equal(
            out[row, :length][~frames], features[row, :length][~frames]
        )  # the rest is untouched
    assert zero[:, :, 0].any()


@pytest.mark.parametrize("trailing", [(6,), (3, 6)], ids=["frames_x_features", "frames_x_channels_x_bins"])
def test_freq_masks_zero_whole_bins_over_valid_frames(trailing):
    lengths = [30, 10, 20]
    features, lens = _padded_batch(lengths, trailing)
    out = SpecAugment(freq_masks=2, freq_width=2)(features, lens, torch.Generator().manual_seed(1))
    for row, length in enumerate(lengths):
        zero = (out[row, :length] == 0).reshape(length, -1, trailing[-1])  # (frames, channels, bins)
        assert torch.equal(
            zero.all(0).all(0), zero.any(0).any(0)
        )  # a bin is zeroed in every frame and channel
        assert int(zero.all(0).all(0).sum()) <= 4
    assert (out[:, :10] == 0).any()


def test_dcnn_images_are_masked_along_their_width_and_height():
    features = torch.rand(2, 3, 3, 16, 20) + 0.5  # (batch, segments, channels, n_mels, frames)
    lengths = torch.tensor([3, 3])
    out = SpecAugment(time_masks=1, time_width=0.25, freq_masks=1, freq_width=3)(
        features, lengths, torch.Generator().manual_seed(2)
    )
    zero = out == 0
    columns = zero.all(dim=(1, 2, 3))  # (batch, frames): a whole image column in every segment and channel
    rows = zero.all(dim=(1, 2, 4))  # (batch, n_mels)
    rebuilt = columns[:, None, None, None, :] | rows[:, None, None, :, None]
    assert torch.equal(zero, rebuilt.expand_as(zero))
    assert int(columns.sum(1).max()) <= 5 and int(rows.sum(1).max()) <= 3 and zero.any()


def test_spec_augment_is_deterministic_and_off_by_default():
    features, lengths = _padded_batch([20, 15], (8,))
    augment = SpecAugment(time_masks=2, freq_masks=2, freq_width=3)
    first = augment(features, lengths, torch.Generator().manual_seed(5))
    assert torch.equal(first, augment(features, lengths, torch.Generator().manual_seed(5)))
    assert not torch.equal(first, augment(features, lengths, torch.Generator().manual_seed(6)))
    generator = torch.Generator().manual_seed(5)
    state = generator.get_state()
    assert SpecAugment.from_config(TrainConfig())(features, lengths, generator) is features
    assert torch.equal(generator.get_state(), state)  # off: no draw, so other draws are unchanged


def test_spec_augment_refuses_waveforms():
    with pytest.raises(ValueError, match="spec_time_masks"):
        SpecAugment(time_masks=1)(torch.ones(2, 100), torch.tensor([100, 80]), torch.Generator())


# ------------------------------------------------------------------------------------------------ schedules


def _rates(name: str, **options) -> tuple[list[float], float]:
    optimizer = build_optimizer("adam", torch.nn.Linear(2, 2).parameters(), lr=1.0)
    schedule = build_scheduler(name, optimizer, epochs=2, steps_per_epoch=10, **options)
    rates = []
    for _ in range(20):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step("step")
        schedule.step("epoch")  # per-step schedules ignore it
    return rates, optimizer.param_groups[0]["lr"]


def test_one_cycle_warms_up_to_the_rate_then_anneals():
    rates, final = _rates("one_cycle", warmup=0.25)
    peak = int(np.argmax(rates))
    assert rates[0] == pytest.approx(1 / 25) and 0.95 < max(rates) <= 1.0 and peak in (4, 5)
    assert all(a < b for a, b in zip(rates[:peak], rates[1 : peak + 1]))
    assert all(a > b for a, b in zip(rates[peak:-1], rates[peak + 1 :]))
    assert final == pytest.approx(1 / 25e4)


def test_cosine_anneals_per_step_after_warmup():
    rates, final = _rates("cosine", warmup=0.2)
    assert rates[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert rates[5] == pytest.approx(0.5 * (1 + np.cos(np.pi / 16)))
    assert all(a > b for a, b in zip(rates[4:-1], rates[5:])) and final == pytest.approx(0.0, abs=1e-12)
    plain, _ = _rates("cosine", warmup=0.0)
    assert plain[0] == 1.0 and plain[10] == pytest.approx(0.5)


# ------------------------------------------------------------------------------------------------ config, report


@pytest.mark.parametrize(
    "override",
    [
        "train.label_smoothing=1.0",
        "train.label_smoothing=-0.1",
        "train.ema_decay=1.0",
        "train.ema_decay=-0.5",
        "train.spec_time_masks=-1",
        "train.spec_time_width=0",
        "train.spec_time_width=1.5",
        "train.spec_freq_masks=-2",
        "train.spec_freq_width=0",
    ],
)
def test_bad_values_are_refused_naming_the_key(override):
    key = override.split("=")[0]
    with pytest.raises(ConfigError, match=rf"{key}=.* is out of range: "):
        load_experiment(base={}, overrides=[override])


def test_the_report_names_the_regularisers(tmp_path: Path):
    assert doctest.testmod(regularisers).failed == 0
    recipe = tiny_recipe(
        tiny_corpus(tmp_path / "corpus"),
        train={
            "epochs": 1,
            "label_smoothing": 0.1,
            "ema_decay": 0.99,
            "spec_time_masks": 2,
            "spec_freq_masks": 1,
        },
        seeds=[0],
    )
    from serkit.training.runner import run_experiment

    summary = run_experiment(load_experiment(base=recipe), tmp_path / "run")
    assert (
        "regularisation: label smoothing 0.1, EMA 0.99, SpecAugment 2x10% time / 1x8 bins" in summary["notes"]
    )
    plain = tiny_recipe(tmp_path / "corpus", train={"epochs": 1}, seeds=[0])
    assert not regularisers.regularisation_note(load_experiment(base=plain).train)
