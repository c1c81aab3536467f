"""ONNX export of models of emotion dimensions: the runtime softmaxes only the class columns and returns the
dimension values as the torch recogniser does (within 1e-4), and the file says what its outputs are in a metadata
format that older runtimes refuse instead of misreading."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from test_batching import SETUPS, _checkpoint
from test_recognizer_dimensions import DIMENSIONS, RANGE, audio, dimension_checkpoint  # noqa: F401  (audio: a fixture)

from serkit.cli import main
from serkit.inference.recognizer import Recognizer

pytest.importorskip("onnxscript", reason='exporting needs onnx and onnxscript: pip install "serkit[export]"')


@pytest.fixture(scope="module", params=["regression", "multitask"])
def exported(request, audio, tmp_path_factory):  # noqa: F811
    from serkit.inference.onnx_export import export_onnx

    folder = tmp_path_factory.mktemp(f"onnx_{request.param}")
    checkpoint = dimension_checkpoint(folder / "best.pt", audio, request.param)
    card = export_onnx(checkpoint, folder / "model.onnx")
    return request.param, checkpoint, folder / "model.onnx", card


def test_runtime_equals_torch(exported, audio):  # noqa: F811
    from serkit.runtime import OnnxRecognizer

    task, checkpoint, path, card = exported
    assert card.task == task and card.dimensions == DIMENSIONS and card.dimension_range == RANGE
    runtime, torch_model = OnnxRecognizer(path), Recognizer.from_checkpoint(checkpoint, precision="no")
    assert runtime.dimensions_ == DIMENSIONS and runtime.classes_ == torch_model.classes_
    for scale in ("unit", "corpus"):
        np.testing.assert_allclose(
            runtime.predict_dimensions(audio, scale=scale),
            torch_model.predict_dimensions(audio, scale=scale),
            atol=1e-4 * (RANGE[1] - RANGE[0] if scale == "corpus" else 1),
            rtol=0,
        )
    if task == "multitask":
        np.testing.assert_allclose(runtime.predict_proba(audio), torch_model.predict_proba(audio), atol=1e-4)
        assert runtime.predict_proba(audio).sum(axis=1) == pytest.approx(1.0, abs=1e-5)
    else:
        with pytest.raises(ValueError, match="predict_dimensions"):
            runtime.predict_proba(audio)
    entries = list(runtime.timeline(audio[2], window=1.0, hop=1.0))
    expected = list(torch_model.timeline(audio[2], window=1.0, hop=1.0))
    np.testing.assert_allclose([e.values for e in entries], [e.values for e in expected], atol=1e-4)


def test_format_version_and_cli(exported, audio, tmp_path):  # noqa: F811
    import onnx

    task, checkpoint, path, _ = exported
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert props["serkit.format"] == "3" and props["serkit.task"] == task
    out = tmp_path / "p.csv"
    assert main(["predict", str(path), *map(str, audio), "--format", "csv", "-o", str(out)]) == 0
    with open(out, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    values = Recognizer.from_checkpoint(checkpoint).predict_dimensions(audio)
    np.testing.assert_allclose([float(r["valence_01"]) for r in rows], values[:, 1], atol=1e-4)
    np.testing.assert_allclose([float(r["arousal"]) for r in rows], 1 + 4 * values[:, 0], atol=4e-4)


def test_old_runtime_would_refuse(exported):
    from serkit.runtime.metadata import ModelCard

    _, _, path, card = exported
    props = card.to_props()
    props["serkit.format"] = "4"
    with pytest.raises(ValueError, match="newer than this serkit reads"):
        ModelCard.from_props(props, str(path))


def test_classifier_keeps_format_2(audio, tmp_path):  # noqa: F811
    import onnx

    from serkit.inference.onnx_export import export_onnx

    model, args, inputs = SETUPS["cnn_segments"]
    card = export_onnx(_checkpoint(tmp_path, audio, model, args, inputs), tmp_path / "c.onnx")
    props = {p.key: p.value for p in onnx.load(str(tmp_path / "c.onnx")).metadata_props}
    assert props["serkit.format"] == "2" and card.task == "classification"


def test_cli_export_onnx_says_the_dimensions(audio, tmp_path, capsys):  # noqa: F811
    checkpoint = dimension_checkpoint(tmp_path / "best.pt", audio, "multitask")
    assert main(["export", str(checkpoint), "--format", "onnx", "-o", str(tmp_path / "m.onnx")]) == 0
    printed = capsys.readouterr().out
    assert "4 classes (neutral, happy, sad, angry) and dimensions arousal, valence" in printed
