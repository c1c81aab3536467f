"""Voice-activity segmentation (``serkit.audio.vad``, ``serkit predict --segments``, ``--timeline --vad silero``).

Our numpy/onnxruntime Silero VAD is compared with silero's own ``get_speech_timestamps`` (its torch path: the JIT
model, and its ONNX wrapper) on real RAVDESS files (skipped when ../shared/data/ravdess is absent) and on generated
syllable trains with silences; the CLI is run end to end on a random-weight checkpoint and its ONNX export.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from torch_blocked import run_without_torch

import serkit.audio.vad as vad_module
from serkit.audio import io as audio_io
from serkit.audio.vad import VAD_SAMPLE_RATE, VAD_WINDOW, SileroVad, SpeechRegion
from serkit.cli import main
from serkit.config import InputConfig
from serkit.core.errors import AudioError, ModelFileError
from serkit.features.base import feature_from_dict
from serkit.inference.recognizer import Recognizer
from serkit.inference.segments import file_segments, region_sources
from serkit.models import create_model
from serkit.training.checkpoint import save_checkpoint

silero_vad = pytest.importorskip(
    "silero_vad", reason="silero-vad is not installed (pip install 'serkit[vad]')"
)

RAVDESS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ravdess"
RATE = VAD_SAMPLE_RATE
LABELS = ["neutral", "happy", "sad", "angry"]


def _syllables(seconds: float, seed: int) -> np.ndarray:
    """Speech-like audio: voiced syllables of 120-300 ms (harmonics shaped by one formant) with short gaps."""
    rng = np.random.default_rng(seed)
    pieces, total = [], 0
    while total < seconds * RATE:
        t = np.arange(int(rng.uniform(0.12, 0.3) * RATE)) / RATE
        pitch = rng.uniform(110, 220) * (1 + 0.1 * np.sin(2 * np.pi * 2 * t))
        phase = 2 * np.pi * np.cumsum(pitch) / RATE
        formant = rng.choice([500, 700, 1100])
        voiced = sum(
            np.sin(k * phase) * np.exp(-(((k * pitch.mean() - formant) / 400) ** 2)) for k in range(1, 25)
        )
        envelope = np.sqrt(np.clip(np.sin(np.pi * t / t[-1]), 0, None))
        gap = np.zeros(int(rng.uniform(0.02, 0.06) * RATE))
        pieces += [0.2 * voiced * envelope / np.abs(voiced).max(), gap]
        total += len(t) + len(gap)
    speech = np.concatenate(pieces)[: round(seconds * RATE)]
    return (speech + 0.002 * rng.standard_normal(len(speech))).astype(np.float32)


def _with_silences(parts: list[np.ndarray], silences: list[float]) -> np.ndarray:
    """silence, part, silence, part, ..., silence (len(silences) == len(parts) + 1, in seconds)."""
    out = [np.zeros(round(silences[0] * RATE), dtype=np.float32)]
    for part, silence in zip(parts, silences[1:]):
        out += [part, np.zeros(round(silence * RATE), dtype=np.float32)]
    return np.concatenate(out)


@pytest.fixture(scope="module")
def vad() -> SileroVad:
    return SileroVad()


@pytest.fixture(scope="module")
def reference():
    """silero's get_speech_timestamps with its JIT model (the torch path) and with its own ONNX wrapper."""
    models = {"jit": silero_vad.load_silero_vad(), "onnx": silero_vad.load_silero_vad(onnx=True)}

    def timestamps(waveform: np.ndarray, kind: str) -> list[tuple[int, int]]:
        found = silero_vad.get_speech_timestamps(torch.from_numpy(waveform), models[kind])
        return [(int(r["start"]), int(r["end"])) for r in found]

    return timestamps


def _assert_agrees(ours: list[SpeechRegion], waveform: np.ndarray, reference) -> None:
    """Bit-equal to silero's ONNX wrapper (the same model and state machine); within one window of its JIT model."""
    assert [tuple(r) for r in ours] == reference(waveform, "onnx")
    jit = reference(waveform, "jit")
    assert len(jit) == len(ours), (ours, jit)
    assert np.abs(np.asarray(jit) - np.asarray(ours)).max() <= VAD_WINDOW


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """Three syllable trains (1-3 s, 4.5-6 s, 6.4-9.4 s) between silences of 0.4 to 1.5 s: 10.2 s at 16 kHz."""
    waveform = _with_silences(
        [_syllables(2.0, 4), _syllables(1.5, 5), _syllables(3.0, 6)], [1.0, 1.5, 0.4, 0.8]
    )
    path = tmp_path_factory.mktemp("generated") / "talk.wav"
    sf.write(path, waveform, RATE, subtype="FLOAT")  # read back bit-equal
    return path, waveform


def test_matches_silero_on_generated_speech_with_silences(vad, reference, generated):
    path, waveform = generated
    ours = vad.regions(waveform)
    assert len(ours) == 3
    _assert_agrees(ours, waveform, reference)
    assert vad.file_regions(path) == ours


def test_blocks_from_disk_give_the_regions_of_the_whole_file(vad, generated, monkeypatch):
    path, waveform = generated
    monkeypatch.setattr(vad_module, "BLOCK_WINDOWS", 7)  # 0.22 s blocks: ~40 reads, state carried across
    assert vad.file_regions(path) == vad.regions(waveform)


@pytest.mark.realdata
@pytest.mark.skipif(not RAVDESS.is_dir(), reason="needs ../shared/data/ravdess (RAVDESS audio)")
def test_matches_silero_on_ravdess(vad, reference):
    files = sorted((RAVDESS / "audio").glob("*.flac"))[::97]  # 15 files: every actor's range, every emotion
    assert len(files) >= 10
    for path in files:
        waveform = audio_io.load(path, RATE)
        _assert_agrees(vad.file_regions(path), waveform, reference)
    # a concatenation of 6 files (48 kHz, resampled when read) with silences between them
    waveform = _with_silences(
        [audio_io.load(p, RATE) for p in files[:6]], [0.5, 1.0, 0.3, 2.0, 0.6, 0.2, 0.5]
    )
    ours = vad.regions(waveform)
    assert len(ours) >= 5  # the 0.2 s pause may join two regions, as in silero
    _assert_agrees(ours, waveform, reference)


def test_silence_and_missing_package(vad, monkeypatch):
    assert vad.regions(np.zeros(3 * RATE, dtype=np.float32)) == []
    assert vad.regions(np.zeros(100, dtype=np.float32)) == []
    monkeypatch.setattr(vad_module.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelFileError, match=r"serkit\[vad\]"):
        SileroVad()


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="threshold=1.5"):
        SileroVad(threshold=1.5)
    with pytest.raises(ValueError, match="min_silence_ms=-1"):
        SileroVad(min_silence_ms=-1)


# ------------------------------------------------------------------------------------------ --segments


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A random-weight MHCNN on 26 MFCCs of 2 s windows (saved as `serkit train` saves), probabilities not flat."""
    torch.manual_seed(0)
    network = create_model("mhcnn", num_classes=4)
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("ckpt") / "best.pt"
    save_checkpoint(
        path,
        {
            "serkit_version": "test",
            "model_name": "mhcnn",
            "model_args": {"num_classes": 4},
            "label_names": LABELS,
            "feature": feature_from_dict({"name": "mfcc", "n_mfcc": 26}).to_dict(),
            "input": dataclasses.asdict(InputConfig(window=2.0, hop=0.5, eval_hop=0.5, short_policy="pad")),
            "standardizer": {
                "mean": (10 * rng.standard_normal(26)).tolist(),
                "std": rng.uniform(5, 20, 26).tolist(),
            },
            "epoch": 1,
            "state_dict": network.state_dict(),
        },
    )
    return path


@pytest.fixture(scope="module")
def onnx_model(checkpoint, tmp_path_factory) -> Path:
    pytest.importorskip("onnxscript", reason="export needs onnx and onnxscript (serkit[export])")
    from serkit.inference.onnx_export import export_onnx

    path = tmp_path_factory.mktemp("onnx") / "model.onnx"
    export_onnx(checkpoint, path)
    return path


def _csv_rows(text: str) -> list[list[str]]:
    return [line.split(",") for line in text.strip().splitlines()]


def test_segments_end_to_end(checkpoint, onnx_model, generated, vad, tmp_path, capsys):
    """One row per VAD region with the recogniser's prediction on that region's audio; torch and ONNX agree."""
    path, waveform = generated
    regions = [r.seconds() for r in vad.regions(waveform)]
    assert (
        main(["predict", str(checkpoint), str(path), "--segments", "--format", "csv", "--precision", "no"])
        == 0
    )
    rows = _csv_rows(capsys.readouterr().out)
    assert rows[0] == ["path", "start", "end", "label", *(f"p_{c}" for c in LABELS)]
    assert [(float(r[1]), float(r[2])) for r in rows[1:]] == [(round(a, 3), round(b, 3)) for a, b in regions]
    assert all(r[0] == str(path) and r[3] in LABELS for r in rows[1:])

    # the row of a region is the recogniser's prediction on that region's audio alone
    recognizer = Recognizer.from_checkpoint(checkpoint, precision="no")
    start, end = regions[1]
    alone = recognizer.predict_waveform(waveform[round(start * RATE) : round(end * RATE)])
    assert np.abs(np.array([float(v) for v in rows[2][4:]]) - alone).max() < 1e-5

    out = tmp_path / "onnx.json"
    assert (
        main(["predict", str(onnx_model), str(path), "--segments", "--format", "json", "-o", str(out)]) == 0
    )
    import json

    predictions = json.loads(out.read_text())["predictions"]
    assert [(p["start"], p["end"]) for p in predictions] == [(float(r[1]), float(r[2])) for r in rows[1:]]
    onnx_probabilities = np.array([[p[f"p_{c}"] for c in LABELS] for p in predictions])
    torch_probabilities = np.array([[float(v) for v in r[4:]] for r in rows[1:]])
    assert np.abs(onnx_probabilities - torch_probabilities).max() < 1e-4


def test_silent_and_corrupt_files_are_reported(checkpoint, generated, tmp_path, capsys):
    path, _ = generated
    silent, garbage = tmp_path / "silent.wav", tmp_path / "garbage.wav"
    sf.write(silent, np.zeros(2 * RATE, dtype=np.float32), RATE)
    garbage.write_bytes(b"this is not audio" * 10)
    assert main(["predict", str(checkpoint), str(silent), "--segments", "--format", "csv"]) == 0
    captured = capsys.readouterr()
    assert len(_csv_rows(captured.out)) == 1  # the header only
    assert f"NO SPEECH {silent}: the VAD (silero) found no speech" in captured.err
    assert main(["predict", str(checkpoint), str(garbage), str(path), "--segments", "--format", "csv"]) == 1
    captured = capsys.readouterr()
    assert len(_csv_rows(captured.out)) == 4  # the good file's 3 regions are still predicted
    assert f"FAILED {garbage}" in captured.err and "1 of 2 files failed" in captured.err
    with pytest.raises(AudioError, match="garbage.wav"):
        file_segments(Recognizer.from_checkpoint(checkpoint), garbage, vad=SileroVad())


def test_timeline_with_the_silero_gate(checkpoint, generated, capsys):
    path, _ = generated
    timeline = ["--timeline", "--window", "1", "--hop", "1", "--format", "csv"]
    assert main(["predict", str(checkpoint), str(path), *timeline, "--vad", "silero"]) == 0
    rows = _csv_rows(capsys.readouterr().out)
    assert rows[0][-1] == "speech"
    # windows 0-1, 1-2, ..., 9-10 s (speech: 1-3, 4.5-6, 6.4-9.4 s)
    speech = [r[-1] == "True" for r in rows[1:]]
    assert speech == [False, True, True, False, True, True, True, True, True, True]
    assert all((r[3] == "no_speech") == (r[-1] == "False") for r in rows[1:])
    assert main(["predict", str(checkpoint), str(path), "--segments", "--timeline"]) == 2
    assert main(["predict", str(checkpoint), str(path), "--segments", "--vad", "energy"]) == 2
    assert "--vad energy" in capsys.readouterr().err


def test_short_regions_of_a_model_that_drops_them_are_widened(checkpoint, generated):
    """short_policy=drop: a region shorter than the window is read as one window centred on it, within the file."""
    path, _ = generated
    recognizer = Recognizer.from_checkpoint(checkpoint)
    total = audio_io.info(path).frames
    regions = [SpeechRegion(40000, 44000), SpeechRegion(0, 3000), SpeechRegion(total - 2000, total)]
    assert [length for _, _, length in region_sources(recognizer, path, regions)] == [4000, 3000, 2000]
    recognizer.pipeline.inputs = dataclasses.replace(recognizer.pipeline.inputs, short_policy="drop")
    sources = list(region_sources(recognizer, path, regions))
    assert [length for _, _, length in sources] == [2 * RATE] * 3
    assert sources[0][0] == f"{path} [2.50-2.75 s]"
    whole = audio_io.load(path, RATE)
    np.testing.assert_array_equal(sources[0][1](0, 2 * RATE), whole[26000:58000])  # centred on 40000..44000
    np.testing.assert_array_equal(sources[1][1](0, 2 * RATE), whole[: 2 * RATE])  # clipped at the start
    np.testing.assert_array_equal(sources[2][1](0, 2 * RATE), whole[-2 * RATE :])  # and at the end


def test_vad_and_onnx_segments_run_without_torch(onnx_model, generated):
    path, _ = generated
    code = (
        "from serkit.audio.vad import SileroVad\n"
        f"assert len(SileroVad().file_regions({str(path)!r})) == 3\n"
        "from serkit.cli import main\n"
        f"code = main(['predict', {str(onnx_model)!r}, {str(path)!r}, '--segments', '--format', 'csv'])\n"
        "assert code == 0 and 'torch' not in sys.modules and 'silero_vad' not in sys.modules, code\n"
    )
    done = run_without_torch(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(str(path)) == 3
