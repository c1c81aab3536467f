"""``--timeline`` of an exported model: :meth:`serkit.runtime.OnnxRecognizer.timeline` gives the windows, speech
flags and (within float32 tolerance) the probabilities of the checkpoint's timeline, on a generated 8 s file and a
RAVDESS file, and ``serkit predict model.onnx FILE --timeline [--vad silero]`` runs with torch blocked."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from serkit.cli import main
from serkit.inference.recognizer import Recognizer
from serkit.runtime import OnnxRecognizer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_batching import RATE, SETUPS, _checkpoint, _speechlike  # noqa: E402
from torch_blocked import run_without_torch  # noqa: E402

pytest.importorskip("onnxscript", reason='exporting needs onnx and onnxscript: pip install "serkit[export]"')

RAVDESS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ravdess"
TOLERANCE = 1e-4  # max abs difference of probabilities, onnxruntime vs torch, float32


@pytest.fixture(scope="module")
def long_file(tmp_path_factory) -> Path:
    """8 s: 2 s of silence, 5 s speech-like, 1 s of silence (the gate marks the silent windows)."""
    silence = np.zeros(RATE, dtype=np.float32)
    path = tmp_path_factory.mktemp("audio") / "long.wav"
    sf.write(path, np.concatenate([silence, silence, _speechlike(5.0, 1), silence]), RATE)
    return path


@pytest.fixture(scope="module", params=["glam_segments", "cnn_segments"])
def models(request, long_file, tmp_path_factory) -> tuple[Recognizer, OnnxRecognizer, Path]:
    """A random-weight checkpoint (GLAM's 1.8 s windows, or a CNN's 1 s), its torch and ONNX recognisers."""
    from serkit.inference.onnx_export import export_onnx

    folder = tmp_path_factory.mktemp(request.param)
    model, args, inputs = SETUPS[request.param]
    checkpoint = _checkpoint(folder, [long_file], model, args, inputs)
    export_onnx(checkpoint, folder / "model.onnx")
    onnx = OnnxRecognizer(folder / "model.onnx", threads=1)
    return Recognizer.from_checkpoint(checkpoint, precision="no"), onnx, folder / "model.onnx"


def _assert_same_timeline(torch_recognizer, onnx_recognizer, path, **windows) -> float:
    """The two timelines agree (windows, speech flags, labels where the classes are not tied); their largest
    probability difference."""
    expected = list(torch_recognizer.timeline(path, **windows))
    got = list(onnx_recognizer.timeline(path, **windows))
    assert [(e.start, e.end, e.speech) for e in got] == [(e.start, e.end, e.speech) for e in expected]
    difference = np.abs(np.array([e.probabilities for e in got]) - [e.probabilities for e in expected]).max()
    assert difference <= TOLERANCE
    for mine, theirs in zip(got, expected):
        if np.sort(theirs.probabilities)[-1] - np.sort(theirs.probabilities)[-2] > 2 * TOLERANCE:
            assert mine.label == theirs.label
    return float(difference)


def test_onnx_timeline_equals_the_checkpoint_timeline(models, long_file):
    torch_recognizer, onnx_recognizer, _ = models
    _assert_same_timeline(torch_recognizer, onnx_recognizer, long_file, window=3.0, hop=1.0)
    entries = list(onnx_recognizer.timeline(long_file, window=2.0, hop=0.5))
    assert [e.start for e in entries[:3]] == [0.0, 0.5, 1.0] and entries[-1].end == 8.0
    assert not entries[0].speech and entries[0].label == "no_speech" and entries[4].speech
    _assert_same_timeline(torch_recognizer, onnx_recognizer, long_file, window=2.0, hop=0.5)
    with pytest.raises(ValueError, match="must be positive"):
        list(onnx_recognizer.timeline(long_file, window=0.0))


@pytest.mark.skipif(
    not RAVDESS.is_dir(), reason=f"real corpus {RAVDESS} is not present (beside the checkout in CI)"
)
def test_onnx_timeline_on_ravdess(models):
    torch_recognizer, onnx_recognizer, _ = models
    path = sorted((RAVDESS / "audio").rglob("*.flac"))[5]  # 48 kHz, resampled on reading
    _assert_same_timeline(torch_recognizer, onnx_recognizer, path, window=2.0, hop=0.5)


def test_cli_timeline_of_an_onnx_model(models, long_file, tmp_path):
    _, onnx_recognizer, model = models
    out = tmp_path / "timeline.json"
    assert (
        main(["predict", str(model), str(long_file), "--timeline", "--format", "json", "-o", str(out)]) == 0
    )
    rows = json.loads(out.read_text())["predictions"]
    expected = list(onnx_recognizer.timeline(long_file))
    assert [(r["start"], r["end"], r["label"]) for r in rows] == [(e.start, e.end, e.label) for e in expected]


def test_onnx_timeline_runs_without_torch(models, long_file):
    _, _, model = models
    gates = [[]]
    if __import__("importlib").util.find_spec("silero_vad") is not None:
        gates.append(["--vad", "silero"])
    for gate in gates:
        code = (
            "from serkit.cli import main\n"
            f"code = main(['predict', {str(model)!r}, {str(long_file)!r}, '--timeline', '--format', 'csv', *{gate!r}])\n"
            "assert code == 0 and 'torch' not in sys.modules, code\n"
        )
        done = run_without_torch(code)
        assert done.returncode == 0, done.stderr
        rows = done.stdout.strip().splitlines()
        assert rows[0].startswith("path,start,end,label") and len(rows) == 1 + 7  # windows at 0, 1, ..., 6 s
