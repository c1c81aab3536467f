"""ONNX export (``serkit export``) and the torch-free runtime (``serkit.runtime``, ``serkit predict model.onnx``).

A tiny GLAM is trained on the synthetic corpus (seconds), exported with its MFCC front end and global
normalisation, and onnxruntime's probabilities are compared with the torch recogniser's (float32) on generated
audio and on real RAVDESS files (skipped when ../shared/data/ravdess is absent).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from serkit.cli import main
from serkit.config import InputConfig
from serkit.core.errors import AudioError, ExportError, ModelFileError
from serkit.features.base import feature_from_dict
from serkit.features.graph import feature_graph
from serkit.features.pipeline import InputPipeline, Normalizer
from serkit.inference.onnx_export import check_exportable, choose_checkpoint, export_onnx
from serkit.inference.recognizer import Recognizer
from serkit.models import create_model
from serkit.recipe import load_experiment
from serkit.runtime import ModelCard, OnnxRecognizer
from serkit.training.checkpoint import save_checkpoint
from serkit.training.runner import run_experiment

sys.path.insert(
    0, str(Path(__file__).resolve().parents[1] / "training")
)  # the tiny corpus of the runner tests
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models"))  # TINY model configurations
from test_all_models import TINY  # noqa: E402
from tiny_runs import tiny_corpus, tiny_recipe  # noqa: E402
from torch_blocked import run_without_torch  # noqa: E402

RAVDESS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ravdess"
TOLERANCE = 1e-4  # max abs difference of probabilities, onnxruntime vs torch, float32


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return tiny_corpus(tmp_path_factory.mktemp("synthetic"))


@pytest.fixture(scope="module")
def run_dir(corpus: Path, tmp_path_factory) -> Path:
    """GLAM on 26 MFCCs of 1 s windows, global normalisation, 1 fold x seeds 0 and 1, one epoch each."""
    recipe = tiny_recipe(
        corpus, train={"epochs": 1, "threads": 1, "mixup_alpha": 0.0}, model={"name": "glam"}
    )
    recipe["protocol"]["folds"] = [0]
    recipe["input"] = {"window": 1.0, "hop": 0.25, "eval_hop": 0.25}
    recipe["features"] = {"name": "mfcc", "n_mfcc": 26}
    out = tmp_path_factory.mktemp("run")
    run_experiment(load_experiment(base=recipe), out)
    return out


@pytest.fixture(scope="module")
def exported(run_dir: Path, tmp_path_factory) -> tuple[Path, ModelCard]:
    path = tmp_path_factory.mktemp("onnx") / "model.onnx"
    return path, export_onnx(run_dir, path)


@pytest.fixture(scope="module")
def audio(tmp_path_factory) -> list[Path]:
    """Generated speech-like files: 16 kHz mono of several lengths (one shorter than a window), 22.05 kHz stereo."""
    folder = tmp_path_factory.mktemp("audio")
    rng = np.random.default_rng(3)
    paths = []
    for index, (seconds, rate, channels) in enumerate(
        [(2.3, 16000, 1), (0.7, 16000, 1), (3.1, 16000, 1), (1.6, 22050, 2), (4.0, 16000, 1)]
    ):
        t = np.arange(round(seconds * rate)) / rate
        voice = np.sin(2 * np.pi * (140 + 40 * index) * t) * (1 + np.sin(2 * np.pi * 3 * t))
        wave = (0.1 * voice + 0.02 * rng.standard_normal(len(t))).astype(np.float32)
        path = folder / f"clip{index}.wav"
        sf.write(path, np.stack([wave, 0.5 * wave], axis=1) if channels == 2 else wave, rate)
        paths.append(path)
    return paths


def _torch_and_onnx(exported, files) -> tuple[np.ndarray, np.ndarray]:
    path, card = exported
    torch_probabilities = Recognizer.from_checkpoint(card.source, precision="no").predict_proba(files)
    return torch_probabilities, OnnxRecognizer(path, threads=1).predict_proba(files)


def test_onnx_matches_torch_on_generated_audio(exported, audio):
    expected, got = _torch_and_onnx(exported, audio)
    assert np.abs(got - expected).max() <= TOLERANCE
    assert (got.argmax(1) == expected.argmax(1)).all()


def test_graph_logits_match_the_eager_pipeline(exported, audio):
    """Stronger than saturated probabilities: onnxruntime's logits of windows equal the eager features + model."""
    path, card = exported
    recognizer = Recognizer.from_checkpoint(card.source, precision="no")
    member = recognizer.members[0]
    waveform, _ = sf.read(audio[2], dtype="float32")
    chunks = member.standardizer.utterance(recognizer.pipeline.chunks_from_waveform(waveform))
    with torch.no_grad():
        expected = member.model(torch.from_numpy(chunks), torch.full((len(chunks),), chunks.shape[1])).numpy()
    runtime = OnnxRecognizer(path)
    got = runtime._logits(runtime._windows(waveform, "clip"))
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= 1e-3 * max(1.0, np.abs(expected).max())


@pytest.mark.realdata
@pytest.mark.skipif(
    not RAVDESS.is_dir(), reason=f"real corpus {RAVDESS} is not present (beside the checkout in CI)"
)
def test_onnx_matches_torch_on_ravdess(exported, tmp_path):
    """The trained tiny GLAM, and GLAM's own configuration (26 MFCCs, 1.8 s windows) with random weights and
    statistics, whose probabilities are far from 0 and 1."""
    files = sorted((RAVDESS / "audio").rglob("*.flac"))[::120]  # 12 files over actors and emotions
    assert files
    expected, got = _torch_and_onnx(exported, files)
    assert np.abs(got - expected).max() <= TOLERANCE
    checkpoint = _random_checkpoint(tmp_path / "best.pt", "glam", 1.8, {"name": "mfcc", "n_mfcc": 26}, 26)
    card = export_onnx(checkpoint, tmp_path / "glam.onnx")
    expected, got = _torch_and_onnx((tmp_path / "glam.onnx", card), files)
    assert np.abs(got - expected).max() <= TOLERANCE
    assert got.max() < 0.99


def test_metadata_round_trip(exported, run_dir):
    import onnx

    path, card = exported
    props = {entry.key: entry.value for entry in onnx.load(str(path)).metadata_props}
    read = ModelCard.from_props(props, str(path))
    assert read == card
    runtime = OnnxRecognizer(path)
    assert runtime.classes_ == ["neutral", "happy", "sad", "angry"]
    assert runtime.sample_rate == 16000 and (read.window, read.hop) == (16000, 4000)
    assert read.normalize == "global" and read.aggregation == "mean_logits" and read.model == "glam"
    first = sorted(run_dir.glob("runs/*/seed0/best.pt"))[0]
    assert read.source == str(first)  # a run folder exports its first run by default
    assert runtime.metrics == json.loads((first.parent / "metrics.json").read_text())


def test_fold_and_seed_choose_the_run(run_dir):
    assert choose_checkpoint(run_dir, seed=1).parent.name == "seed1"
    with pytest.raises(ExportError, match="seed0"):
        choose_checkpoint(run_dir, seed=7)


def test_runtime_predicts_with_torch_blocked(exported, audio):
    """No torch in the process: the runtime and `serkit predict model.onnx` still predict."""
    path, _ = exported
    code = (
        "from serkit.runtime import OnnxRecognizer\n"
        f"print(OnnxRecognizer({str(path)!r}).predict([{str(audio[0])!r}]))\n"
        "from serkit.cli import main\n"
        f"code = main(['predict', {str(path)!r}, {str(audio[0])!r}, '--format', 'csv'])\n"
        "heavy = [m for m in ('torch', 'scipy', 'sklearn', 'matplotlib', 'transformers') if m in sys.modules]\n"
        "assert code == 0 and not heavy, (code, heavy)\n"
    )
    done = run_without_torch(code)
    assert done.returncode == 0, done.stderr
    assert "path,label,p_neutral" in done.stdout


def test_cli_export_and_predict_end_to_end(run_dir, audio, tmp_path, capsys):
    model = tmp_path / "m.onnx"
    assert main(["export", str(run_dir), "--format", "onnx", "-o", str(model), "--seed", "1"]) == 0
    assert "seed1" in OnnxRecognizer(model).card.source
    onnx_csv, torch_csv = tmp_path / "onnx.csv", tmp_path / "torch.csv"
    files = [str(p) for p in audio]
    assert main(["predict", str(model), *files, "--format", "csv", "-o", str(onnx_csv)]) == 0
    checkpoint = OnnxRecognizer(model).card.source
    assert (
        main(["predict", checkpoint, *files, "--format", "csv", "-o", str(torch_csv), "--precision", "no"])
        == 0
    )
    onnx_rows, torch_rows = (path.read_text().splitlines() for path in (onnx_csv, torch_csv))
    assert onnx_rows[0] == torch_rows[0]  # same columns
    assert [row.split(",")[1] for row in onnx_rows] == [
        row.split(",")[1] for row in torch_rows
    ]  # same labels
    got = np.array([[float(v) for v in row.split(",")[2:6]] for row in onnx_rows[1:]])
    expected = np.array([[float(v) for v in row.split(",")[2:6]] for row in torch_rows[1:]])
    assert np.abs(got - expected).max() <= TOLERANCE + 1e-6  # 6 decimals in the CSV


def test_export_refuses_to_overwrite_its_input(run_dir, capsys):
    checkpoint = sorted(run_dir.glob("runs/*/seed0/best.pt"))[0]
    before = checkpoint.read_bytes()
    assert main(["export", str(checkpoint), "--format", "onnx", "-o", str(checkpoint)]) == 2
    assert str(checkpoint) in capsys.readouterr().err
    assert checkpoint.read_bytes() == before
    assert not list(checkpoint.parent.glob(".best.pt.*"))  # no temporary file left
    # a run folder is read whole: its checkpoint, or anything inside it, is refused as an output too
    assert main(["export", str(run_dir), "--format", "onnx", "-o", str(checkpoint)]) == 2
    assert "refusing to write" in capsys.readouterr().err
    assert checkpoint.read_bytes() == before


def _random_checkpoint(
    path: Path, name: str, window: float, feature: dict, num_features: int, utterance: bool = False
) -> Path:
    """A checkpoint with random weights, batch-norm statistics and global normalisation statistics (or
    per-utterance normalisation), so that the probabilities are far from 0 and 1 (a strict comparison)."""
    torch.manual_seed(0)
    network = create_model(name, num_classes=4)
    for module in network.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    rng = np.random.default_rng(0)
    payload = {
        "serkit_version": "test",
        "model_name": name,
        "model_args": {"num_classes": 4},
        "label_names": ["neutral", "happy", "sad", "angry"],
        "feature": feature_from_dict(feature).to_dict(),
        "input": dataclasses.asdict(InputConfig(window=window, hop=0.5, eval_hop=0.5, short_policy="tile")),
        "standardizer": {"mode": "utterance"}
        if utterance
        else {
            "mean": (10 * rng.standard_normal(num_features)).tolist(),
            "std": rng.uniform(5, 20, num_features).tolist(),
        },
        "epoch": 1,
        "state_dict": network.state_dict(),
    }
    save_checkpoint(path, payload)
    return path


@pytest.mark.parametrize(
    ("name", "window"),
    [("aaresmulticonv3", 1.8), ("mhcnn", 2.0)],  # a GLAM ablation (area attention), a CNN baseline
)
def test_other_exportable_families_match_torch(name, window, audio, tmp_path):
    checkpoint = _random_checkpoint(tmp_path / "best.pt", name, window, {"name": "mfcc", "n_mfcc": 26}, 26)
    card = export_onnx(checkpoint, tmp_path / "model.onnx")
    expected, got = _torch_and_onnx((tmp_path / "model.onnx", card), audio)
    assert np.abs(got - expected).max() <= TOLERANCE
    assert got.max() < 0.99  # not saturated: the comparison means something


def test_per_utterance_normalisation_exports_and_runs_each_file_alone(audio, tmp_path):
    """input.normalize=utterance (the recommended RAVDESS recipe's): the graph standardises over its batch, so the
    runtime gives each file its own run, even with a batch size that would mix files."""
    checkpoint = _random_checkpoint(
        tmp_path / "best.pt", "glam", 1.8, {"name": "mfcc", "n_mfcc": 26}, 26, utterance=True
    )
    card = export_onnx(checkpoint, tmp_path / "model.onnx")
    assert card.normalize == "utterance"
    expected = Recognizer.from_checkpoint(checkpoint, precision="no").predict_proba(audio)
    got = OnnxRecognizer(tmp_path / "model.onnx", batch_size=64, threads=1).predict_proba(audio)
    assert np.abs(got - expected).max() <= TOLERANCE
    assert got.max() < 0.99
    files = sorted((RAVDESS / "audio").rglob("*.flac"))[::240]  # 6 real files when the corpus is here
    if files:
        expected = Recognizer.from_checkpoint(checkpoint, precision="no").predict_proba(files)
        got = OnnxRecognizer(tmp_path / "model.onnx", threads=1).predict_proba(files)
        assert np.abs(got - expected).max() <= TOLERANCE


def _pipeline(feature: dict, **inputs) -> InputPipeline:
    return InputPipeline(feature_from_dict(feature), InputConfig(**inputs))


@pytest.mark.parametrize(
    ("name", "feature", "why"),
    [
        ("dcnn_blstm", {"name": "mfcc"}, "DCNN-BLSTMwA"),
        ("hubert_ser", {"name": "mfcc"}, "SSL models"),
        ("mat", {"name": "log_mel"}, "transcript"),
        ("linear_svm", {"name": "mfcc"}, "scikit-learn"),
        ("speech_only", {"name": "mfcc"}, "SSL encoder"),
        ("cnn_small", {"name": "three_channel_logmel"}, "three_channel_logmel"),
    ],
)
def test_families_that_cannot_be_exported_say_which_and_why(name, feature, why):
    model = create_model(name, num_classes=4, **TINY[name])
    with pytest.raises(ExportError, match=why) as error:
        check_exportable(model, _pipeline(feature), Normalizer(), Path("best.pt"))
    assert "best.pt" in str(error.value) and "cannot be exported" in str(error.value)


@pytest.mark.parametrize(
    ("inputs", "normalizer", "why"),
    [
        ({"mode": "utterance"}, Normalizer(), "segments"),
        ({"short_policy": "keep"}, Normalizer(), "keep"),
        ({}, Normalizer("speaker"), "speaker"),
    ],
)
def test_inputs_that_cannot_be_exported_say_why(inputs, normalizer, why):
    with pytest.raises(ExportError, match=why):
        check_exportable(
            create_model("glam", num_classes=4), _pipeline({"name": "mfcc"}, **inputs), normalizer, Path("x")
        )


@pytest.mark.parametrize(
    "feature",
    [
        {"name": "mfcc", "n_mfcc": 13, "n_fft": 512, "hop_length": 160, "n_mels": 40, "pad_mode": "reflect"},
        {"name": "log_mel"},
        {"name": "log_mel", "n_fft": 402, "win_length": 300},  # not a multiple of 4: the full DFT matrix
        {"name": "log_mel", "pre_emphasis": 0.97, "waveform_offset": 1e-8, "log_scale": "db", "power": 1.0},
        {"name": "apcnn_spectrogram", "frame_length": 400, "n_fft": 512, "num_bins": 100},
    ],
)
def test_feature_graphs_equal_the_eager_features(feature):
    config = feature_from_dict(feature)
    torch.manual_seed(0)
    waveforms = 0.1 * torch.randn(3, 8000)
    expected = config.compute(waveforms).movedim(-1, 1)  # (batch, frames, num_features)
    got = feature_graph(config)(waveforms)
    assert got.shape == expected.shape
    assert (got - expected).abs().max() <= 1e-3 * max(1.0, expected.abs().max().item())


def test_corrupt_and_empty_audio_are_named(exported, audio, tmp_path, capsys):
    path, _ = exported
    empty, garbage = tmp_path / "empty.wav", tmp_path / "garbage.wav"
    empty.write_bytes(b"")
    garbage.write_bytes(b"this is not audio" * 10)
    runtime = OnnxRecognizer(path)
    for bad in (empty, garbage):
        with pytest.raises(AudioError, match=str(bad)):
            runtime.predict([bad])
    probabilities, speech, failures = runtime.analyse_each([audio[0], empty, garbage])
    assert sorted(failures) == [1, 2] and np.isfinite(probabilities[0]).all() and speech[0]
    assert main(["predict", str(path), str(audio[0]), str(empty), str(garbage)]) == 1
    err = capsys.readouterr().err
    assert str(empty) in err and str(garbage) in err and "2 of 3 files failed" in err


def test_bad_model_files_are_named(tmp_path, exported):
    import onnx

    not_onnx = tmp_path / "broken.onnx"
    not_onnx.write_bytes(b"not a model")
    with pytest.raises(ModelFileError, match="broken.onnx"):
        OnnxRecognizer(not_onnx)
    bare = onnx.load(str(exported[0]))
    del bare.metadata_props[:]
    plain = tmp_path / "plain.onnx"
    onnx.save(bare, str(plain))
    with pytest.raises(ModelFileError, match="no serkit metadata"):
        OnnxRecognizer(plain)
    assert main(["predict", str(tmp_path / "missing.onnx"), str(not_onnx)]) == 2
    assert main(["predict", str(exported[0]), str(not_onnx), "--timeline"]) == 1  # the audio fails, named
