"""The HTTP API of ``serkit serve`` through FastAPI's TestClient: answers equal the recogniser's, bad uploads get a
4xx JSON error naming the file and the fix, limits hold, concurrent requests give the serial answers."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from .conftest import LABELS, RATE

RAVDESS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ravdess"

pytest.importorskip("fastapi", reason='serkit serve needs fastapi: pip install "serkit[serve]"')
pytest.importorskip("multipart", reason='serkit serve needs python-multipart: pip install "serkit[serve]"')
pytest.importorskip("httpx", reason="fastapi's TestClient needs httpx")
from fastapi.testclient import TestClient  # noqa: E402

from serkit.cli import build_parser  # noqa: E402
from serkit.core.errors import SerkitError  # noqa: E402
from serkit.serve.app import UploadError, _copy_upload, create_app, require_serve_packages  # noqa: E402


@pytest.fixture(scope="module")
def client(recognizer):
    with TestClient(create_app(recognizer, max_upload_mb=1, max_seconds=30, concurrency=2)) as test_client:
        yield test_client


def _post(client, path: Path, name: str | None = None, **params):
    return client.post("/predict", params=params, files={"file": (name or path.name, path.read_bytes())})


def test_health_and_labels(client):
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["runtime"] == "torch" and health["timeline"] is True
    assert health["segments"] is True
    assert health["labels"] == LABELS and health["sample_rate"] == RATE
    assert (health["max_upload_mb"], health["max_seconds"]) == (1.0, 30.0)
    assert client.get("/labels").json() == {"labels": LABELS}


def test_prediction_equals_the_recognizer(client, recognizer, clips):
    answer = _post(client, clips["medium"]).json()
    probabilities, speech = recognizer.analyse([clips["medium"]])
    assert answer["file"] == "medium.wav"
    assert list(answer["probabilities"]) == LABELS
    assert np.allclose(list(answer["probabilities"].values()), probabilities[0], atol=1e-6)
    assert answer["label"] == recognizer.labels_from(probabilities, speech)[0]
    assert answer["speech"] is True and answer["no_speech"] is False
    assert answer["duration_seconds"] == pytest.approx(2.5, abs=1e-3)
    assert "timeline" not in answer


def test_silence_is_no_speech(client, clips):
    answer = _post(client, clips["silent"]).json()
    assert answer["label"] == "no_speech" and answer["no_speech"] is True


def test_timeline_of_a_long_file(client, recognizer, clips):
    answer = _post(client, clips["long"], timeline="true", window=3, hop=1).json()
    expected = list(recognizer.timeline(clips["long"], window=3.0, hop=1.0))
    assert [(e["start"], e["end"], e["label"]) for e in answer["timeline"]] == [
        (e.start, e.end, e.label) for e in expected
    ]
    assert np.allclose(
        [list(e["probabilities"].values()) for e in answer["timeline"]], [e.probabilities for e in expected]
    )


def _segments(answer: dict) -> tuple[list[tuple], np.ndarray]:
    """(start, end, label) of each served segment, and their probabilities (segments, num_classes)."""
    rows = answer["segments"]
    return [(s["start"], s["end"], s["label"]) for s in rows], np.array(
        [list(s["probabilities"].values()) for s in rows]
    )


@pytest.mark.skipif(not RAVDESS.is_dir(), reason=f"real corpus {RAVDESS} is not present")
def test_segments_are_those_of_serkit_predict(client, recognizer, clips, onnx_model):
    """segments=true: one entry per VAD region, equal to `serkit predict --segments` (file_segments), for the
    checkpoint and its ONNX export; a file without speech has none; a missing silero-vad answers 501."""
    from serkit.audio.vad import SileroVad
    from serkit.runtime import OnnxRecognizer
    from serkit.runtime.recordings import file_segments

    pytest.importorskip("silero_vad", reason='segments need silero-vad: pip install "serkit[vad]"')
    path = sorted((RAVDESS / "audio").rglob("*.flac"))[5]
    answer = _post(client, path, segments="true").json()
    expected = file_segments(recognizer, path, vad=SileroVad())
    assert len(expected) >= 1 and set(answer) >= {"label", "probabilities", "segments"}
    regions, probabilities = _segments(answer)
    assert regions == [(s.start, s.end, s.label) for s in expected]
    assert np.abs(probabilities - [s.probabilities for s in expected]).max() < 1e-6
    assert list(answer["segments"][0]["probabilities"]) == LABELS
    assert _post(client, clips["silent"], segments="true").json()["segments"] == []
    both = _post(client, path, segments="true", timeline="true").json()
    assert _segments(both)[0] == regions and len(both["timeline"]) >= 2
    with TestClient(create_app(OnnxRecognizer(onnx_model, threads=1))) as onnx:
        assert onnx.get("/health").json()["segments"] is True
        onnx_regions, onnx_probabilities = _segments(_post(onnx, path, segments="true").json())
    assert [r[:2] for r in onnx_regions] == [r[:2] for r in regions]
    assert np.abs(onnx_probabilities - probabilities).max() < 1e-4


def test_segments_without_the_vad_say_what_to_install(recognizer, clips, monkeypatch):
    import serkit.audio.vad as vad_module

    monkeypatch.setattr(vad_module.importlib.util, "find_spec", lambda name: None)
    with TestClient(create_app(recognizer)) as no_vad:
        assert no_vad.get("/health").json()["segments"] is False
        assert 'pip install "serkit[vad]"' in _error(_post(no_vad, clips["medium"], segments="true"), 501)
        assert _post(no_vad, clips["medium"]).status_code == 200


def _error(response, status: int) -> str:
    assert response.status_code == status, response.text
    return response.json()["error"]


def test_bad_uploads_get_a_json_error_naming_the_problem(client, tmp_path):
    assert "form field `file`" in _error(client.post("/predict", data={"other": "x"}), 400)
    assert "empty (0 bytes)" in _error(client.post("/predict", files={"file": ("e.wav", b"")}), 400)
    noise = np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes()
    message = _error(client.post("/predict", files={"file": ("noise.wav", noise)}), 415)
    assert message.startswith("noise.wav: not a readable audio file") and "serkit-serve" not in message
    buffer = io.BytesIO()
    sf.write(buffer, np.zeros(RATE, dtype=np.float32), RATE, format="WAV")
    cut = buffer.getvalue()[: len(buffer.getvalue()) // 2]  # the header promises twice the data
    assert "cut.wav" in _error(client.post("/predict", files={"file": ("cut.wav", cut)}), 400)
    assert "query.hop" in _error(
        client.post("/predict", params={"hop": "x"}, files={"file": ("a.wav", cut)}), 400
    )
    whole = buffer.getvalue()
    message = _error(
        client.post("/predict", params={"timeline": "true", "hop": -1}, files={"file": ("a.wav", whole)}), 400
    )
    assert "query.hop: Input should be greater than or equal to 0.1" in message


def test_limits_of_size_and_duration(recognizer, clips):
    app = create_app(recognizer, max_upload_mb=0.1, max_seconds=2.0)
    with TestClient(app) as small:
        assert "--max-upload-mb" in _error(_post(small, clips["long"]), 413)  # from Content-Length
        message = _error(_post(small, clips["medium"]), 413)
        assert message.startswith("medium.wav: 2.5 s long") and "--max-seconds" in message
        assert _post(small, clips["short"]).status_code == 200
    with pytest.raises(UploadError, match="--max-upload-mb") as refused:  # a body without a Content-Length
        _copy_upload(io.BytesIO(b"x" * 70_000), Path("/dev/null"), name="big.wav", max_bytes=65_536)
    assert refused.value.status == 413
    with pytest.raises(ValueError, match="max_seconds"):
        create_app(recognizer, max_seconds=0)


def test_onnx_model_is_served_with_a_timeline(onnx_model, recognizer, clips):
    from serkit.runtime import OnnxRecognizer

    with TestClient(create_app(OnnxRecognizer(onnx_model, threads=1))) as onnx:
        health = onnx.get("/health").json()
        assert health["runtime"] == "onnx" and health["timeline"] is True
        answer = _post(onnx, clips["medium"]).json()
        expected = recognizer.predict_proba([clips["medium"]])[0]
        assert np.abs(np.array(list(answer["probabilities"].values())) - expected).max() < 1e-4
        timeline = _post(onnx, clips["long"], timeline="true", window=3, hop=1).json()["timeline"]
    expected = list(recognizer.timeline(clips["long"], window=3.0, hop=1.0))
    assert [(e["start"], e["end"], e["speech"]) for e in timeline] == [
        (e.start, e.end, e.speech) for e in expected
    ]
    assert (
        np.abs(
            np.array([list(e["probabilities"].values()) for e in timeline])
            - [e.probabilities for e in expected]
        ).max()
        < 1e-4
    )


def test_concurrent_requests_give_the_serial_answers(client, clips):
    names = ["short", "medium", "long", "silent"] * 6
    serial = {name: _post(client, clips[name]).json() for name in set(names)}
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(lambda name: _post(client, clips[name]), names))
    for name, response in zip(names, answers):
        assert response.status_code == 200
        got, want = response.json(), serial[name]
        assert got["label"] == want["label"]
        assert np.allclose(
            list(got["probabilities"].values()), list(want["probabilities"].values()), atol=1e-6
        )


def test_page_is_self_contained(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "http://" not in page.text.replace("http://www.w3.org/2000/svg", "").replace(
        "http://127.0.0.1", ""
    )
    assert "https://" not in page.text and "<script src" not in page.text
    assert json.dumps(LABELS) in page.text


def test_command_line_and_missing_packages(checkpoint, monkeypatch):
    args = build_parser().parse_args(["serve", str(checkpoint)])
    assert (args.host, args.port, args.max_upload_mb, args.max_seconds) == ("127.0.0.1", 8000, 20.0, 600.0)
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    with pytest.raises(SerkitError, match=r'uvicorn: pip install "serkit\[serve\]"'):
        require_serve_packages()


def test_building_the_parser_imports_no_web_framework():
    probe = "import sys, serkit.cli\nserkit.cli.build_parser()\nprint([m for m in ('fastapi', 'uvicorn', 'starlette', 'multipart', 'torch') if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_an_onnx_model_is_served_without_importing_torch(onnx_model, clips):
    probe = (
        "import sys\n"
        "from fastapi.testclient import TestClient\n"
        "from serkit.cli.recognizers import load_recognizer\n"
        "from serkit.serve import create_app\n"
        "from pathlib import Path\n"
        f"app = create_app(load_recognizer(Path({str(onnx_model)!r}), threads=1))\n"
        f"answer = TestClient(app).post('/predict', files={{'file': ('a.wav', open({str(clips['short'])!r}, 'rb'))}})\n"
        "assert answer.status_code == 200, answer.text\n"
        "print('torch' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "False"
