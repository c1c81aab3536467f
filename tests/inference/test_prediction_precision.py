"""Prediction runs in the precision the model was trained in (``train.precision``, stored in best.pt), resolved on
the predicting machine, unless ``--precision`` / ``precision=`` says otherwise; and GLAM predicts with its batch
norms folded (:meth:`GLAM.for_inference`), with the probabilities of the unfolded model."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from serkit.cli import main
from serkit.config import InputConfig
from serkit.features.base import feature_from_dict
from serkit.inference.recognizer import Recognizer
from serkit.models import create_model
from serkit.models.glam import FoldedResMultiConv
from serkit.training import accelerator
from serkit.training.checkpoint import save_checkpoint

RATE = 16000
LABELS = ["neutral", "happy", "sad", "angry"]


def _checkpoint(path: Path, precision: str | None) -> Path:
    """A GLAM checkpoint with random weights and batch-norm statistics, trained (so it says) in ``precision``."""
    torch.manual_seed(0)
    network = create_model("glam", num_classes=len(LABELS))
    for module in network.modules():
        if isinstance(module, torch.nn.BatchNorm2d):  # statistics that make folding matter
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    payload = {
        "serkit_version": "test",
        "model_name": "glam",
        "model_args": {"num_classes": len(LABELS)},
        "label_names": LABELS,
        "feature": feature_from_dict({"name": "mfcc", "n_mfcc": 26}).to_dict(),
        "input": dataclasses.asdict(InputConfig(window=1.8, hop=0.2, eval_hop=0.2)),
        "standardizer": None,
        "epoch": 1,
        "state_dict": network.state_dict(),
    }
    if precision is not None:
        payload["precision"] = precision
    save_checkpoint(path, payload)
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    t = np.arange(3 * RATE) / RATE
    path = tmp_path_factory.mktemp("audio") / "voice.wav"
    sf.write(
        path, (0.1 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32), RATE
    )
    return path


@pytest.mark.parametrize(
    ("stored", "native_bf16", "override", "expected"),
    [
        ("auto", True, None, "bf16"),
        ("auto", False, None, "no"),
        (None, True, None, "no"),  # checkpoints older than the key were trained in float32
        ("no", True, None, "no"),
        ("auto", True, "no", "no"),
        (None, True, "bf16", "bf16"),
    ],
)
def test_members_predict_in_the_training_precision(
    tmp_path, monkeypatch, stored, native_bf16, override, expected
):
    monkeypatch.setattr(accelerator, "cpu_supports_bf16", lambda *args: native_bf16)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    recognizer = Recognizer.from_checkpoint(_checkpoint(tmp_path / "best.pt", stored), precision=override)
    assert [member.precision for member in recognizer.members] == [expected]


def test_predictions_run_under_the_members_autocast(tmp_path, clip, monkeypatch):
    recognizer = Recognizer.from_checkpoint(_checkpoint(tmp_path / "best.pt", "no"), precision="bf16")
    seen = []
    recognizer.model.fc.register_forward_hook(lambda module, args, output: seen.append(output.dtype))
    fp32 = Recognizer.from_checkpoint(_checkpoint(tmp_path / "fp32.pt", "no"))
    bf16_probabilities = recognizer.predict_proba([clip])
    assert seen and set(seen) == {torch.bfloat16}
    np.testing.assert_allclose(bf16_probabilities, fp32.predict_proba([clip]), atol=0.05)


def test_glam_is_folded_for_prediction_with_the_same_probabilities(tmp_path, clip):
    recognizer = Recognizer.from_checkpoint(_checkpoint(tmp_path / "best.pt", "no"))
    folded = recognizer.model
    assert isinstance(folded.encoder.conv2, FoldedResMultiConv)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    unfolded = Recognizer(
        create_model("glam", num_classes=len(LABELS)),
        recognizer.pipeline,
        LABELS,
        recognizer.standardizer,
    )
    unfolded.members[0].model.load_state_dict(
        torch.load(tmp_path / "best.pt", weights_only=True)["state_dict"]
    )
    np.testing.assert_allclose(recognizer.predict_proba([clip]), unfolded.predict_proba([clip]), atol=1e-5)


def test_cli_precision_option(tmp_path, clip, capsys):
    model = _checkpoint(tmp_path / "best.pt", "auto")
    for precision in ("no", "bf16"):
        out = tmp_path / f"{precision}.csv"
        assert (
            main(
                [
                    "predict",
                    str(model),
                    str(clip),
                    "--format",
                    "csv",
                    "-o",
                    str(out),
                    "--precision",
                    precision,
                ]
            )
            == 0
        )
        assert out.read_text().count("\n") == 2
    with pytest.raises(SystemExit):
        main(["predict", str(model), str(clip), "--precision", "fp64"])
    assert "invalid choice" in capsys.readouterr().err
