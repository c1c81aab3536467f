"""``runner.jobs`` / ``--jobs``: the runs of a recipe in worker processes, with the results of a sequential run."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tiny_runs import tiny_corpus, tiny_recipe

from serkit.cli import main
from serkit.config import ConfigError
from serkit.core.errors import SerkitError
from serkit.recipe import load_experiment, resolve, resolve_stages
from serkit.training import engine, jobs
from serkit.training.runner import run_experiment

#: What a finished run writes whose bytes are the same in every rerun (history.json has timings, config.yaml the
#: runner.jobs value).
SAME_BYTES = ("metrics.json", "predictions.csv", "outputs.npz", "best.pt")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return tiny_corpus(tmp_path_factory.mktemp("synthetic"))


def _recipe(corpus: Path, jobs: int) -> dict:
    return tiny_recipe(corpus, train={"epochs": 2}, runner={"jobs": jobs})


@pytest.fixture(scope="module")
def reference(corpus: Path, tmp_path_factory) -> Path:
    """The tiny recipe trained in this process (jobs=1)."""
    out = tmp_path_factory.mktemp("reference")
    run_experiment(load_experiment(base=_recipe(corpus, 1)), out)
    return out


def _assert_same_runs(reference: Path, other: Path) -> None:
    runs = sorted(p.parent.relative_to(reference) for p in reference.rglob("metrics.json"))
    assert len(runs) == 4
    assert runs == sorted(p.parent.relative_to(other) for p in other.rglob("metrics.json"))
    timings = set(getattr(engine, "TIMING_KEYS", ()))  # measured: the one part of a history that differs
    for run in runs:
        for name in SAME_BYTES:
            assert (reference / run / name).read_bytes() == (other / run / name).read_bytes(), (run, name)
        a, b = (
            {**yaml.safe_load((root / run / "config.yaml").read_text()), "runner": {}}
            for root in (reference, other)
        )
        assert a == b
        a, b = (json.loads((root / run / "history.json").read_text()) for root in (reference, other))
        assert [{k: v for k, v in epoch.items() if k not in timings} for epoch in a] == [
            {k: v for k, v in epoch.items() if k not in timings} for epoch in b
        ]
    # the t-SNE run's embeddings are written by the first run only, whichever process trained it
    assert sorted(p.relative_to(reference) for p in reference.rglob("embeddings.npz")) == sorted(
        p.relative_to(other) for p in other.rglob("embeddings.npz")
    )


def test_two_jobs_give_the_bytes_of_one(corpus: Path, reference: Path, tmp_path: Path, caplog):
    caplog.set_level(logging.INFO)
    summary = run_experiment(load_experiment(base=_recipe(corpus, 2)), tmp_path)
    _assert_same_runs(reference, tmp_path)
    expected = json.loads((reference / "summary.json").read_text())
    assert summary["n_runs"] == 4 and summary["notes"] == expected["notes"]
    assert [r["metrics"] for r in summary["runs"]] == [r["metrics"] for r in expected["runs"]]
    for name in ("summary.md", "confusion_matrix.png", "training_curves.png", "folds.json"):
        assert (tmp_path / name).is_file(), name
    messages = [record.getMessage() for record in caplog.records]
    assert any("in 2 worker processes with 1 torch thread(s) each" in m for m in messages)
    # one line per epoch, prefixed by the run that logged it
    folds = summary["folds"]
    for fold in folds:
        for seed in (0, 1):
            assert any(m.startswith(f"[{fold}/seed{seed}] epoch 2/2") for m in messages), (fold, seed)


def test_interrupted_run_resumes_in_a_worker(corpus: Path, reference: Path, tmp_path: Path, monkeypatch):
    """A run killed mid-training (in this process) is continued from its last.pt by a worker, the finished one
    skipped, and the folder started with jobs=1 continues with jobs=2."""
    real_save, calls = engine.save_checkpoint, {"last": 0}

    def killing_save(path, payload):
        real_save(path, payload)
        if Path(path).name == "last.pt":
            calls["last"] += 1
            if calls["last"] == 3:  # second run, first epoch done
                raise KeyboardInterrupt

    monkeypatch.setattr(engine, "save_checkpoint", killing_save)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(load_experiment(base=_recipe(corpus, 1)), tmp_path)
    monkeypatch.setattr(engine, "save_checkpoint", real_save)
    assert len(list(tmp_path.rglob("metrics.json"))) == 1 and len(list(tmp_path.rglob("last.pt"))) == 1
    run_experiment(load_experiment(base=_recipe(corpus, 2)), tmp_path)
    _assert_same_runs(reference, tmp_path)


def test_parallel_run_stopped_by_ctrl_c_resumes_to_the_same_results(corpus: Path, tmp_path: Path):
    # Ctrl-C as soon as the first epoch is logged. Worker logs reach the parent through a queue and can lag by
    # seconds on a loaded machine: 40 epochs (several seconds) keep the runs training when the signal lands
    config = tiny_recipe(corpus, train={"epochs": 40}, runner={"jobs": 1})
    reference = tmp_path / "reference"
    run_experiment(load_experiment(base=config), reference)
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(yaml.safe_dump({**config, "runner": {"jobs": 2}}))
    out = tmp_path / "run"
    # a test runner started in the background of a non-interactive shell inherits SIGINT ignored: the command
    # under test gets Python's usual Ctrl-C handler back, as in a terminal
    child = "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); from serkit.cli import main"
    command = [sys.executable, "-c", child + "; sys.exit(main(sys.argv[1:]))"]
    command += ["train", str(recipe), "--out", str(out), "--jobs", "2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, env=env, start_new_session=True, stderr=subprocess.PIPE, text=True)
    seen = []
    for line in process.stderr:  # until the first epoch of any run is logged (or the process ends)
        seen.append(line)
        if "] epoch 1/40" in line:
            break
    os.killpg(process.pid, signal.SIGINT)  # Ctrl-C: the parent and its workers
    _, stderr = process.communicate(timeout=120)
    assert process.returncode != 0, "".join(seen) + stderr
    assert not (out / "summary.json").exists()
    assert main(["train", str(recipe), "--out", str(out), "--jobs", "2"]) == 0
    _assert_same_runs(reference, out)


def test_error_in_a_worker_names_the_run_folder(corpus: Path, tmp_path: Path):
    config = load_experiment(base=_recipe(corpus, 2))
    blocked = tmp_path / "runs" / "fold1" / "seed1"
    blocked.parent.mkdir(parents=True)
    blocked.write_text("not a folder")  # the run cannot create its folder
    with pytest.raises(SerkitError, match=r"run .*fold1/seed1 failed: FileExistsError"):
        run_experiment(config, tmp_path)
    assert not (tmp_path / "summary.json").exists()


def test_jobs_config_key_and_cli_flag(corpus: Path, tmp_path: Path, monkeypatch):
    assert load_experiment(base=_recipe(corpus, 0)).runner.jobs == 0
    assert load_experiment(base=_recipe(corpus, 0), overrides=["runner.jobs=3"]).runner.jobs == 3
    with pytest.raises(ConfigError, match=r"runner\.jobs=-1 is out of range"):
        load_experiment(base=_recipe(corpus, 0), overrides=["runner.jobs=-1"])
    seen = []

    class Stop(Exception):
        pass

    def fake_run(config, output, *, restart=False):
        seen.append(config.runner.jobs)
        raise Stop

    monkeypatch.setattr("serkit.training.runner.run_experiment", fake_run)
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(yaml.safe_dump(_recipe(corpus, 0)))
    for flags, expected in (([], 0), (["--jobs", "2"], 2), (["--set", "runner.jobs=3"], 3)):
        with pytest.raises(Stop):
            main(["train", str(recipe), "--out", str(tmp_path / "out"), *flags])
        assert seen[-1] == expected
    assert main(["train", str(recipe), "--jobs", "-1"]) == 2  # a config error, before any work


def test_auto_rule(corpus: Path, monkeypatch):
    def recipes(**model) -> list:
        data = {**_recipe(corpus, 0), "model": model}
        return [recipe for _, _, recipe in resolve_stages(resolve(load_experiment(base=data)))]

    small = recipes(name="cnn_tiny")
    assert 0 < jobs.model_parameters(small[0], 4) < jobs.SMALL_MODEL_PARAMETERS
    assert jobs.auto_jobs(small, 4, 4, cores=2) == 2
    assert jobs.auto_jobs(small, 4, 3, cores=8) == 3  # no more jobs than runs
    assert jobs.auto_jobs(small, 4, 1, cores=8) == 1
    assert jobs.auto_jobs(small, 4, 4, cores=1) == 1
    large = recipes(name="alexnet")  # 57 M parameters
    assert jobs.model_parameters(large[0], 4) > jobs.SMALL_MODEL_PARAMETERS
    assert jobs.auto_jobs(large, 4, 4, cores=2) == 1
    pretrained = recipes(name="hubert_ser", args={"pretrained": "facebook/hubert-base-ls960"})
    assert jobs.model_parameters(pretrained[0], 4) is None  # not built: no download to count it
    assert jobs.auto_jobs(pretrained, 4, 4, cores=2) == 1
    # the recipe's value, else SERKIT_JOBS, else the rule; never more than the runs
    config = load_experiment(base=_recipe(corpus, 0))
    monkeypatch.delenv("SERKIT_JOBS", raising=False)
    monkeypatch.setattr(jobs, "available_cores", lambda: 2)
    assert jobs.choose_jobs(config, small, 4, 4) == 2
    monkeypatch.setenv("SERKIT_JOBS", "1")
    assert jobs.choose_jobs(config, small, 4, 4) == 1
    assert jobs.choose_jobs(load_experiment(base=_recipe(corpus, 3)), small, 4, 2) == 2
    assert jobs.threads_per_job(2, cores=2) == 1 and jobs.threads_per_job(3, cores=8) == 2
    assert jobs.threads_per_job(2, 3, cores=2) == 3  # train.threads, when set, is kept
