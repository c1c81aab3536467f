"""Safety and first use of the inference API: inputs, silence, long files, run folders, checkpoint checks."""

from __future__ import annotations

import shutil
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import serkit.audio.io as audio_io
import serkit.inference.streaming as streaming
from serkit.cli import main
from serkit.core.errors import AudioFileNotFoundError, EmptyAudioError, NoAudioFilesError, NonFiniteAudioError
from serkit.features.pipeline import InputPipeline
from serkit.inference.export import prediction_rows, write_predictions
from serkit.inference.recognizer import (
    NO_SPEECH,
    Recognizer,
    expand_audio_paths,
    find_run_checkpoints,
    speech_activity,
)
from serkit.recipe import load_experiment
from serkit.training.checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_model_checkpoint,
    save_checkpoint,
)
from serkit.training.runner import run_experiment

sys.path.insert(
    0, str(Path(__file__).resolve().parents[1] / "training")
)  # the tiny recipe of the runner tests
from tiny_runs import tiny_corpus, tiny_recipe  # noqa: E402

RATE = 16000


def _train(corpus: Path, out: Path, **changes) -> Path:
    recipe = tiny_recipe(corpus, train={"epochs": 1, "threads": 1})
    recipe["protocol"]["folds"] = [0]
    recipe.update(changes)
    run_experiment(load_experiment(base=recipe), out)
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return tiny_corpus(tmp_path_factory.mktemp("synthetic"))


@pytest.fixture(scope="module")
def run_dir(corpus: Path, tmp_path_factory) -> Path:
    """A finished segments-mode run: 1 fold x seeds 0 and 1 (two best.pt)."""
    return _train(corpus, tmp_path_factory.mktemp("run"))


@pytest.fixture(scope="module")
def best(run_dir: Path) -> Path:
    return sorted(run_dir.glob("runs/*/seed0/best.pt"))[0]


@pytest.fixture(scope="module")
def recognizer(best: Path) -> Recognizer:
    return Recognizer.from_checkpoint(best)


def _speechlike(seconds: float, seed: int = 0, level: float = 0.1) -> np.ndarray:
    """A gliding, amplitude-modulated harmonic tone plus a little noise: voiced-like, at a normal level."""
    t = np.arange(round(seconds * RATE)) / RATE
    pitch = 150 + 40 * np.sin(2 * np.pi * 0.3 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / RATE
    voiced = sum(np.sin(k * phase) / k for k in range(1, 6)) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    noise = np.random.default_rng(seed).standard_normal(len(t))
    return (level * voiced + 0.1 * level * noise).astype(np.float32)


def _write(path: Path, waveform: np.ndarray, rate: int = RATE) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, waveform, rate)
    return path


# ------------------------------------------------------------------------------------------------ input paths


def test_a_single_path_is_one_file_not_its_characters(recognizer: Recognizer, corpus: Path):
    file = sorted((corpus / "audio").glob("*.flac"))[0]
    expected = recognizer.predict([file])
    assert recognizer.predict(str(file)) == expected
    assert recognizer.predict(file) == expected
    assert recognizer.predict_proba(str(file)).shape == (1, 4)
    assert expand_audio_paths(str(file)) == [file]


def test_empty_folder_and_missing_path_are_named(best: Path, tmp_path: Path, capsys):
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "notes.txt").write_text("no audio here")
    with pytest.raises(NoAudioFilesError) as caught:
        expand_audio_paths([empty])
    assert isinstance(caught.value, ValueError) and str(empty) in str(caught.value)
    assert all(ext in str(caught.value) for ext in audio_io.AUDIO_EXTENSIONS)
    with pytest.raises(AudioFileNotFoundError, match="nothere.wav"):
        expand_audio_paths(["a_folder_typo/nothere.wav"])

    capsys.readouterr()
    assert main(["predict", str(best), str(empty)]) != 0
    captured = capsys.readouterr()
    assert str(empty) in captured.err and ".flac" in captured.err
    assert captured.out == ""  # failed before printing a header


# ------------------------------------------------------------------------------------------------- waveforms


def test_predict_waveform_converts_integer_pcm_channels_tensors_and_rates(recognizer: Recognizer):
    waveform = _speechlike(2.0)
    reference = recognizer.predict_waveform(waveform)
    assert reference.shape == (4,) and np.isclose(reference.sum(), 1.0)
    int16 = np.round(waveform * 32767).astype(np.int16)
    np.testing.assert_allclose(recognizer.predict_waveform(int16), reference, atol=1e-3)
    int32 = int16.astype(np.int32) * 65536
    np.testing.assert_allclose(
        recognizer.predict_waveform(int32), recognizer.predict_waveform(int16), atol=1e-6
    )
    stereo = np.stack([waveform, waveform], axis=1)  # (samples, channels)
    np.testing.assert_allclose(recognizer.predict_waveform(stereo), reference, atol=1e-6)
    np.testing.assert_allclose(recognizer.predict_waveform(torch.from_numpy(waveform)), reference, atol=1e-6)

    slow = audio_io.resample(waveform, RATE, 8000)
    resampled = recognizer.predict_waveform(slow, sample_rate=8000)
    np.testing.assert_allclose(
        resampled, recognizer.predict_waveform(audio_io.resample(slow, 8000, RATE)), atol=1e-6
    )
    assert np.abs(resampled - recognizer.predict_waveform(slow)).max() > 0  # the rate was not ignored


@pytest.mark.parametrize(
    "bad, error, message",
    [
        (np.array([0.1, np.nan, 0.2] * 4000, dtype=np.float32), NonFiniteAudioError, "waveform: 4000 sample"),
        (np.array([0.1, np.inf] * 6000), NonFiniteAudioError, "NaN or infinite"),
        (np.zeros(0, dtype=np.float32), EmptyAudioError, "waveform: has no samples"),
        (np.zeros((2, 16000), dtype=np.float32), ValueError, r"waveform\.T"),
        (np.zeros((10, 10, 10), dtype=np.float32), ValueError, "shape"),
        (np.array(["a", "b"]), TypeError, "dtype"),
    ],
)
def test_bad_waveforms_are_refused_clearly(recognizer: Recognizer, bad, error, message):
    with pytest.raises(error, match=message):
        recognizer.predict_waveform(bad)


# --------------------------------------------------------------------------------------------- speech gate


def test_silence_and_quiet_noise_are_flagged_and_speech_is_not(
    recognizer: Recognizer, corpus: Path, tmp_path: Path
):
    rng = np.random.default_rng(1)
    silent = [
        _write(tmp_path / "digital_silence.wav", np.zeros(2 * RATE, dtype=np.float32)),
        _write(tmp_path / "quiet_noise.wav", (0.0005 * rng.standard_normal(2 * RATE)).astype(np.float32)),
        _write(tmp_path / "dc_offset.wav", np.full(2 * RATE, 0.2, dtype=np.float32)),
    ]
    loud = [
        _write(tmp_path / "speechlike.wav", _speechlike(2.0)),
        _write(tmp_path / "noise.wav", (0.05 * rng.standard_normal(2 * RATE)).astype(np.float32)),
    ]
    synthetic = sorted((corpus / "audio").glob("*.flac"))
    probabilities, speech = recognizer.analyse([*silent, *loud, *synthetic])
    assert speech.tolist() == [False] * 3 + [True] * (2 + len(synthetic))
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)  # probabilities kept, silence or not

    labels = recognizer.predict([*silent, *loud])
    assert labels[:3] == [NO_SPEECH] * 3 and NO_SPEECH not in labels[3:]
    np.testing.assert_allclose(
        recognizer.predict_proba(silent), probabilities[:3], atol=1e-6
    )  # raw, not gated
    assert not recognizer.is_speech(np.full(RATE, 128, dtype=np.uint8))  # unsigned PCM silence
    assert speech_activity(np.zeros(RATE, dtype=np.float32), RATE) == (0, 40)

    rows = list(prediction_rows(recognizer, [silent[0], loud[0]]))
    assert [(r["label"], r["speech"]) for r in rows] == [(NO_SPEECH, False), (labels[3], True)]
    assert all(f"p_{c}" in rows[0] for c in recognizer.classes_)


def test_timeline_windows_carry_the_speech_flag(recognizer: Recognizer, tmp_path: Path, capsys):
    waveform = np.concatenate(
        [_speechlike(3.0), np.zeros(3 * RATE, dtype=np.float32), _speechlike(3.0, seed=1)]
    )
    path = _write(tmp_path / "talk_pause_talk.wav", waveform)
    entries = list(recognizer.timeline(path, window=3.0, hop=3.0))
    assert [e.speech for e in entries] == [True, False, True]
    assert entries[1].label == NO_SPEECH and entries[0].label != NO_SPEECH
    assert np.isclose(sum(entries[1].probabilities), 1.0, atol=1e-5)

    assert write_predictions(recognizer, [path], fmt="csv", timeline=True, window=3.0, hop=3.0) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].endswith(",speech") and lines[2].split(",")[3] == NO_SPEECH and lines[2].endswith("False")


# ------------------------------------------------------------------------------------------------ long files


def _record_loads(monkeypatch) -> dict[str, int]:
    largest = {"samples": 0, "calls": 0}
    real_load = audio_io.load

    def recording_load(*args, **kwargs):
        waveform = real_load(*args, **kwargs)
        largest["samples"] = max(largest["samples"], len(waveform))
        largest["calls"] += 1
        return waveform

    monkeypatch.setattr(audio_io, "load", recording_load)
    return largest


@pytest.mark.parametrize("file_rate", [RATE, 22050])  # 22.05 kHz: blocks are resampled with a margin
def test_long_file_streamed_in_blocks_equals_reading_it_whole(
    recognizer: Recognizer, tmp_path: Path, monkeypatch, file_rate: int
):
    waveform = _speechlike(125.0, level=0.05)
    if file_rate != RATE:
        waveform = audio_io.resample(waveform, RATE, file_rate)
    path = _write(tmp_path / "two_minutes.wav", waveform, file_rate)
    whole, whole_speech = recognizer.analyse(path)  # 125 s > STREAM_SECONDS (60 s): already streamed ...

    monkeypatch.setattr(streaming, "STREAM_SECONDS", 1000.0)  # ... so compare with one whole read
    largest = _record_loads(monkeypatch)
    unstreamed, _ = recognizer.analyse(path)
    assert largest["calls"] == 1

    monkeypatch.setattr(streaming, "STREAM_SECONDS", 7.3)  # blocks not a multiple of the hop
    largest.update(samples=0, calls=0)
    streamed, streamed_speech = recognizer.analyse(path)
    assert (
        largest["calls"] > 15 and largest["samples"] <= 7.6 * RATE
    )  # a block (+ 0.1 s margins if resampled)
    np.testing.assert_allclose(streamed, unstreamed, rtol=0, atol=1e-6)
    np.testing.assert_allclose(whole, unstreamed, rtol=0, atol=1e-6)
    assert whole_speech.tolist() == streamed_speech.tolist() == [True]


def test_long_waveform_in_memory_is_processed_in_blocks(recognizer: Recognizer, monkeypatch):
    waveform = _speechlike(30.0)
    reference = recognizer.predict_waveform(waveform)
    monkeypatch.setattr(streaming, "STREAM_SECONDS", 4.0)
    assert len(recognizer._blocks(len(waveform))) > 5
    np.testing.assert_allclose(recognizer.predict_waveform(waveform), reference, rtol=0, atol=1e-6)


def test_utterance_mode_reads_only_what_the_model_uses(corpus: Path, tmp_path: Path, monkeypatch):
    run = _train(corpus, tmp_path / "run", input={"mode": "utterance"}, seeds=[0])
    recognizer = Recognizer.from_checkpoint(run)
    path = _write(tmp_path / "long.wav", _speechlike(35.0))
    monkeypatch.setattr(streaming, "STREAM_SECONDS", 10.0)
    largest = _record_loads(monkeypatch)
    probabilities = recognizer.predict_proba(path)  # unlimited: the mean over 4 blocks of 8.75 s
    assert largest["calls"] == 4 and largest["samples"] <= 10 * RATE
    assert np.isclose(probabilities.sum(), 1.0, atol=1e-5)

    # with input.eval_max_seconds the model sees the first seconds only, and only those are read
    inputs = replace(recognizer.pipeline.inputs, eval_max_seconds=4.0)
    recognizer.pipeline = InputPipeline(recognizer.pipeline.feature, inputs)
    largest.update(samples=0, calls=0)
    limited = recognizer.predict_proba(path)
    assert largest["calls"] == 1 and largest["samples"] == 4 * RATE
    first_seconds = sf.read(path, dtype="float32", frames=4 * RATE)[0]
    np.testing.assert_allclose(limited[0], recognizer.predict_waveform(first_seconds), atol=1e-6)


# ----------------------------------------------------------------------------------------- run folder models


def test_run_folder_is_an_ensemble_of_its_finished_runs(run_dir: Path, tmp_path: Path, corpus: Path, capsys):
    files = sorted((corpus / "audio").glob("*.flac"))[:4]
    checkpoints = find_run_checkpoints(run_dir)
    assert [p.parent.name for p in checkpoints] == ["seed0", "seed1"]
    ensemble = Recognizer.from_checkpoint(run_dir)
    assert len(ensemble.members) == 2 and Recognizer.from_run(run_dir).classes_ == ensemble.classes_
    members = [Recognizer.from_checkpoint(p).predict_proba(files) for p in checkpoints]
    np.testing.assert_allclose(ensemble.predict_proba(files), np.mean(members, axis=0), atol=1e-6)

    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    stage = (
        copy / "runs" / checkpoints[0].parent.parent.name / "seed0" / "cnn"
    )  # an earlier stage: not a member
    stage.mkdir()
    shutil.copy(checkpoints[0], stage / "best.pt")
    (stage / "metrics.json").write_text("{}")
    unfinished = copy / "runs" / "fold9" / "seed0"  # still training: left out
    unfinished.mkdir(parents=True)
    shutil.copy(checkpoints[0], unfinished / "best.pt")
    assert len(Recognizer.from_checkpoint(copy).members) == 2
    assert main(["predict", str(copy), str(files[0]), "--format", "csv"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 2

    other = sorted(copy.glob("runs/*/seed1/best.pt"))[0]
    checkpoint = load_checkpoint(other)
    checkpoint["label_names"] = list(reversed(checkpoint["label_names"]))
    save_checkpoint(other, checkpoint)
    with pytest.raises(CheckpointError) as caught:
        Recognizer.from_checkpoint(copy)
    assert (
        "label_names" in str(caught.value)
        and "seed0" in str(caught.value)
        and str(other) in str(caught.value)
    )

    with pytest.raises(CheckpointError, match="no finished run"):
        Recognizer.from_checkpoint(tmp_path / "copy" / "runs" / "fold9")


# ---------------------------------------------------------------------------------------- checkpoint checks


class _Custom:
    pass


@pytest.mark.parametrize(
    "payload",
    [
        {"state_dict": {}, "extra": _Custom()},
        torch.nn.Linear(2, 2),
    ],
)
def test_pickled_checkpoint_is_refused_without_unsafe_advice(tmp_path: Path, payload):
    path = tmp_path / "pickled.pt"
    torch.save(payload, path)
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(path)
    message = str(caught.value)
    assert str(path) in message and "pickled Python objects" in message and "weights-only" in message
    assert "weights_only" not in message  # torch's hint tells users to load with weights_only=False


def test_damaged_checkpoint_message_has_no_unsafe_advice(best: Path, tmp_path: Path):
    for name, data in (("garbage.pt", b"not a checkpoint at all " * 20), ("cut.pt", best.read_bytes()[:300])):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(CheckpointError) as caught:
            Recognizer.from_checkpoint(tmp_path / name)
        assert str(tmp_path / name) in str(caught.value) and "weights_only" not in str(caught.value)


def _edit(best: Path, tmp_path: Path, edit) -> Path:
    checkpoint = load_checkpoint(best)
    edit(checkpoint)
    path = tmp_path / "edited" / "best.pt"
    path.parent.mkdir(exist_ok=True)
    save_checkpoint(path, checkpoint)
    return path


def _set(section: str, **values):
    return lambda checkpoint: checkpoint[section].update(values)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda c: c.update(model_name="cnn_huge"), "'cnn_huge' is not a registered model"),
        (lambda c: c.update(label_names=["neutral", "happy", "sad"]), "3 names .* num_classes=4"),
        (_set("feature", n_mfcc=20), "feature/input config does not match the model weights"),
        (
            lambda c: (c["feature"].update(n_mfcc=20), c.update(standardizer=None)),
            "feature/input config does not match the model weights",
        ),
        (_set("model_args", channels=[8]), "metadata .* does not match the weights: size mismatch"),
        (lambda c: c["state_dict"].pop("head.bias"), "missing weights: head.bias"),
        (lambda c: c["state_dict"].update(extra=torch.zeros(2)), "unexpected weights: extra"),
        (_set("model_args", no_such_arg=1), "cannot be built"),
        (lambda c: c.pop("input"), r"lacks \['input'\]"),
    ],
)
def test_edited_checkpoint_is_refused_naming_the_file(best: Path, tmp_path: Path, edit, message):
    path = _edit(best, tmp_path, edit)
    with pytest.raises(CheckpointError, match=message) as caught:
        Recognizer.from_checkpoint(path)
    assert str(path) in str(caught.value)


def test_good_checkpoints_pass_every_check(run_dir: Path, corpus: Path):
    for path in find_run_checkpoints(run_dir):
        checkpoint, model = load_model_checkpoint(path)
        assert model.num_classes == len(checkpoint["label_names"]) and not model.training
        recognizer = Recognizer.from_checkpoint(path)
        assert recognizer.predict(sorted((corpus / "audio").glob("*.flac"))[:2])[0] in recognizer.classes_


# ------------------------------------------------------------------------------------------------- failures


def test_every_failed_file_is_listed_and_counted(
    recognizer: Recognizer, corpus: Path, tmp_path: Path, capsys
):
    good = sorted((corpus / "audio").glob("*.flac"))[:3]
    bad = []
    for index in range(12):
        path = tmp_path / f"broken_{index:02d}.wav"
        path.write_text("not audio")
        bad.append(path)
    output = tmp_path / "predictions.csv"
    assert write_predictions(recognizer, [*good, *bad], output=output, fmt="csv") == 1
    err = capsys.readouterr().err.strip().splitlines()
    failed = [line for line in err if line.startswith("FAILED")]
    assert len(failed) == 12 and all(sum(str(p) in line for line in failed) == 1 for p in bad)
    assert err[-1] == "12 of 15 files failed"
    assert len(output.read_text().strip().splitlines()) == 1 + 3


# ------------------------------------------------------------------------------------------- global torch state


def _flushes_denormals() -> bool:
    return bool((torch.tensor([1e-39], dtype=torch.float32) * 1.0).item() == 0.0)


def test_loading_a_recognizer_leaves_global_torch_state_alone(best: Path):
    """Global torch settings belong to the entry point: only configure_torch() flushes denormals."""
    from serkit.inference import configure_torch

    before = _flushes_denormals()
    try:
        torch.set_flush_denormal(False)
        Recognizer.from_checkpoint(best)
        assert not _flushes_denormals()
        configure_torch()
        assert _flushes_denormals() or not torch.set_flush_denormal(True)  # CPUs without the mode: a no-op
    finally:
        torch.set_flush_denormal(before)
