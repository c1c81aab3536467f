"""The IEMOCAP MAT/MNT recipes end to end on a fake release with transcripts (leave-one-session-out, 3 folds)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import write_tone
from fake_iemocap import fake_iemocap

from serkit.cli import main

RECIPES = Path(__file__).resolve().parents[2] / "recipes" / "mat"
CODES = ["neu", "sad", "ang", "exc", "hap"]
SENTENCES = [
    "I am so happy for you!",
    "Leave me alone.",
    "What did you just say?",
    "It's fine, really.",
    "Why would you do that--",
    "We'll see tomorrow.",
]
TINY = [
    "model.args.hidden_dim=8",
    "model.args.ff_dim=12",
    "model.args.num_heads=2",
    "model.args.num_layers=1",
    "model.args.word_dim=6",
    "features.n_mels=16",
    "train.epochs=2",
    "train.batch_size=8",
    "train.progress=false",
    "train.threads=1",
    "seeds=[0, 1]",
    "input.max_seconds=0.5",
]


@pytest.fixture(scope="module")
def iemocap(tmp_path_factory) -> Path:
    def write(path: Path, session: int, gender: str, turn: int, code: str) -> None:
        write_tone(path, seconds=0.6, frequency=150.0 + 31 * turn + 7 * session + (gender == "M"))

    return fake_iemocap(
        tmp_path_factory.mktemp("iemocap"),
        sessions=3,
        per_speaker=4,
        codes=CODES,
        write=write,
        sentences=SENTENCES,
    )


@pytest.mark.parametrize("model", ["mnt"])  # mat runs end to end in test_mat_meld
def test_iemocap_recipe_loso_then_ensemble_per_fold(iemocap: Path, tmp_path: Path, model: str, capsys):
    out = tmp_path / "run"
    overrides = [f"corpus.root={iemocap}", *TINY]
    assert (
        main(
            [
                "train",
                str(RECIPES / f"iemocap_{model}.yaml"),
                "--out",
                str(out),
                *[item for o in overrides for item in ("--set", o)],
            ]
        )
        == 0
    )
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["speaker_independent"] and summary["selection"] == "validation" and summary["n_runs"] == 6
    assert summary["label_names"] == ["neutral", "happy", "sad", "angry"]
    capsys.readouterr()
    assert main(["ensemble", str(out), "--metric", "ua"]) == 0
    record = json.loads((out / "ensemble" / "ensemble.json").read_text(encoding="utf-8"))
    assert len(record["folds"]) == 3 and all(len(f["members"]) == 2 for f in record["folds"])
    assert record["summary"]["n_runs"] == 3 and record["summary"]["protocol"] == "leave_one_session_out"
    assert "Session-independent: yes" in capsys.readouterr().out
    _predict_with_transcripts(iemocap, out, tmp_path, capsys)


def _predict_with_transcripts(iemocap: Path, out: Path, tmp_path: Path, capsys) -> None:
    """`serkit predict --transcripts` on a fusion checkpoint: the tokeniser stored in it encodes the new text."""
    import csv

    from serkit.inference.recognizer import Recognizer

    best = next((out / "runs").glob("*/seed0/best.pt"))
    wavs = sorted(iemocap.rglob("*.wav"))[:3]
    table = tmp_path / "transcripts.csv"
    table.write_text(
        "path,text\n" + "".join(f"{w},{t}\n" for w, t in zip(wavs, ["leave me alone", "", "so happy"]))
    )
    predictions = tmp_path / "predictions.csv"
    assert (
        main(
            [
                "predict",
                str(best),
                *map(str, wavs),
                "--transcripts",
                str(table),
                "--format",
                "csv",
                "-o",
                str(predictions),
            ]
        )
        == 0
    )
    rows = list(csv.DictReader(predictions.open()))
    recognizer = Recognizer.from_checkpoint(best)
    expected = recognizer.predict_proba(wavs, ["leave me alone", "", "so happy"])
    assert [float(r["p_neutral"]) for r in rows] == pytest.approx(expected[:, 0].tolist(), abs=1e-6)
    with pytest.raises(ValueError, match="transcript"):
        recognizer.predict_proba(wavs)  # a fusion model needs the words
    capsys.readouterr()
    assert main(["predict", str(best), str(wavs[0])]) == 2
    assert "--transcripts" in capsys.readouterr().err
    table.write_text("path,text\n" + f"{wavs[0]},hello\n")
    assert (
        main(["predict", str(best), *map(str, wavs[:2]), "--transcripts", str(table)]) == 1
    )  # one lacks text
    assert "no transcript for this file" in capsys.readouterr().err
