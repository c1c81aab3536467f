"""Prediction in batches of files (``serkit predict --batch-size``): the same numbers as one file at a time, and a
file that fails in a batch is reported alone while the others are predicted.

The checkpoints are random-weight models saved in the format ``serkit train`` writes (no training needed): what is
compared is batched against one-by-one prediction of the same model.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import serkit.inference.streaming as streaming
from serkit.cli import build_parser, main
from serkit.cli import predict as predict_cli
from serkit.config import InputConfig
from serkit.features.base import feature_from_dict
from serkit.features.pipeline import InputPipeline, Normalizer
from serkit.inference.export import DEFAULT_BATCH_FILES, prediction_rows, write_predictions
from serkit.inference.recognizer import Recognizer
from serkit.models import create_model
from serkit.training.checkpoint import save_checkpoint

RATE = 16000
LABELS = ["neutral", "happy", "sad", "angry"]


def _speechlike(seconds: float, seed: int) -> np.ndarray:
    """A gliding harmonic tone with a little noise, different for every seed."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * RATE)) / RATE
    pitch = rng.uniform(100, 250) + 40 * np.sin(2 * np.pi * rng.uniform(0.2, 2.0) * t)
    phase = 2 * np.pi * np.cumsum(pitch) / RATE
    voiced = sum(np.sin(k * phase) / k for k in range(1, 6)) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    return (0.1 * voiced + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


@pytest.fixture(scope="module")
def audio(tmp_path_factory) -> list[Path]:
    """Eleven files: lengths 0.6 to 4 s, one silent, one at 8 kHz (resampled when read)."""
    folder = tmp_path_factory.mktemp("audio")
    files = []
    for i, seconds in enumerate([1.0, 2.5, 0.6, 4.0, 1.3, 3.1, 2.0, 1.7, 2.2]):
        files.append(folder / f"f{i}.wav")
        sf.write(files[-1], _speechlike(seconds, i), RATE)
    files.append(folder / "silent.wav")
    sf.write(files[-1], np.zeros(RATE, dtype=np.float32), RATE)
    files.append(folder / "slow.flac")
    sf.write(files[-1], _speechlike(1.5, 99)[::2], RATE // 2)
    return files


def _checkpoint(folder: Path, audio: list[Path], model: str, args: dict, inputs: InputConfig) -> Path:
    """A random-weight checkpoint of ``model`` with a standardizer fitted on ``audio``."""
    torch.manual_seed(0)
    feature = feature_from_dict({"name": "mfcc", "n_mfcc": 26})
    pipeline = InputPipeline(feature, inputs)
    chunks = [
        c for path in audio[:4] for c in pipeline.chunks_from_waveform(sf.read(path, dtype="float32")[0])
    ]
    network = create_model(model, num_classes=len(LABELS), **args)
    path = folder / f"{model}_{inputs.mode}.pt"
    save_checkpoint(
        path,
        {
            "serkit_version": "test",
            "model_name": model,
            "model_args": {"num_classes": len(LABELS), **args},
            "label_names": LABELS,
            "feature": feature.to_dict(),
            "input": dataclasses.asdict(inputs),
            "standardizer": Normalizer.fit(chunks).to_dict(),
            "epoch": 1,
            "state_dict": network.state_dict(),
        },
    )
    return path


#: (model, args, input config): segment models (GLAM's 1.8 s windows) and a whole-utterance model, whose
#: batches pad utterances of different lengths.
SETUPS = {
    "glam_segments": ("glam", {}, InputConfig(window=1.8, hop=0.2, eval_hop=0.2)),
    "cnn_segments": ("cnn_small", {"num_features": 26}, InputConfig(window=1.0, hop=0.25, eval_hop=0.25)),
    "cnn_utterance": ("cnn_small", {"num_features": 26}, InputConfig(mode="utterance")),
}


@pytest.fixture(scope="module", params=sorted(SETUPS))
def recognizer(request, audio, tmp_path_factory) -> Recognizer:
    model, args, inputs = SETUPS[request.param]
    return Recognizer.from_checkpoint(
        _checkpoint(tmp_path_factory.mktemp("ckpt"), audio, model, args, inputs)
    )


def _probabilities(rows: list[dict]) -> np.ndarray:
    return np.array([[row[f"p_{c}"] for c in LABELS] for row in rows])


@pytest.mark.parametrize("batch_size", [2, 4, DEFAULT_BATCH_FILES])
def test_batched_prediction_equals_one_file_at_a_time(recognizer: Recognizer, audio: list[Path], batch_size):
    alone = list(prediction_rows(recognizer, audio, batch_size=1))
    batched = list(prediction_rows(recognizer, audio, batch_size=batch_size))
    assert [row["path"] for row in batched] == [str(path) for path in audio]
    np.testing.assert_allclose(_probabilities(batched), _probabilities(alone), atol=1e-6, rtol=0)
    assert [(r["label"], r["speech"]) for r in batched] == [(r["label"], r["speech"]) for r in alone]
    assert batched[-2]["speech"] is False and batched[-2]["label"] == "no_speech"  # the silent file

    probabilities, speech, failures = recognizer.analyse_each(audio)
    assert failures == {}
    single = np.concatenate([recognizer.analyse([path])[0] for path in audio])  # the public one-file call
    np.testing.assert_allclose(probabilities, single, atol=1e-6, rtol=0)
    np.testing.assert_allclose(probabilities, _probabilities(alone), atol=1e-6, rtol=0)
    assert speech.tolist() == [r["speech"] for r in alone]


def test_small_model_batches_do_not_change_the_numbers(recognizer: Recognizer, audio: list[Path]):
    """Chunks of one file split over several model batches (batch_size of the recogniser: chunks)."""
    reference = recognizer.analyse_each(audio)[0]
    recognizer.batch_size, kept = 3, recognizer.batch_size
    try:
        np.testing.assert_allclose(recognizer.analyse_each(audio)[0], reference, atol=1e-6, rtol=0)
    finally:
        recognizer.batch_size = kept


def test_long_files_in_a_batch_are_streamed_block_by_block(recognizer: Recognizer, audio, monkeypatch):
    """Files longer than STREAM_SECONDS are read in blocks inside a batch too: segments give the whole-file result."""
    whole = recognizer.analyse_each(audio)[0]
    monkeypatch.setattr(streaming, "STREAM_SECONDS", 2.3)  # 2.5, 3.1 and 4 s files: two blocks each
    streamed = recognizer.analyse_each(audio)[0]
    if recognizer.pipeline.inputs.mode == "segments":
        np.testing.assert_allclose(streamed, whole, atol=1e-6, rtol=0)
    alone = np.concatenate([recognizer.analyse([path])[0] for path in audio])
    np.testing.assert_allclose(streamed, alone, atol=1e-6, rtol=0)


@pytest.fixture(scope="module")
def bad_files(audio: list[Path], tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bad")
    truncated = folder / "truncated.flac"
    sf.write(truncated, _speechlike(2.0, 5), RATE)
    truncated.write_bytes(truncated.read_bytes()[:200])
    garbage = folder / "garbage.wav"
    garbage.write_bytes(b"not audio at all" * 10)
    return {"truncated": truncated, "garbage": garbage}


def test_a_bad_file_in_a_batch_is_reported_alone(recognizer: Recognizer, audio, bad_files):
    files = [audio[0], bad_files["truncated"], audio[1], audio[3], bad_files["garbage"], audio[5]]
    good = [path for path in files if path not in bad_files.values()]
    expected = _probabilities(list(prediction_rows(recognizer, good, batch_size=1)))
    for batch_size in (1, 3, 16):
        failures: list[str] = []
        rows = list(prediction_rows(recognizer, files, batch_size=batch_size, failures=failures))
        assert [row["path"] for row in rows] == [str(path) for path in good]
        np.testing.assert_allclose(_probabilities(rows), expected, atol=1e-6, rtol=0)
        assert len(failures) == 2
        assert str(bad_files["truncated"]) in failures[0] and str(bad_files["garbage"]) in failures[1]

    probabilities, speech, errors = recognizer.analyse_each(files)
    assert sorted(errors) == [1, 4] and np.isnan(probabilities[[1, 4]]).all() and not speech[[1, 4]].any()
    np.testing.assert_allclose(probabilities[[0, 2, 3, 5]], expected, atol=1e-6, rtol=0)
    with pytest.raises(Exception, match="truncated"):  # without a failure list, the first bad file raises
        list(prediction_rows(recognizer, files, batch_size=16))


def test_a_file_too_short_to_classify_fails_alone(audio: list[Path], tmp_path: Path):
    """short_policy=drop: a file shorter than one window gives no chunk, a ValueError naming it, the rest go on."""
    inputs = InputConfig(window=1.0, hop=0.25, eval_hop=0.25, short_policy="drop")
    recognizer = Recognizer.from_checkpoint(
        _checkpoint(tmp_path, audio, "cnn_small", {"num_features": 26}, inputs)
    )
    files = [audio[0], audio[2], audio[1]]  # audio[2] is 0.6 s
    failures: list[str] = []
    rows = list(prediction_rows(recognizer, files, batch_size=8, failures=failures))
    assert [row["path"] for row in rows] == [str(audio[0]), str(audio[1])]
    assert len(failures) == 1 and str(audio[2]) in failures[0] and "shorter than one" in failures[0]


def test_a_failing_model_batch_is_retried_file_by_file(recognizer: Recognizer, audio, monkeypatch):
    """A failure no single file can be blamed for from the batch: each file again alone, each failure its own."""
    poisoned = {str(audio[1]), str(audio[4])}
    real = Recognizer.analyse_each

    def analyse_each(self, files, texts=None):
        if any(str(path) in poisoned for path in files):
            raise ValueError("the model cannot take this input")
        return real(self, files, texts)

    expected = list(prediction_rows(recognizer, audio[:6], batch_size=1, failures=[]))
    monkeypatch.setattr(Recognizer, "analyse_each", analyse_each)
    failures: list[str] = []
    rows = list(prediction_rows(recognizer, audio[:6], batch_size=4, failures=failures))
    assert [r["path"] for r in rows] == [r["path"] for r in expected if r["path"] not in poisoned]
    assert failures == [
        f"{audio[1]}: the model cannot take this input",
        f"{audio[4]}: the model cannot take this input",
    ]


def test_write_predictions_exit_code_and_failure_lines(recognizer, audio, bad_files, tmp_path, capsys):
    files = [audio[0], bad_files["garbage"], audio[1]]
    out = tmp_path / "p.csv"
    assert write_predictions(recognizer, files, output=out, fmt="csv", batch_size=2) == 1
    lines = out.read_text().splitlines()
    assert len(lines) == 3 and lines[1].startswith(str(audio[0])) and lines[2].startswith(str(audio[1]))
    err = capsys.readouterr().err
    assert err.count("FAILED") == 1 and str(bad_files["garbage"]) in err and "1 of 3 files failed" in err


def test_cli_batch_size(audio: list[Path], tmp_path: Path, capsys):
    assert (
        predict_cli.DEFAULT_BATCH_FILES == DEFAULT_BATCH_FILES
    )  # written out there to keep torch unimported
    args = build_parser().parse_args(["predict", "m.pt", "a.wav"])
    assert (args.batch_size, args.threads) == (DEFAULT_BATCH_FILES, 0)
    for option, bad in [("--batch-size", b) for b in ("0", "-3", "two", "1.5")] + [("--threads", "-1")]:
        with pytest.raises(SystemExit) as caught:
            build_parser().parse_args(["predict", "m.pt", "a.wav", option, bad])
        assert caught.value.code == 2
        assert option in capsys.readouterr().err

    model, args_, inputs = SETUPS["cnn_segments"]
    checkpoint = _checkpoint(tmp_path, audio, model, args_, inputs)
    outputs = []
    for batch_size in ("1", "5"):
        out = tmp_path / f"b{batch_size}.csv"
        argv = ["predict", str(checkpoint), *map(str, audio), "--batch-size", batch_size, "--threads", "1"]
        assert main([*argv, "--format", "csv", "-o", str(out)]) == 0
        outputs.append(out.read_text())
    assert outputs[0] == outputs[1]
