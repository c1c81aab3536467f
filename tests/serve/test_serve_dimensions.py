"""``serkit serve`` with models of emotion dimensions: ``/predict`` answers the values on the corpus scale and on
[0, 1] (equal to the recogniser's), ``/health`` and ``/labels`` say the task, the page carries the dimensions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from .conftest import LABELS

pytest.importorskip("fastapi", reason='serkit serve needs fastapi: pip install "serkit[serve]"')
pytest.importorskip("multipart", reason='serkit serve needs python-multipart: pip install "serkit[serve]"')
pytest.importorskip("httpx", reason="fastapi's TestClient needs httpx")
from fastapi.testclient import TestClient  # noqa: E402
from test_recognizer_dimensions import DIMENSIONS, RANGE, dimension_checkpoint  # noqa: E402  (tests/inference, on the path)

from serkit.serve.app import create_app  # noqa: E402


@pytest.fixture(scope="module", params=["regression", "multitask"])
def served(request, clips, tmp_path_factory):
    from serkit.inference import Recognizer

    path = dimension_checkpoint(
        tmp_path_factory.mktemp("dims") / "best.pt", list(clips.values()), request.param
    )
    recognizer = Recognizer.from_checkpoint(path)
    with TestClient(create_app(recognizer, max_upload_mb=1, max_seconds=30, concurrency=1)) as client:
        yield request.param, recognizer, client


def _post(client, path: Path, **params):
    return client.post("/predict", params=params, files={"file": (path.name, path.read_bytes())})


def test_health_and_labels_say_the_task(served):
    task, _, client = served
    health = client.get("/health").json()
    assert (
        health["task"] == task and health["dimensions"] == DIMENSIONS and health["dimension_range"] == RANGE
    )
    labels = client.get("/labels").json()
    assert labels == {
        "labels": [] if task == "regression" else LABELS,
        "task": task,
        "dimensions": DIMENSIONS,
        "dimension_range": RANGE,
    }
    page = client.get("/").text
    assert '"dimensions": ["arousal", "valence"]' in page and 'id="dimensions"' in page


def test_answer_has_the_values(served, clips):
    task, recognizer, client = served
    answer = _post(client, clips["medium"]).json()
    values = recognizer.predict_dimensions([clips["medium"]])[0]
    assert list(answer["dimensions_01"]) == DIMENSIONS and list(answer["dimensions"]) == DIMENSIONS
    np.testing.assert_allclose(list(answer["dimensions_01"].values()), values, atol=1e-6)
    np.testing.assert_allclose(list(answer["dimensions"].values()), 1 + 4 * values, atol=1e-5)
    assert answer["dimension_range"] == RANGE
    if task == "regression":
        assert answer["label"] is None and answer["probabilities"] == {}
    else:
        assert answer["label"] in LABELS and list(answer["probabilities"]) == LABELS
    silent = _post(client, clips["silent"]).json()
    assert silent["label"] == "no_speech" and len(silent["dimensions"]) == 2


def test_timeline_entries_have_values(served, clips):
    task, recognizer, client = served
    answer = _post(client, clips["long"], timeline="true", window=2.0, hop=2.0).json()
    expected = list(recognizer.timeline(clips["long"], window=2.0, hop=2.0))
    assert len(answer["timeline"]) == len(expected) == 4
    got = [list(entry["dimensions_01"].values()) for entry in answer["timeline"]]
    np.testing.assert_allclose(got, [entry.values for entry in expected], atol=1e-6)
    assert all((entry["label"] is None) == (task == "regression") for entry in answer["timeline"])


def test_classifier_answer_has_no_dimensions(recognizer, clips):
    with TestClient(create_app(recognizer, max_upload_mb=1, max_seconds=30, concurrency=1)) as client:
        answer = _post(client, clips["short"], timeline="true").json()
        health = client.get("/health").json()
    assert "dimensions" not in answer and "dimensions" not in answer["timeline"][0]
    assert (health["task"], health["dimensions"], health["dimension_range"]) == ("classification", [], None)
