"""Hugging Face audio-classification models as back-ends of ``serkit predict`` and ``serkit serve``
(:class:`serkit.inference.hf_audio.HFAudioRecognizer`), on tiny random ``Wav2Vec2ForSequenceClassification`` models
saved with ``save_pretrained`` (no hub here: a hub id is served from a replaced download)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from test_batching import _speechlike  # tests/inference/ is on sys.path (rootdir mode)
from tiny_hf import save_tiny_audio_classifier  # tests/ is on sys.path

from serkit.cli import main
from serkit.cli.recognizers import load_recognizer
from serkit.core.errors import ModelFileError, SerkitError
from serkit.inference.hf_audio import HFAudioRecognizer

pytest.importorskip("transformers", reason='Hugging Face models need transformers: pip install "serkit[ssl]"')

LABELS = ["neu", "hap", "sad", "ang"]


@pytest.fixture(scope="module", params=["layer_norm", "group_norm"])
def model_dir(request, tmp_path_factory) -> Path:
    """Layer-norm front end (padded batches with attention masks) and group-norm (one input per call)."""
    folder = tmp_path_factory.mktemp(request.param)
    return save_tiny_audio_classifier(folder, layer_norm=request.param == "layer_norm", labels=LABELS)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list[Path]:
    """16 kHz clips of several lengths, one at 22.05 kHz stereo (resampled, mixed down), one silent."""
    folder = tmp_path_factory.mktemp("clips")
    paths = []
    for i, seconds in enumerate((1.2, 2.7, 0.4)):
        paths.append(folder / f"c{i}.wav")
        sf.write(paths[-1], _speechlike(seconds, i), 16000)
    stereo = np.stack([_speechlike(1.5, 7)] * 2, axis=1)
    paths.append(folder / "stereo.wav")
    sf.write(paths[-1], stereo, 22050)
    paths.append(folder / "silent.wav")
    sf.write(paths[-1], np.zeros(16000, dtype=np.float32), 16000)
    return paths


def _alone(model_dir: Path, path: Path) -> np.ndarray:
    """What transformers gives for one file, without serkit's batching: feature extractor + model."""
    from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

    from serkit.audio import io as audio_io

    extractor = AutoFeatureExtractor.from_pretrained(model_dir)
    model = AutoModelForAudioClassification.from_pretrained(model_dir).eval()
    inputs = extractor(audio_io.load(path, 16000), sampling_rate=16000, return_tensors="pt")
    with torch.no_grad():
        return torch.softmax(model(**inputs).logits, dim=-1)[0].numpy()


def test_labels_rate_and_probabilities_equal_transformers(model_dir, clips):
    recognizer = HFAudioRecognizer(model_dir, batch_size=3)
    assert recognizer.classes_ == LABELS and recognizer.sample_rate == 16000
    probabilities = recognizer.predict_proba(clips)
    assert probabilities.shape == (len(clips), len(LABELS))
    for row, path in zip(probabilities, clips):
        np.testing.assert_allclose(row, _alone(model_dir, path), atol=1e-5)
    labels = recognizer.predict(clips)
    assert labels[-1] == "no_speech" and set(labels[:-1]) <= set(LABELS)
    np.testing.assert_allclose(recognizer.predict_waveform(_speechlike(1.2, 0)), probabilities[0], atol=1e-6)


def test_long_inputs_are_classified_in_windows(model_dir, tmp_path):
    path = tmp_path / "long.wav"
    sf.write(path, _speechlike(5.5, 3), 16000)
    recognizer = HFAudioRecognizer(model_dir, window_seconds=2.0)
    assert recognizer._windows(round(5.5 * 16000)) == [(0, 32000), (32000, 64000), (64000, 88000)]
    assert recognizer._windows(round(4.5 * 16000)) == [(0, 32000), (32000, 64000)]  # a 0.5 s tail is dropped
    assert np.isfinite(recognizer.predict_proba([path])).all()
    entries = list(recognizer.timeline(path, window=2.0, hop=1.0))
    assert [e.start for e in entries] == [0.0, 1.0, 2.0, 3.0, 4.0] and entries[0].label in LABELS


def test_predict_command_with_a_transformers_folder(model_dir, clips, capsys, tmp_path):
    unreadable = tmp_path / "broken.wav"
    unreadable.write_bytes(b"RIFF....WAVEfmt ")
    # an unreadable file fails alone (exit 1, named on stderr), the others are predicted
    assert main(["predict", str(model_dir), *map(str, clips[:2]), str(unreadable), "--format", "csv"]) == 1
    out, err = capsys.readouterr()
    assert "broken.wav" in err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [row["path"] for row in rows] == [str(p) for p in clips[:2]]
    assert set(rows[0]) == {"path", "label", *(f"p_{c}" for c in LABELS), "speech"}
    assert abs(sum(float(rows[0][f"p_{c}"]) for c in LABELS) - 1) < 1e-4
    with pytest.raises(ValueError, match="--precision"):
        load_recognizer(model_dir, precision="bf16")


def test_a_hub_id_of_a_transformers_model(model_dir, monkeypatch, clips, capsys):
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda repo_id, **options: str(model_dir))
    assert main(["predict", "hf://someone/wav2vec2-emotion", str(clips[0]), "--format", "json"]) == 0
    assert '"label"' in capsys.readouterr().out


def test_not_an_audio_classifier(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(ModelFileError, match="audio-classification model"):
        HFAudioRecognizer(tmp_path)


def test_device_cpu_and_cuda_error(model_dir, monkeypatch):
    assert next(HFAudioRecognizer(model_dir, device="cpu").model.parameters()).device.type == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SerkitError, match="CUDA is not available"):
        HFAudioRecognizer(model_dir, device="cuda")


def test_served_by_the_api(model_dir, clips):
    pytest.importorskip("fastapi", reason='serkit serve needs fastapi: pip install "serkit[serve]"')
    pytest.importorskip("multipart", reason="serkit serve needs python-multipart")
    from fastapi.testclient import TestClient

    from serkit.serve.app import create_app

    recognizer = load_recognizer(model_dir, threads=1)
    client = TestClient(create_app(recognizer, model_name="tiny-wav2vec2"))
    health = client.get("/health").json()
    assert health["labels"] == LABELS and health["sample_rate"] == 16000 and health["timeline"]
    with open(clips[1], "rb") as handle:
        answer = client.post(
            "/predict?timeline=true&window=1&hop=1", files={"file": ("c1.wav", handle)}
        ).json()
    expected = recognizer.predict_proba([clips[1]])[0]
    assert answer["label"] == LABELS[int(expected.argmax())]
    np.testing.assert_allclose([answer["probabilities"][c] for c in LABELS], expected, atol=1e-6)
    assert len(answer["timeline"]) == 3
    with open(clips[-1], "rb") as handle:
        assert client.post("/predict", files={"file": ("silent.wav", handle)}).json()["label"] == "no_speech"
