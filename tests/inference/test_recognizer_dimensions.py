"""Models of emotion dimensions (``task: regression`` / ``multitask``) at prediction time: the values a recogniser
returns are the mean of the model's chunk outputs, mapped to the corpus scale as ``low + v * (high - low)``, averaged
over an ensemble, written by ``serkit predict``, kept by model folders and ONNX files.

The checkpoints are random-weight cnn_small models in the format ``serkit train`` writes (``label_names`` = the
classes, ``task``/``dimensions``/``dimension_range`` from ``TaskSpec.describe()``, one output per class then per
dimension), compared with a forward pass of the same weights written out here.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from test_batching import LABELS, RATE, _speechlike

from serkit.cli import main
from serkit.config import InputConfig
from serkit.features.base import feature_from_dict
from serkit.features.pipeline import InputPipeline, Normalizer
from serkit.inference.recognizer import Recognizer
from serkit.models import create_model
from serkit.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

DIMENSIONS = ["arousal", "valence"]
RANGE = [1.0, 5.0]
INPUTS = InputConfig(window=1.0, hop=0.25, eval_hop=0.25)


@pytest.fixture(scope="module")
def audio(tmp_path_factory) -> list[Path]:
    """Four speech-like files of 1.2 to 3.4 s and one silent file."""
    folder = tmp_path_factory.mktemp("dim_audio")
    files = []
    for i, seconds in enumerate([1.2, 2.5, 3.4, 1.7]):
        files.append(folder / f"d{i}.wav")
        sf.write(files[-1], _speechlike(seconds, 40 + i), RATE)
    files.append(folder / "quiet.wav")
    sf.write(files[-1], np.zeros(RATE, dtype=np.float32), RATE)
    return files


def dimension_checkpoint(
    path: Path,
    audio: list[Path],
    task: str,
    *,
    seed: int = 0,
    dimensions: list[str] = DIMENSIONS,
    dimension_range: list[float] = RANGE,
) -> Path:
    """A random-weight cnn_small checkpoint of ``task`` (regression: no classes) as ``serkit train`` writes it."""
    torch.manual_seed(seed)
    feature = feature_from_dict({"name": "mfcc", "n_mfcc": 26})
    pipeline = InputPipeline(feature, INPUTS)
    chunks = [c for f in audio[:3] for c in pipeline.chunks_from_waveform(sf.read(f, dtype="float32")[0])]
    classes = [] if task == "regression" else LABELS
    outputs = len(classes) + len(dimensions)
    network = create_model("cnn_small", num_classes=outputs, num_features=26)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(
        path,
        {
            "serkit_version": "test",
            "model_name": "cnn_small",
            "model_args": {"num_classes": outputs, "num_features": 26},
            "label_names": classes,
            "task": task,
            "dimensions": dimensions,
            "dimension_range": dimension_range,
            "feature": feature.to_dict(),
            "input": dataclasses.asdict(INPUTS),
            "standardizer": Normalizer.fit(chunks).to_dict(),
            "precision": "no",
            "epoch": 1,
            "state_dict": network.state_dict(),
        },
    )
    return path


@pytest.fixture(scope="module")
def checkpoints(audio, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("dim_ckpt")
    return {
        task: dimension_checkpoint(folder / f"{task}.pt", audio, task) for task in ("regression", "multitask")
    }


def manual_outputs(checkpoint: Path, path: Path) -> np.ndarray:
    """The mean over its chunks of the model's outputs (C + D,) for one file, computed here from the weights."""
    stored = load_checkpoint(checkpoint)
    model = create_model("cnn_small", num_classes=stored["model_args"]["num_classes"], num_features=26)
    model.load_state_dict(stored["state_dict"])
    model.eval()
    pipeline = InputPipeline(feature_from_dict(stored["feature"]), INPUTS)
    waveform, rate = sf.read(path, dtype="float32")
    assert rate == RATE
    chunks = Normalizer.from_dict(stored["standardizer"]).utterance(pipeline.chunks_from_waveform(waveform))
    features = torch.from_numpy(np.asarray(chunks, dtype=np.float32))  # (chunks, frames, num_features)
    lengths = torch.full((len(features),), features.shape[1], dtype=torch.int64)
    with torch.no_grad():
        return model(features, lengths).double().mean(dim=0).numpy()


@pytest.mark.parametrize("task", ["regression", "multitask"])
def test_values_are_the_mean_chunk_outputs(checkpoints, audio, task):
    recognizer = Recognizer.from_checkpoint(checkpoints[task], precision="no")
    assert recognizer.dimensions_ == DIMENSIONS and recognizer.task.kind == task
    assert recognizer.classes_ == ([] if task == "regression" else LABELS)
    values = recognizer.predict_dimensions(audio)
    assert values.shape == (len(audio), len(DIMENSIONS)) and values.dtype == np.float32
    classes = len(recognizer.classes_)
    expected = np.stack([manual_outputs(checkpoints[task], path) for path in audio])
    np.testing.assert_allclose(values, expected[:, classes:], atol=1e-5, rtol=0)
    if task == "multitask":  # the class columns are still softmaxed, the value columns are not
        logits = torch.from_numpy(expected[:, :classes])
        np.testing.assert_allclose(
            recognizer.predict_proba(audio), torch.softmax(logits, -1).numpy(), atol=1e-5, rtol=0
        )
        assert recognizer.predict(audio[:1])[0] in LABELS
    corpus = recognizer.predict_dimensions(audio, scale="corpus")
    np.testing.assert_allclose(corpus, RANGE[0] + values * (RANGE[1] - RANGE[0]), atol=1e-5, rtol=0)
    assert not np.allclose(corpus, values)
    one = recognizer.predict_waveform_dimensions(sf.read(audio[1], dtype="float32")[0], scale="corpus")
    np.testing.assert_allclose(one, corpus[1], atol=1e-5, rtol=0)


def test_scale_is_checked(checkpoints, audio):
    recognizer = Recognizer.from_checkpoint(checkpoints["regression"])
    with pytest.raises(ValueError, match="scale='percent'"):
        recognizer.predict_dimensions(audio[:1], scale="percent")


def test_regression_model_refuses_class_probabilities(checkpoints, audio):
    recognizer = Recognizer.from_checkpoint(checkpoints["regression"])
    for call in (recognizer.predict_proba, recognizer.predict, recognizer.analyse):
        with pytest.raises(
            ValueError, match=r"predicts emotion dimensions \(arousal, valence\).*predict_dimensions"
        ):
            call(audio[:1])
    with pytest.raises(ValueError, match="predict_dimensions"):
        recognizer.predict_waveform(np.zeros(RATE, dtype=np.float32))


def test_classifier_has_no_dimensions(audio, tmp_path):
    from test_batching import SETUPS, _checkpoint

    model, args, inputs = SETUPS["cnn_segments"]
    recognizer = Recognizer.from_checkpoint(_checkpoint(tmp_path, audio, model, args, inputs))
    assert recognizer.dimensions_ == [] and recognizer.task.kind == "classification"
    with pytest.raises(ValueError, match="predicts no emotion dimensions"):
        recognizer.predict_dimensions(audio[:1])
    probabilities, values, _ = recognizer.analyse_outputs(audio[:2])
    assert values.shape == (2, 0) and probabilities.shape == (2, len(LABELS))


def test_failed_file_gives_a_nan_row(checkpoints, audio, tmp_path):
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"not audio at all")
    recognizer = Recognizer.from_checkpoint(checkpoints["multitask"])
    probabilities, values, speech, failures = recognizer.analyse_each_outputs([audio[0], broken, audio[1]])
    assert list(failures) == [1]
    assert np.isnan(values[1]).all() and np.isnan(probabilities[1]).all() and not speech[1]
    np.testing.assert_allclose(values[[0, 2]], recognizer.predict_dimensions([audio[0], audio[1]]), atol=1e-6)


def _run_folder(root: Path, audio: list[Path], tasks: list[str]) -> Path:
    """A run folder of one finished run per task (seeds 0, 1, ...: different random weights)."""
    for seed, task in enumerate(tasks):
        path = dimension_checkpoint(
            root / "runs" / "fold0" / f"seed{seed}" / "best.pt", audio, task, seed=seed + 1
        )
        (path.parent / "metrics.json").write_text("{}", encoding="utf-8")
    return root


def test_ensemble_values_are_the_mean_of_its_members(audio, tmp_path):
    root = _run_folder(tmp_path / "run", audio, ["multitask", "multitask"])
    members = sorted(root.glob("runs/fold0/seed*/best.pt"))
    ensemble = Recognizer.from_run(root)
    assert len(ensemble.members) == 2
    single = [Recognizer.from_checkpoint(path).predict_dimensions(audio) for path in members]
    assert not np.allclose(single[0], single[1])
    np.testing.assert_allclose(ensemble.predict_dimensions(audio), (single[0] + single[1]) / 2, atol=1e-5)


def test_ensemble_members_must_share_the_task(audio, tmp_path):
    root = tmp_path / "mixed"
    dimension_checkpoint(root / "runs/f/seed0/best.pt", audio, "multitask")
    dimension_checkpoint(root / "runs/f/seed1/best.pt", audio, "multitask", dimension_range=[0.0, 1.0])
    for path in root.glob("runs/f/seed*/best.pt"):
        (path.parent / "metrics.json").write_text("{}", encoding="utf-8")
    with pytest.raises(CheckpointError, match="dimension_range differ"):
        Recognizer.from_run(root)
    dimension_checkpoint(root / "runs/f/seed1/best.pt", audio, "multitask", dimensions=["valence", "arousal"])
    with pytest.raises(CheckpointError, match="dimensions differ"):
        Recognizer.from_run(root)


def test_malformed_task_is_refused(audio, tmp_path):
    path = dimension_checkpoint(tmp_path / "bad.pt", audio, "regression", dimension_range=[5.0, 1.0])
    with pytest.raises(CheckpointError, match="low < high"):
        Recognizer.from_checkpoint(path)


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("task", ["regression", "multitask"])
def test_cli_csv_and_json_columns(checkpoints, audio, tmp_path, task):
    out = tmp_path / "p.csv"
    assert main(["predict", str(checkpoints[task]), *map(str, audio), "--format", "csv", "-o", str(out)]) == 0
    rows = _read_csv(out)
    header = list(rows[0])
    dims = ["arousal", "arousal_01", "valence", "valence_01"]
    if task == "regression":
        assert header == ["path", *dims, "speech"]
    else:
        assert header == ["path", "label", *[f"p_{c}" for c in LABELS], *dims, "speech"]
    values = Recognizer.from_checkpoint(checkpoints[task]).predict_dimensions(audio)
    got01 = np.array([[float(r["arousal_01"]), float(r["valence_01"])] for r in rows])
    got = np.array([[float(r["arousal"]), float(r["valence"])] for r in rows])
    np.testing.assert_allclose(got01, values, atol=2e-6)
    np.testing.assert_allclose(got, 1.0 + 4.0 * values, atol=1e-5)
    assert rows[-1]["speech"] == "False"

    out = tmp_path / "p.json"
    assert main(["predict", str(checkpoints[task]), str(audio[0]), "--format", "json", "-o", str(out)]) == 0
    answer = json.loads(out.read_text(encoding="utf-8"))
    assert answer["dimensions"] == DIMENSIONS and answer["dimension_range"] == RANGE
    assert answer["predictions"][0]["valence_01"] == pytest.approx(float(values[0, 1]), abs=1e-6)
    assert ("label" in answer["predictions"][0]) == (task == "multitask")

    out = tmp_path / "p.npz"
    assert (
        main(["predict", str(checkpoints[task]), *map(str, audio[:2]), "--format", "npz", "-o", str(out)])
        == 0
    )
    with np.load(out) as stored:
        np.testing.assert_allclose(stored["values_01"], values[:2], atol=1e-6)
        np.testing.assert_allclose(stored["values"], 1.0 + 4.0 * values[:2], atol=1e-5)
        assert stored["dimensions"].tolist() == DIMENSIONS


def test_timeline_gives_values_per_window(checkpoints, audio, tmp_path):
    recognizer = Recognizer.from_checkpoint(checkpoints["regression"])
    entries = list(recognizer.timeline(audio[2], window=1.0, hop=1.0))
    assert len(entries) == 3
    assert all(len(e.values) == 2 and e.probabilities == () and e.label == "" for e in entries)
    first = sf.read(audio[2], dtype="float32")[0][:RATE]
    np.testing.assert_allclose(entries[0].values, recognizer.predict_waveform_dimensions(first), atol=1e-5)
    out = tmp_path / "t.csv"
    argv = [
        "predict",
        str(checkpoints["regression"]),
        str(audio[2]),
        "--timeline",
        "--window",
        "1",
        "--hop",
        "1",
    ]
    assert main([*argv, "--format", "csv", "-o", str(out)]) == 0
    rows = _read_csv(out)
    assert list(rows[0]) == [
        "path",
        "start",
        "end",
        "arousal",
        "arousal_01",
        "valence",
        "valence_01",
        "speech",
    ]
    assert float(rows[0]["valence_01"]) == pytest.approx(entries[0].values[1], abs=1e-6)


@pytest.mark.parametrize("task", ["regression", "multitask"])
def test_model_folder_round_trip(checkpoints, audio, tmp_path, task):
    pytest.importorskip("safetensors", reason="model folders need safetensors")
    from serkit.inference.model_folder import export_folder

    config, _ = export_folder(checkpoints[task], tmp_path / "folder")
    stored = json.loads((tmp_path / "folder" / "config.json").read_text(encoding="utf-8"))
    assert (
        stored["task"] == task and stored["dimensions"] == DIMENSIONS and stored["dimension_range"] == RANGE
    )
    loaded = Recognizer.from_checkpoint(tmp_path / "folder")
    original = Recognizer.from_checkpoint(checkpoints[task])
    np.testing.assert_allclose(
        loaded.predict_dimensions(audio), original.predict_dimensions(audio), atol=1e-6
    )
    card = (tmp_path / "folder" / "README.md").read_text(encoding="utf-8")
    assert "arousal" in card and "valence" in card and "1-5" in card
    assert "CCC" in card


def test_model_card_reports_dimension_metrics(checkpoints, audio, tmp_path):
    pytest.importorskip("safetensors", reason="model folders need safetensors")
    from serkit.inference.model_folder import export_folder

    run = tmp_path / "run" / "runs" / "fold0" / "seed0"
    dimension_checkpoint(run / "best.pt", audio, "regression")
    metrics = {
        "fold": "fold0",
        "seed": 0,
        "metrics": {
            "ccc": 0.512,
            "ccc_arousal": 0.6,
            "ccc_valence": 0.424,
            "pearson_arousal": 0.7,
            "mae_valence": 0.3,
            "dimensions": DIMENSIONS,
        },
    }
    (run / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    export_folder(run / "best.pt", tmp_path / "folder")
    card = (tmp_path / "folder" / "README.md").read_text(encoding="utf-8")
    assert (
        "| ccc | 0.5120 | 1 |" in card
        and "| ccc_valence | 0.4240 | 1 |" in card
        and "| mae_valence |" in card
    )
    front = card.split("---")[1]
    assert "audio-classification" not in front and "emotion-dimensions" in front  # no classes
    assert "## Labels" not in card and "## Dimensions" in card and "predict_dimensions" in card


def test_cli_export_folder_says_the_dimensions(checkpoints, tmp_path, capsys):
    pytest.importorskip("safetensors", reason="model folders need safetensors")
    out = tmp_path / "m"
    assert main(["export", str(checkpoints["regression"]), "--format", "folder", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "dimensions arousal, valence (on [0, 1]; corpus scale 1-5)" in printed and "classes" not in printed


@pytest.mark.parametrize("task", ["regression", "multitask"])
def test_segments_give_values_per_region(checkpoints, tmp_path, task):
    from test_vad import _syllables, _with_silences  # skips without silero-vad

    from serkit.audio.vad import SileroVad
    from serkit.inference.segments import file_segments

    path = tmp_path / "talk.wav"
    sf.write(path, _with_silences([_syllables(2.0, 4), _syllables(1.5, 5)], [1.0, 1.5, 0.8]), RATE)
    recognizer = Recognizer.from_checkpoint(checkpoints[task])
    segments = file_segments(recognizer, path, vad=SileroVad())
    assert len(segments) >= 2
    waveform = sf.read(path, dtype="float32")[0]
    for segment in segments:
        assert len(segment.values) == 2 and (segment.label == "") == (task == "regression")
    first = segments[0]
    region = waveform[round(first.start * RATE) : round(first.end * RATE)]
    np.testing.assert_allclose(first.values, recognizer.predict_waveform_dimensions(region), atol=1e-5)
    out = tmp_path / "s.csv"
    assert (
        main(["predict", str(checkpoints[task]), str(path), "--segments", "--format", "csv", "-o", str(out)])
        == 0
    )
    rows = _read_csv(out)
    assert len(rows) == len(segments) and float(rows[0]["arousal_01"]) == pytest.approx(
        first.values[0], abs=1e-6
    )
    assert ("label" in rows[0]) == (task == "multitask")
