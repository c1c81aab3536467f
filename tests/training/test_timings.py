"""Timings everywhere: per-epoch times in history.json, per-run timing.json, the summary's time line, t-SNE off."""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_runs import tiny_corpus, tiny_recipe

from serkit.config import TrainConfig
from serkit.models import create_model
from serkit.recipe import load_experiment
from serkit.training import strategies
from serkit.training.data import ChunkSet
from serkit.training.engine import TIMING_KEYS, train_one
from serkit.training.runner import run_experiment
from serkit.training.strategies import ClosedForm, FoldSets

LABELS = ["neutral", "happy", "sad", "angry"]
CONFIG = TrainConfig(epochs=2, batch_size=8, eval_batch_size=16, lr=1e-2, progress=False, threads=1)


def _chunk_set(num_utterances: int, seed: int, chunks_per_utterance: int = 2) -> ChunkSet:
    rng = np.random.default_rng(seed)
    targets = np.arange(num_utterances) % 4
    chunks = [
        (rng.normal(size=(8, 5)) + t).astype(np.float32) for t in targets for _ in range(chunks_per_utterance)
    ]
    owner = np.repeat(np.arange(num_utterances), chunks_per_utterance)
    return ChunkSet(chunks, owner, targets, [f"u{i}" for i in range(num_utterances)])


def _meta(model) -> dict:
    return {"model_name": "cnn_tiny", "model_args": model.model_args, "label_names": LABELS}


def test_every_epoch_record_has_its_times_and_items(tmp_path: Path, caplog):
    train, val = _chunk_set(12, 0, chunks_per_utterance=3), _chunk_set(8, 1)
    torch.manual_seed(0)
    model = create_model("cnn_tiny", num_classes=4, num_features=5)
    caplog.set_level(logging.INFO, logger="serkit.training.engine")
    outcome = train_one(
        model,
        train,
        val,
        config=replace(CONFIG, epochs=3),
        seed=0,
        run_dir=tmp_path,
        label_names=LABELS,
        checkpoint_meta=_meta(model),
    )
    assert len(outcome.history) == 3
    for record in outcome.history:
        assert set(TIMING_KEYS) <= set(record)
        assert record["train_seconds"] > 0 and record["eval_seconds"] > 0
        assert record["train_items"] == len(train) == 36  # every training chunk once per epoch
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("epoch")]
    assert len(lines) == 3 and all(
        "train=" in line and "eval=" in line and "36 items" in line for line in lines
    )
    assert all("train_seconds" not in line for line in lines)  # the times appear once, as train= / eval=


def test_timings_do_not_change_the_numbers(tmp_path: Path):
    """Two identical trainings differ only in the measured keys of their histories."""
    train, val = _chunk_set(12, 0), _chunk_set(8, 1)
    histories = []
    for name in ("a", "b"):
        torch.manual_seed(0)
        model = create_model("cnn_tiny", num_classes=4, num_features=5)
        outcome = train_one(
            model,
            train,
            val,
            config=CONFIG,
            seed=0,
            run_dir=tmp_path / name,
            label_names=LABELS,
            checkpoint_meta=_meta(model),
        )
        histories.append([{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in outcome.history])
    assert histories[0] == histories[1]


def test_closed_form_history_has_the_fit_time(tmp_path: Path):
    model = create_model("linear_svm", num_classes=4, num_features=5)
    sets = FoldSets(_chunk_set(24, 0), _chunk_set(8, 1), _chunk_set(8, 2))
    meta = {"model_name": "linear_svm", "model_args": model.model_args, "label_names": LABELS}
    trained = ClosedForm().train(
        model, sets, config=CONFIG, seed=0, run_dir=tmp_path, label_names=LABELS, checkpoint_meta=meta
    )
    (record,) = trained.outcome.history
    assert record["train_seconds"] > 0 and record["eval_seconds"] == 0.0
    assert record["train_items"] == len(sets.train) == 48


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return tiny_corpus(tmp_path_factory.mktemp("synthetic"))


def test_runs_record_wall_and_cpu_time_and_the_summary_adds_them_up(
    corpus: Path, tmp_path: Path, monkeypatch
):
    seen: dict[str, int] = {}  # run folder -> training chunks given to the loop
    real_train_one = strategies.train_one

    def counting_train_one(model, train_set, *args, run_dir, **kwargs):
        seen[Path(run_dir).parent.name + "/" + Path(run_dir).name] = len(train_set)
        return real_train_one(model, train_set, *args, run_dir=run_dir, **kwargs)

    monkeypatch.setattr(strategies, "train_one", counting_train_one)
    recipe = tiny_recipe(corpus, train={"epochs": 2}, runner={"jobs": 1})  # in this process: the spy sees it
    recipe["seeds"] = [0]
    summary = run_experiment(load_experiment(base=recipe), tmp_path)
    assert summary["n_runs"] == 2 and len(seen) == 2
    walls, cpus = [], []
    for run in summary["runs"]:
        run_dir = tmp_path / "runs" / run["fold"] / f"seed{run['seed']}"
        timing = json.loads((run_dir / "timing.json").read_text())
        assert timing["wall_seconds"] > 0 and timing["cpu_seconds"] > 0
        assert timing["wall_seconds"] >= timing["train_seconds"] + timing["eval_seconds"] - 0.01
        assert timing["train_seconds"] > 0 and timing["eval_seconds"] > 0 and timing["final_eval_seconds"] > 0
        assert run["wall_seconds"] == timing["wall_seconds"] and run["cpu_seconds"] == timing["cpu_seconds"]
        walls.append(timing["wall_seconds"])
        cpus.append(timing["cpu_seconds"])
        history = json.loads((run_dir / "history.json").read_text())
        assert [r["train_items"] for r in history] == [seen[f"{run['fold']}/seed{run['seed']}"]] * 2
        assert all(r["train_seconds"] > 0 and r["eval_seconds"] > 0 for r in history)
        metrics = (run_dir / "metrics.json").read_text()
        assert "seconds" not in metrics  # metrics.json stays the same in every rerun
    time = summary["time"]
    assert time["n_timed"] == 2
    assert time["wall_seconds"] == pytest.approx(sum(walls)) and time["cpu_seconds"] == pytest.approx(
        sum(cpus)
    )
    assert time["wall_seconds_per_run"] == pytest.approx(sum(walls) / 2)
    text = (tmp_path / "summary.md").read_text()
    assert "- Time: " in text and "wall" in text and "CPU" in text
    assert json.loads((tmp_path / "summary.json").read_text())["time"] == time
    with open(tmp_path / "runs.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [float(r["wall_seconds"]) for r in rows] == walls

    # a rerun skips the finished runs and counts the time they recorded
    again = run_experiment(load_experiment(base=recipe), tmp_path)
    assert again["time"] == time


def test_tsne_can_be_switched_off(corpus: Path, tmp_path: Path):
    recipe = tiny_recipe(corpus, train={"epochs": 1, "tsne": False})
    recipe["seeds"] = [0]
    summary = run_experiment(load_experiment(base=recipe), tmp_path)
    assert not (tmp_path / "tsne.png").exists() and (tmp_path / "training_curves.png").is_file()
    assert not list(tmp_path.rglob("embeddings.npz"))  # nothing computed for a figure that is not drawn
    # an execution key: turning it on again continues the same folder
    recipe["train"]["tsne"] = True
    assert run_experiment(load_experiment(base=recipe), tmp_path)["runs"] == summary["runs"]
