from __future__ import annotations

import io
import json
import logging
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from serkit.config import TrainConfig
from serkit.models import create_model
from serkit.models.base import SERModel
from serkit.training.checkpoint import load_checkpoint
from serkit.training.data import ChunkSet, utterance_logits
from serkit.training.engine import train_one
from serkit.training.strategies import FoldSets, PlateauReload, choose_strategy

LABELS = ["neutral", "happy", "sad", "angry"]


def _chunk_set(num_utterances: int, seed: int, chunks_per_utterance: int = 2) -> ChunkSet:
    """Learnable toy data: the class shifts the mean of the features."""
    rng = np.random.default_rng(seed)
    targets = np.arange(num_utterances) % 4
    chunks, owner = [], []
    for utt, target in enumerate(targets):
        for _ in range(chunks_per_utterance):
            frames = int(rng.integers(6, 12))
            chunks.append((rng.normal(size=(frames, 5)) + target).astype(np.float32))
            owner.append(utt)
    return ChunkSet(chunks, np.array(owner), targets, [f"u{i}" for i in range(num_utterances)])


CONFIG = TrainConfig(
    epochs=4,
    batch_size=8,
    eval_batch_size=16,
    lr=1e-2,
    progress=False,
    threads=1,
    mixup_alpha=0.5,
    scheduler="exponential",
    gamma=0.9,
)
META = {"model_name": "cnn_tiny", "model_args": {"num_classes": 4, "num_features": 5}, "label_names": LABELS}


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model("cnn_tiny", num_classes=4, num_features=5)


def test_training_learns_and_writes_best_checkpoint(tmp_path: Path):
    train, val = _chunk_set(40, 0), _chunk_set(12, 1)
    outcome = train_one(
        _model(),
        train,
        val,
        config=replace(CONFIG, epochs=6),
        seed=0,
        run_dir=tmp_path,
        label_names=LABELS,
        checkpoint_meta=META,
    )
    assert len(outcome.history) == 6 and 1 <= outcome.best_epoch <= 6
    assert outcome.history[-1]["train_loss"] < outcome.history[0]["train_loss"]
    best = load_checkpoint(tmp_path / "best.pt", require=("state_dict", "model_name", "label_names"))
    model = create_model("cnn_tiny", num_classes=4, num_features=5)
    model.load_state_dict(best["state_dict"])
    logits, _ = utterance_logits(model, val, batch_size=4)
    accuracy = (logits.argmax(1).numpy() == val.targets).mean()
    assert accuracy > 0.5  # chance is 0.25; the class is in the feature mean
    assert best["epoch"] == outcome.best_epoch


def test_interrupted_run_resumes_to_identical_weights(tmp_path: Path):
    train, val = _chunk_set(24, 0), _chunk_set(8, 1)
    full = train_one(
        _model(),
        train,
        val,
        config=CONFIG,
        seed=3,
        run_dir=tmp_path / "full",
        label_names=LABELS,
        checkpoint_meta=META,
    )
    # "kill" after 2 epochs: run 2 epochs, then rerun with the full budget in the same folder
    train_one(
        _model(),
        train,
        val,
        config=replace(CONFIG, epochs=2),
        seed=3,
        run_dir=tmp_path / "resumed",
        label_names=LABELS,
        checkpoint_meta=META,
    )
    resumed = train_one(
        _model(),
        train,
        val,
        config=CONFIG,
        seed=3,
        run_dir=tmp_path / "resumed",
        label_names=LABELS,
        checkpoint_meta=META,
    )
    assert [h["train_loss"] for h in resumed.history] == pytest.approx(
        [h["train_loss"] for h in full.history]
    )
    a = load_checkpoint(tmp_path / "full" / "last.pt")["model"]
    b = load_checkpoint(tmp_path / "resumed" / "last.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_select_on_validation_needs_a_validation_part(tmp_path: Path):
    empty = ChunkSet([], np.zeros(0, dtype=int), np.zeros(0, dtype=int), [])
    with pytest.raises(ValueError, match="select_on"):
        train_one(
            _model(),
            _chunk_set(8, 0),
            empty,
            config=CONFIG,
            seed=0,
            run_dir=tmp_path,
            label_names=LABELS,
            checkpoint_meta=META,
        )


def test_early_stopping_and_plateau_reload(tmp_path: Path):
    train, val = _chunk_set(16, 0), _chunk_set(8, 1)
    config = replace(
        CONFIG,
        epochs=30,
        lr=1e-30,
        mixup_alpha=0.0,
        scheduler="plateau_reload",
        early_stopping=2,
        plateau_decays=2,
        gamma=0.2,
    )  # lr ~0 (0 is refused): nothing improves after epoch 1
    strategy = choose_strategy(SERModel, config)
    assert isinstance(strategy, PlateauReload)
    sets = FoldSets(train, val, val)
    outcome = strategy.train(
        _model(), sets, config=config, seed=0, run_dir=tmp_path, label_names=LABELS, checkpoint_meta=META
    ).outcome
    # epoch 1 best, epochs 2-3 reload and decay, epochs 4-5 count patience, then stop
    assert outcome.stopped_early and len(outcome.history) == 5 and outcome.best_epoch == 1
    history = json.loads(json.dumps(outcome.history))
    assert history[-1]["lr"] == pytest.approx(1e-30 * 0.2**2)  # decayed twice after reloads


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal_and_one_log_line_per_epoch(
    tmp_path: Path, capfd, caplog, monkeypatch
):
    train, val = _chunk_set(16, 0), _chunk_set(8, 1)
    config = replace(CONFIG, epochs=3, progress=True)
    caplog.set_level(logging.INFO, logger="serkit.training.engine")
    train_one(
        _model(),
        train,
        val,
        config=config,
        seed=0,
        run_dir=tmp_path / "log",
        label_names=LABELS,
        checkpoint_meta=META,
    )
    captured = capfd.readouterr()
    assert "\r" not in captured.err and "it/s" not in captured.err  # stderr is captured: no bar
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("epoch")]
    assert [line.split(":")[0] for line in lines] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert all("train_loss=" in line and "val_ua=" in line and "time=" in line for line in lines)

    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    train_one(
        _model(),
        train,
        val,
        config=replace(config, epochs=1),
        seed=0,
        run_dir=tmp_path / "tty",
        label_names=LABELS,
        checkpoint_meta=META,
    )
    assert "\r" in terminal.getvalue() and "epoch 1/1" in terminal.getvalue()


def test_progress_enabled(monkeypatch):
    from serkit.core.progress import progress_enabled

    monkeypatch.setattr(sys, "stderr", io.StringIO())  # a log file, CI, nohup
    assert not progress_enabled(True) and not progress_enabled(False)
    monkeypatch.setattr(sys, "stderr", _Terminal())
    assert progress_enabled(True) and not progress_enabled(False)
    monkeypatch.setattr(sys, "stderr", None)  # pythonw: no stderr at all
    assert not progress_enabled(True)
