"""The recipes of recipes/dimensional/ end to end on a small fake IEMOCAP release whose ratings follow the audio."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import write_tone
from fake_iemocap import fake_iemocap
from fake_msp_podcast import fake_msp_podcast

from serkit.recipe import load_experiment
from serkit.training.runner import run_experiment

RECIPES = Path(__file__).resolve().parents[2] / "recipes" / "dimensional"
CODES = ["neu", "sad", "ang", "exc", "hap"]
FAST = ["train.epochs=2", "train.batch_size=8", "train.progress=false", "seeds=[0]"]


def _activation(turn: int) -> float:
    return 1.5 + 0.6 * (turn % 5)  # 1.5 .. 3.9 on IEMOCAP's 1-5 scale


@pytest.fixture(scope="module")
def iemocap(tmp_path_factory) -> Path:
    """2 s tones, higher for higher activation; valence and dominance vary with the code and turn."""

    def write(path: Path, session: int, gender: str, turn: int, code: str) -> None:
        write_tone(path, seconds=2.0, frequency=120.0 + 50 * (turn % 5) + 7 * session)

    def ratings(session: int, gender: str, turn: int, code: str) -> tuple[float, float, float]:
        return 1.0 + 0.8 * CODES.index(code), _activation(turn), 2.0 + 0.4 * (turn % 3)

    root = tmp_path_factory.mktemp("iemocap")
    return fake_iemocap(root, sessions=3, per_speaker=10, codes=CODES, write=write, ratings=ratings)


def test_iemocap_regression_recipe_maps_activation_to_arousal(iemocap: Path, tmp_path: Path):
    config = load_experiment(RECIPES / "iemocap_loso_glam_dimensions.yaml", [f"corpus.root={iemocap}", *FAST])
    assert config.task == "regression" and config.train.mixup_alpha == 0
    summary = run_experiment(config, tmp_path)
    assert summary["speaker_independent"] and summary["n_runs"] == 3
    assert summary["dimensions"] == ["arousal", "valence", "dominance"]
    assert "rescaled from [1, 5] to [0, 1]" in " ".join(summary["notes"])
    # every utterance is rated, whatever its category (hap is not in GLAM's label set, but is kept here)
    assert sum(run["num_utterances"] for run in summary["runs"]) == 3 * 2 * 10
    run = tmp_path / "runs" / summary["folds"][0] / "seed0"
    predictions = (run / "predictions.csv").read_text().splitlines()
    utt, _, true_arousal = predictions[1].split(",")[:3]
    turn = int(utt[-3:])
    assert float(true_arousal) == pytest.approx((_activation(turn) - 1) / 4, abs=1e-5)


def test_iemocap_multitask_recipe_reports_both(iemocap: Path, tmp_path: Path):
    config = load_experiment(RECIPES / "iemocap_loso_glam_multitask.yaml", [f"corpus.root={iemocap}", *FAST])
    summary = run_experiment(config, tmp_path)
    assert summary["label_names"] == ["neutral", "sad", "angry", "happy"]
    assert {"ua", "ccc", "ccc_arousal"} <= set(summary["metrics"])
    assert "## Confusion matrix" in (tmp_path / "summary.md").read_text()
    record = json.loads((tmp_path / "runs" / summary["folds"][0] / "seed0" / "metrics.json").read_text())
    assert record["selection"] == "validation" and "ccc_dominance" in record["metrics"]


@pytest.mark.parametrize("name", sorted(p.stem for p in RECIPES.glob("*.yaml")))
def test_every_dimensional_recipe_resolves(name: str):
    from serkit.recipe import resolve

    recipe = resolve(load_experiment(RECIPES / f"{name}.yaml"))
    assert recipe.config.task in ("regression", "multitask") and recipe.config.targets


def test_msp_podcast_recipe_trains_on_the_official_partitions(tmp_path: Path):
    """A fake release: 2 s tones whose pitch follows the arousal rating; Train / Development / Test1 / Test2."""
    fake_msp_podcast(tmp_path / "msp", seconds=2.0)
    config = load_experiment(
        RECIPES / "msp_podcast_glam_dimensions.yaml", [f"corpus.root={tmp_path / 'msp'}", *FAST]
    )
    summary = run_experiment(config, tmp_path / "run")
    assert summary["protocol"] == "official" and summary["n_runs"] == 1
    assert summary["runs"][0]["num_utterances"] == 4  # Test1 only; Test2 is left out
    # valence is 4.0 for every file: its CCC is undefined (n/a), the others are numbers
    assert summary["metrics"]["ccc_valence"]["n"] == 0 and summary["metrics"]["ccc_arousal"]["n"] == 1


def test_fusion_family_trains_classes_and_dimensions(tmp_path: Path):
    """MAT (audio + words) with task: multitask on a fake IEMOCAP with transcripts."""

    def write(path: Path, session: int, gender: str, turn: int, code: str) -> None:
        write_tone(path, seconds=0.6, frequency=150.0 + 31 * turn + 7 * session + (gender == "M"))

    def ratings(session: int, gender: str, turn: int, code: str) -> tuple[float, float, float]:
        return 1.0 + 0.8 * CODES.index(code), _activation(turn), 3.0

    root = fake_iemocap(
        tmp_path / "iemocap",
        sessions=3,
        per_speaker=4,
        codes=CODES,
        write=write,
        sentences=["I am so happy for you!", "Leave me alone.", "What did you just say?"],
        ratings=ratings,
    )
    tiny = [
        *(
            f"model.args.{key}={value}"
            for key, value in (("hidden_dim", 8), ("ff_dim", 12), ("num_heads", 2))
        ),
        *("model.args.num_layers=1", "model.args.word_dim=6", "features.n_mels=16", "input.max_seconds=0.5"),
    ]
    recipe = Path(__file__).resolve().parents[2] / "recipes" / "mat" / "iemocap_mat.yaml"
    overrides = [f"corpus.root={root}", *FAST, *tiny, "task=multitask", "targets=[arousal, valence]"]
    summary = run_experiment(load_experiment(recipe, overrides), tmp_path / "run")
    assert summary["dimensions"] == ["arousal", "valence"] and summary["n_runs"] == 3
    assert summary["metrics"]["ccc_arousal"]["n"] == 3 and "ua" in summary["metrics"]
