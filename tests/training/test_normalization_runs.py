"""input.normalize end to end: per-utterance and per-speaker statistics in training, reports and prediction."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from tiny_runs import tiny_corpus, tiny_recipe

from serkit.evaluation.summary import TRANSDUCTIVE_WARNING
from serkit.inference import Recognizer
from serkit.recipe import load_experiment
from serkit.training.runner import run_experiment

GAINED_SPEAKER = "spk01"


@pytest.fixture(scope="module")
def corpora(tmp_path_factory) -> tuple[Path, Path]:
    """The tiny corpus, and a copy in which every recording of one speaker is 12 dB quieter."""
    plain = tiny_corpus(tmp_path_factory.mktemp("plain"))
    quieter = tmp_path_factory.mktemp("quieter") / "corpus"
    shutil.copytree(plain, quieter)
    for path in sorted((quieter / "audio").glob(f"{GAINED_SPEAKER}_*.flac")):
        audio, rate = sf.read(path, dtype="float32")
        sf.write(path, audio * 0.25, rate)
    return plain, quieter


def _run(corpus: Path, out: Path, **inputs) -> dict:
    # fp32: prediction must reproduce the run's probabilities closely, whatever the batch composition
    recipe = tiny_recipe(corpus, train={"epochs": 2, "mixup_alpha": 0.0, "precision": "no"})
    recipe["seeds"] = [0]
    recipe["input"] = {**recipe["input"], **inputs}
    return run_experiment(load_experiment(base=recipe), out)


def _speaker_probabilities(run: Path, speaker: str) -> np.ndarray:
    """(utterances, classes) test probabilities of ``speaker`` over all folds, in utterance order."""
    rows = []
    for path in sorted(run.glob("runs/*/seed0/predictions.csv")):
        with path.open(newline="") as handle:
            rows += [row for row in csv.DictReader(handle) if row["speaker"] == speaker]
    assert rows, f"{speaker} is in no test part"
    rows.sort(key=lambda row: row["utt_id"])
    return np.asarray([[float(v) for k, v in row.items() if k.startswith("p_")] for row in rows])


@pytest.mark.parametrize(
    "inputs", [{"normalize": "utterance"}, {"normalize": "speaker", "transductive": True}]
)
def test_speaker_and_utterance_statistics_cancel_a_recording_gain(corpora, tmp_path: Path, inputs):
    """A gain multiplies the mel power, i.e. shifts every log-mel band and so only MFCC c0 by a constant; the
    speaker's (or utterance's) own mean removes it, so that speaker's test predictions do not change. With
    global training statistics they do (the control that lets this test fail)."""
    plain, quieter = corpora
    normalized = [_run(corpus, tmp_path / name, **inputs) for corpus, name in ((plain, "a"), (quieter, "b"))]
    same = _speaker_probabilities(tmp_path / "a", GAINED_SPEAKER)
    np.testing.assert_allclose(_speaker_probabilities(tmp_path / "b", GAINED_SPEAKER), same, atol=2e-3)
    for corpus, name in ((plain, "global_a"), (quieter, "global_b")):
        _run(corpus, tmp_path / name)
    shift = np.abs(
        _speaker_probabilities(tmp_path / "global_a", GAINED_SPEAKER)
        - _speaker_probabilities(tmp_path / "global_b", GAINED_SPEAKER)
    ).max()
    assert shift > 0.02

    summary = normalized[0]
    transductive = inputs["normalize"] == "speaker"
    assert summary["transductive"] is transductive
    assert (TRANSDUCTIVE_WARNING in summary["warnings"]) is transductive
    assert any(note.startswith("input normalisation: per ") for note in summary["notes"])
    report = (tmp_path / "a" / "summary.md").read_text(encoding="utf-8")
    assert ("TRANSDUCTIVE" in report) is transductive


def test_prediction_uses_the_trained_normalisation(corpora, tmp_path: Path):
    """A per-utterance model predicts a file as it was evaluated in training: its probabilities equal the
    run's predictions.csv; a per-speaker model pools the files of one call."""
    plain, _ = corpora
    _run(plain, tmp_path / "utt", normalize="utterance")
    checkpoint = next((tmp_path / "utt").glob("runs/*/seed0/best.pt"))
    recognizer = Recognizer.from_checkpoint(checkpoint)
    assert recognizer.standardizer.mode == "utterance"
    with (checkpoint.parent / "predictions.csv").open(newline="") as handle:
        row = next(csv.DictReader(handle))
    path = next((plain / "audio").glob(f"{row['utt_id']}.*"))
    probabilities = recognizer.predict_proba([path])[0]
    expected = np.asarray([float(v) for k, v in row.items() if k.startswith("p_")])
    np.testing.assert_allclose(np.asarray(probabilities, dtype=float), expected, atol=1e-4)

    _run(plain, tmp_path / "spk", normalize="speaker", transductive=True)
    speaker_model = Recognizer.from_checkpoint(next((tmp_path / "spk").glob("runs/*/seed0/best.pt")))
    assert speaker_model.standardizer.mode == "speaker"
