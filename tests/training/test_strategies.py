"""Training strategies: chosen once from the model's declared capability and the config, each writes best.pt."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from serkit.config import TrainConfig
from serkit.models import create_model, list_models, model_class
from serkit.training.checkpoint import load_checkpoint
from serkit.training.data import ChunkSet
from serkit.training.optim import SCHEDULERS
from serkit.training.strategies import ClosedForm, FoldSets, GradientDescent, PlateauReload, choose_strategy

LABELS = ["neutral", "happy", "sad", "angry"]
CONFIG = TrainConfig(epochs=2, batch_size=8, eval_batch_size=16, lr=1e-2, progress=False, threads=1)


def _chunk_set(num_utterances: int, seed: int, num_features: int = 5) -> ChunkSet:
    rng = np.random.default_rng(seed)
    targets = np.arange(num_utterances) % 4
    chunks = [(rng.normal(size=(8, num_features)) + t).astype(np.float32) for t in targets]
    return ChunkSet(chunks, np.arange(num_utterances), targets, [f"u{i}" for i in range(num_utterances)])


@pytest.mark.parametrize("name", list_models())
def test_strategy_follows_the_declared_capability(name):
    cls = model_class(name)
    expected = ClosedForm if cls.fits_in_closed_form else GradientDescent
    assert type(choose_strategy(cls, CONFIG)) is expected


def test_plateau_reload_is_a_strategy_not_a_scheduler():
    strategy = choose_strategy(
        model_class("mat"), replace(CONFIG, scheduler="plateau_reload", gamma=0.5, plateau_decays=3)
    )
    assert isinstance(strategy, PlateauReload) and strategy.keeps_optimizer
    assert (strategy.lr, strategy.gamma, strategy.max_decays) == (CONFIG.lr, 0.5, 3)
    assert strategy.engine_config(replace(CONFIG, scheduler="plateau_reload")).scheduler == "none"
    assert "plateau_reload" not in SCHEDULERS
    # a closed-form model ignores the scheduler, as before
    assert isinstance(
        choose_strategy(model_class("linear_svm"), replace(CONFIG, scheduler="plateau_reload")), ClosedForm
    )
    plain = choose_strategy(model_class("cnn_tiny"), CONFIG)
    assert not plain.keeps_optimizer and plain.after_plateau(None, None, Path("x"), 0) is None


def test_plateau_reload_reloads_weights_and_optimizer_and_decays(tmp_path: Path):
    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    torch.save({"state_dict": model.state_dict(), "optimizer": optimizer.state_dict()}, tmp_path / "best.pt")
    saved = model.weight.detach().clone()
    with torch.no_grad():
        model.weight.add_(1.0)
    rule = PlateauReload(lr=0.1, gamma=0.5, max_decays=2)
    assert rule.after_plateau(model, optimizer, tmp_path / "best.pt", 0) == 1
    assert torch.equal(model.weight, saved) and optimizer.param_groups[0]["lr"] == pytest.approx(0.05)
    assert rule.after_plateau(model, optimizer, tmp_path / "best.pt", 1) == 2
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.025)
    assert rule.after_plateau(model, optimizer, tmp_path / "best.pt", 2) is None  # then patience counts


def test_closed_form_fits_once_and_writes_best_and_fit_json(tmp_path: Path):
    model = create_model("linear_svm", num_classes=4, num_features=5)
    sets = FoldSets(_chunk_set(24, 0), _chunk_set(8, 1), _chunk_set(8, 2))
    meta = {"model_name": "linear_svm", "model_args": model.model_args, "label_names": LABELS}
    trained = choose_strategy(type(model), CONFIG).train(
        model, sets, config=CONFIG, seed=0, run_dir=tmp_path, label_names=LABELS, checkpoint_meta=meta
    )
    assert trained.used_validation and trained.outcome.best_epoch == 1 and len(trained.outcome.history) == 1
    fit = json.loads((tmp_path / "fit.json").read_text())
    assert fit["selection"] == "validation_ua"
    best = load_checkpoint(tmp_path / "best.pt", require=("state_dict", "model_name"))
    assert best["epoch"] == 1 and torch.equal(best["state_dict"]["head.weight"], model.head.weight)
    # without a validation part (select_on: last) the fixed C is used and no validation chose anything
    empty = ChunkSet([], np.zeros(0, dtype=int), np.zeros(0, dtype=int), [])
    again = ClosedForm().train(
        create_model("linear_svm", num_classes=4, num_features=5),
        replace(sets, val=empty),
        config=replace(CONFIG, select_on="last"),
        seed=0,
        run_dir=tmp_path / "last",
        label_names=LABELS,
        checkpoint_meta=meta,
    )
    assert not again.used_validation
    assert json.loads((tmp_path / "last" / "fit.json").read_text())["selection"] == "fixed_c"


def test_gradient_descent_trains_with_the_engine(tmp_path: Path):
    torch.manual_seed(0)
    model = create_model("cnn_tiny", num_classes=4, num_features=5)
    sets = FoldSets(_chunk_set(16, 0), _chunk_set(8, 1), _chunk_set(8, 2))
    meta = {"model_name": "cnn_tiny", "model_args": model.model_args, "label_names": LABELS}
    trained = GradientDescent().train(
        model, sets, config=CONFIG, seed=0, run_dir=tmp_path, label_names=LABELS, checkpoint_meta=meta
    )
    assert trained.used_validation and len(trained.outcome.history) == 2
    assert "optimizer" not in load_checkpoint(tmp_path / "best.pt")  # only plateau-reload keeps it
