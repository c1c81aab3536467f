"""End-to-end runner tests on a tiny synthetic corpus: files, skip/resume, summary, prediction."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from tiny_runs import tiny_corpus, tiny_recipe

from serkit.cli import main
from serkit.config import ConfigError
from serkit.core.errors import SerkitError
from serkit.inference.recognizer import Recognizer
from serkit.recipe import load_experiment
from serkit.training import engine
from serkit.training.runner import run_experiment


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return tiny_corpus(tmp_path_factory.mktemp("synthetic"))


def _recipe(corpus: Path, **train) -> dict:
    return tiny_recipe(corpus, train=train)


def test_run_writes_every_file_and_a_summary(corpus: Path, tmp_path: Path):
    summary = run_experiment(load_experiment(base=_recipe(corpus)), tmp_path)
    assert summary["n_runs"] == 4 and summary["speaker_independent"] and not summary["selected_on_test"]
    for name in (
        "config.yaml",
        "folds.json",
        "summary.md",
        "summary.csv",
        "summary.json",
        "runs.csv",
        "confusion_matrix.png",
        "training_curves.png",
        "tsne.png",
    ):
        assert (tmp_path / name).is_file(), name
    run = tmp_path / "runs" / summary["folds"][0] / "seed0"
    for name in (
        "config.yaml",
        "metrics.json",
        "predictions.csv",
        "history.json",
        "best.pt",
        "embeddings.npz",
    ):
        assert (run / name).is_file(), name
    assert not (run / "last.pt").exists()  # resume state removed once the run finished
    header = (run / "predictions.csv").read_text().splitlines()[0]
    assert header == "utt_id,speaker,true,predicted,p_neutral,p_happy,p_sad,p_angry"
    text = (tmp_path / "summary.md").read_text()
    assert "speaker_kfold" in text and "Speaker-independent: yes" in text


def test_interrupted_experiment_resumes_to_the_same_metrics(corpus: Path, tmp_path: Path, monkeypatch):
    config = load_experiment(base=_recipe(corpus))
    reference = run_experiment(config, tmp_path / "reference")

    real_save = engine.save_checkpoint
    calls = {"last": 0}

    def killing_save(path, payload):
        real_save(path, payload)
        if Path(path).name == "last.pt":
            calls["last"] += 1
            if calls["last"] == 5:  # second run, second epoch: simulate a kill
                raise KeyboardInterrupt

    monkeypatch.setattr(engine, "save_checkpoint", killing_save)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(config, tmp_path / "resumed")
    monkeypatch.setattr(engine, "save_checkpoint", real_save)
    assert len(list((tmp_path / "resumed").rglob("metrics.json"))) == 1
    assert len(list((tmp_path / "resumed").rglob("last.pt"))) == 1
    resumed = run_experiment(config, tmp_path / "resumed")
    for a, b in zip(reference["runs"], resumed["runs"]):
        assert a["fold"] == b["fold"] and a["seed"] == b["seed"]
        assert a["metrics"]["wa"] == b["metrics"]["wa"] and a["metrics"]["ua"] == b["metrics"]["ua"]
    ref_pred = (
        tmp_path / "reference" / "runs" / reference["folds"][0] / "seed1" / "predictions.csv"
    ).read_text()
    res_pred = (
        tmp_path / "resumed" / "runs" / reference["folds"][0] / "seed1" / "predictions.csv"
    ).read_text()
    assert ref_pred == res_pred


def test_rerun_skips_finished_runs_and_refuses_another_recipe(corpus: Path, tmp_path: Path):
    config = load_experiment(base=_recipe(corpus, epochs=1))
    run_experiment(config, tmp_path)
    stamp = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("best.pt")}
    run_experiment(config, tmp_path)
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("best.pt")} == stamp
    with pytest.raises(SerkitError, match="different recipe"):
        run_experiment(load_experiment(base=_recipe(corpus, epochs=2)), tmp_path)
    # more seeds, a fold subset or another thread count continue the same run folder
    more = load_experiment(base={**_recipe(corpus, epochs=1, threads=1), "seeds": [0, 1, 2]})
    assert run_experiment(more, tmp_path)["n_runs"] == 6


def test_select_on_test_is_reported_loudly(corpus: Path, tmp_path: Path):
    recipe = _recipe(corpus, epochs=1, select_on="test")
    recipe["seeds"] = [0]
    summary = run_experiment(load_experiment(base=recipe), tmp_path)
    assert summary["selected_on_test"]
    assert "TEST SET" in (tmp_path / "summary.md").read_text().upper()


def test_corrupt_file_is_skipped_and_listed(corpus: Path, tmp_path: Path):
    import shutil

    copy = tmp_path / "corpus"
    shutil.copytree(corpus, copy)
    victim = sorted((copy / "audio").glob("*.flac"))[0]
    victim.write_bytes(victim.read_bytes()[:200])  # truncated FLAC
    recipe = _recipe(copy, epochs=1)
    recipe["seeds"] = [0]
    summary = run_experiment(load_experiment(base=recipe), tmp_path / "run")
    assert any("unreadable" in note for note in summary["notes"])


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["train.lrr=0.1"], "train.lrr"),
        (["train.epochs=many"], "expected an integer"),
        (["features.n_mfc=13"], "n_mfcc"),
        (["input.mode=frame"], "input.mode"),
    ],
)
def test_bad_recipe_values_fail_before_any_work(corpus: Path, overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_experiment(base=_recipe(corpus), overrides=overrides)


def test_label_missing_from_label_list_is_left_out_and_noted(corpus: Path, tmp_path: Path):
    recipe = _recipe(corpus, epochs=1)
    recipe["labels"] = {"labels": ["neutral", "sad", "angry"]}
    recipe["seeds"] = [0]
    summary = run_experiment(load_experiment(base=recipe), tmp_path)
    assert summary["label_names"] == ["neutral", "sad", "angry"]
    assert any("happy" in note for note in summary["notes"])


def test_cli_train_report_predict_and_timeline(corpus: Path, tmp_path: Path, capsys):
    import yaml

    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(yaml.safe_dump(_recipe(corpus, epochs=1)))
    out = tmp_path / "run"
    assert main(["train", str(recipe), "--set", "seeds=[0]", "--out", str(out)]) == 0
    assert "UA (macro recall)" in capsys.readouterr().out
    assert main(["report", str(out)]) == 0
    assert main(["compare", str(out), str(out)]) == 0
    capsys.readouterr()
    best = next(out.rglob("best.pt"))
    files = sorted((corpus / "audio").glob("*.flac"))[:3]
    assert main(["predict", str(best), *map(str, files), "--format", "csv"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4 and lines[0].startswith("path,label,p_neutral")
    # a 60 s recording -> a timeline of 3 s windows every 3 s, read window by window
    long_file = tmp_path / "long.wav"
    rng = np.random.default_rng(0)
    sf.write(long_file, (0.05 * rng.standard_normal(60 * 16000)).astype(np.float32), 16000)
    npz = tmp_path / "timeline.npz"
    assert (
        main(
            [
                "predict",
                str(best),
                str(long_file),
                "--timeline",
                "--window",
                "3",
                "--hop",
                "3",
                "--format",
                "npz",
                "-o",
                str(npz),
            ]
        )
        == 0
    )
    with np.load(npz, allow_pickle=False) as data:
        assert data["posteriors"].shape == (20, 4) and np.allclose(data["posteriors"].sum(1), 1, atol=1e-5)
        assert data["start"][-1] == 57.0
    recognizer = Recognizer.from_checkpoint(best)
    printed = [dict(zip(lines[0].split(","), line.split(","))) for line in lines[1:]]
    assert recognizer.predict(files) == [row["label"] for row in printed]
    assert json.loads((out / "summary.json").read_text())["n_runs"] == 2


def test_cli_train_unknown_key_exits_2(tmp_path: Path, capsys):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text("name: x\ntrian: {epochs: 1}\n")
    assert main(["train", str(recipe)]) == 2
    assert "Did you mean 'train'" in capsys.readouterr().err


def test_utterance_mode_trains_on_whole_utterances(corpus: Path, tmp_path: Path):
    recipe = _recipe(corpus, epochs=1)
    recipe["input"] = {"mode": "utterance", "max_seconds": 1.0}
    recipe["seeds"] = [0]
    summary = run_experiment(load_experiment(base=recipe), tmp_path)
    run = tmp_path / "runs" / summary["folds"][0] / "seed0"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["num_test"] > 0 and 0.0 <= metrics["metrics"]["ua"] <= 1.0


def test_timeline_of_a_ten_minute_recording_reads_one_window_at_a_time(
    corpus: Path, tmp_path: Path, monkeypatch
):
    import serkit.audio.io as audio_io

    recipe = _recipe(corpus, epochs=1)
    recipe["seeds"] = [0]
    recipe["protocol"]["folds"] = [0]
    run_experiment(load_experiment(base=recipe), tmp_path / "run")
    recognizer = Recognizer.from_checkpoint(next((tmp_path / "run").rglob("best.pt")))
    long_file = tmp_path / "ten_minutes.flac"
    with sf.SoundFile(long_file, "w", samplerate=16000, channels=1, subtype="PCM_16") as handle:
        rng = np.random.default_rng(0)
        for _ in range(10):  # written a minute at a time
            handle.write((0.05 * rng.standard_normal(60 * 16000)).astype(np.float32))
    largest = {"samples": 0}
    real_load = audio_io.load

    def recording_load(*args, **kwargs):
        waveform = real_load(*args, **kwargs)
        largest["samples"] = max(largest["samples"], len(waveform))
        return waveform

    monkeypatch.setattr(audio_io, "load", recording_load)
    entries = list(recognizer.timeline(long_file, window=2.0, hop=2.0))
    assert len(entries) == 300 and entries[-1].end == 600.0
    assert largest["samples"] == 2 * 16000  # never more than one window in memory


# -- resuming, refusing and restarting a run folder -------------------------------------------------------------


def _write_recipe(path: Path, recipe: dict) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(recipe, sort_keys=False), encoding="utf-8")
    return path


def test_rerun_of_the_same_recipe_file_resumes_after_a_failure(corpus: Path, tmp_path: Path, monkeypatch):
    """Each call reads the recipe file afresh (as `serkit train` does): the saved config must match it."""
    recipe = _write_recipe(
        tmp_path / "tiny.yaml",
        {
            **_recipe(corpus, epochs=2, lr=3e-4),
            "stages": [{"name": "a", "set": ["train.epochs=1"]}, {"name": "b", "init_from": "a"}],
        },
    )
    out = tmp_path / "run"
    real_train = engine.train_one
    calls = {"n": 0}

    def failing_train(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:  # the first stage of the third (fold, seed): earlier runs are finished
            raise RuntimeError("simulated crash")
        return real_train(*args, **kwargs)

    import serkit.training.strategies as strategies

    monkeypatch.setattr(strategies, "train_one", failing_train)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_experiment(load_experiment(recipe), out)
    finished = sorted(p.parent for p in out.rglob("metrics.json") if p.parent.name.startswith("seed"))
    assert len(finished) == 2
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("best.pt")}
    monkeypatch.setattr(strategies, "train_one", real_train)
    # a fresh load of the same file (plus an override that changes no result) resumes
    summary = run_experiment(load_experiment(recipe, ["train.progress=false"]), out)
    assert summary["n_runs"] == 4
    for path, stamp in stamps.items():
        if path.parent in finished:
            assert path.stat().st_mtime_ns == stamp, f"{path} was retrained"


def test_saved_config_of_an_older_version_and_equivalent_spellings_still_resume(corpus: Path, tmp_path: Path):
    import yaml

    recipe = {**_recipe(corpus, epochs=1), "seeds": [0]}
    recipe["protocol"]["folds"] = [0]
    run_experiment(load_experiment(base=recipe), tmp_path)
    saved = tmp_path / "config.yaml"
    data = yaml.safe_load(saved.read_text())
    del data["train"]["find_unused_parameters"]  # a key this folder's serkit did not have yet
    data["corpus"]["root"] = str(
        Path(data["corpus"]["root"]) / "audio" / ".."
    )  # the same folder, spelled otherwise
    saved.write_text(yaml.safe_dump(data))
    stamp = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("best.pt")}
    renamed = load_experiment(
        base={**recipe, "name": "renamed", "notes": ["a note"]}, overrides=["train.threads=1"]
    )
    run_experiment(renamed, tmp_path)  # title, notes and threads do not change results
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("best.pt")} == stamp


def test_folder_of_a_run_that_failed_before_training_is_reused(corpus: Path, tmp_path: Path):
    recipe = {**_recipe(tmp_path / "no_such_corpus", epochs=1), "seeds": [0]}
    with pytest.raises(SerkitError):
        run_experiment(load_experiment(base=recipe), tmp_path / "run")
    # the recipe is saved once the corpus is loaded and checked: a run refused before that leaves nothing
    assert not (tmp_path / "run" / "config.yaml").exists() and not (tmp_path / "run" / "runs").exists()
    fixed = {**_recipe(corpus, epochs=1), "seeds": [0]}
    assert run_experiment(load_experiment(base=fixed), tmp_path / "run")["n_runs"] == 2


def test_changed_recipe_lists_the_changed_keys_and_restart_moves_the_old_run_aside(
    corpus: Path, tmp_path: Path
):
    recipe = {**_recipe(corpus, epochs=1), "seeds": [0]}
    out = tmp_path / "run"
    run_experiment(load_experiment(base=recipe), out)
    (out / "my_notes.txt").write_text("mine")  # not serkit's: never moved or deleted
    changed = load_experiment(
        base=recipe, overrides=["train.epochs=2", "train.lr=0.001", "model.args.dropout=0.1"]
    )
    with pytest.raises(SerkitError) as error:
        run_experiment(changed, out)
    message = str(error.value)
    for line in ("train.epochs: 1 -> 2", "train.lr: 0.01 -> 0.001", "model.args.dropout: (not set) -> 0.1"):
        assert f"\n  {line}" in message, message
    assert "mixup_alpha" not in message and "--out" in message and "--restart" in message
    assert "restart=True" in message

    summary = run_experiment(changed, out, restart=True)
    assert summary["n_runs"] == 2
    (aside,) = tmp_path.glob("run.old-*")
    assert "epochs: 1" in (aside / "config.yaml").read_text()
    assert len(list(aside.rglob("metrics.json"))) == 2 and (aside / "summary.json").is_file()
    assert (out / "my_notes.txt").read_text() == "mine" and not (aside / "my_notes.txt").exists()
    assert (out / "feature_cache").is_dir() and not (aside / "feature_cache").exists()  # the cache is reused
    assert all(json.loads(p.read_text())["num_epochs"] == 2 for p in (out / "runs").rglob("metrics.json"))
    run_experiment(changed, out)  # the restarted folder resumes as usual


def test_every_skipped_file_is_listed_in_the_run_folder(corpus: Path, tmp_path: Path):
    import shutil

    copy = tmp_path / "corpus"
    shutil.copytree(corpus, copy)
    victims = sorted((copy / "audio").glob("*.flac"))[:5]
    for victim in victims:
        victim.write_bytes(victim.read_bytes()[:200])  # truncated FLAC
    recipe = {**_recipe(copy, epochs=1), "seeds": [0]}
    summary = run_experiment(load_experiment(base=recipe), tmp_path / "run")
    listed = (tmp_path / "run" / "skipped_files.txt").read_text(encoding="utf-8").splitlines()
    assert len(listed) == 5 and all(any(str(v) in line for line in listed) for v in victims)
    (note,) = [n for n in summary["notes"] if "skipped" in n]
    assert note.startswith("5 unreadable") and "2 more" in note and "full list: skipped_files.txt" in note
    assert sum(str(v) in note for v in victims) == 3  # the note stays short
    again = run_experiment(
        load_experiment(base=recipe), tmp_path / "run"
    )  # all runs finished: nothing recomputed
    assert note in again["notes"]
