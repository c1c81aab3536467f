"""Fixtures of the ``serkit serve`` tests: a random-weight checkpoint (no training), its ONNX export, generated
clips, and a real ``serkit serve`` process on a free port of 127.0.0.1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

sys.path.insert(
    0, str(Path(__file__).resolve().parents[1] / "inference")
)  # the checkpoints of the batching tests
from test_batching import LABELS, RATE, SETUPS, _checkpoint, _speechlike  # noqa: E402

__all__ = ["LABELS", "RATE"]


@pytest.fixture(scope="session")
def clips(tmp_path_factory) -> dict[str, Path]:
    """Generated WAVs: ``short`` 1.3 s, ``medium`` 2.5 s, ``long`` 8 s (speech-like), ``silent`` 1 s of zeros."""
    folder = tmp_path_factory.mktemp("clips")
    paths = {}
    for index, (name, seconds) in enumerate([("short", 1.3), ("medium", 2.5), ("long", 8.0)]):
        paths[name] = folder / f"{name}.wav"
        sf.write(paths[name], _speechlike(seconds, index), RATE)
    paths["silent"] = folder / "silent.wav"
    sf.write(paths["silent"], np.zeros(RATE, dtype=np.float32), RATE)
    return paths


@pytest.fixture(scope="session")
def checkpoint(clips, tmp_path_factory) -> Path:
    """cnn_small on 26 MFCCs of 1 s windows (exportable), random weights, the format ``serkit train`` writes."""
    model, args, inputs = SETUPS["cnn_segments"]
    return _checkpoint(tmp_path_factory.mktemp("ckpt"), list(clips.values()), model, args, inputs)


@pytest.fixture(scope="session")
def recognizer(checkpoint):
    from serkit.inference import Recognizer

    return Recognizer.from_checkpoint(checkpoint)


@pytest.fixture(scope="session")
def onnx_model(checkpoint, tmp_path_factory) -> Path:
    pytest.importorskip(
        "onnxscript", reason='exporting needs onnx and onnxscript: pip install "serkit[export]"'
    )
    from serkit.inference.onnx_export import export_onnx

    path = tmp_path_factory.mktemp("onnx") / "model.onnx"
    export_onnx(checkpoint, path)
    return path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def server(checkpoint, tmp_path_factory):
    """``serkit serve CHECKPOINT`` in its own process on a free port; yields its base URL, stopped at the end."""
    httpx = pytest.importorskip("httpx", reason="the server tests talk to it with httpx")
    port = _free_port()
    log = tmp_path_factory.mktemp("server") / "serve.log"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "serkit.cli", "serve", str(checkpoint), "--port", str(port)]
    with open(log, "wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                pytest.fail(f"serkit serve exited with {process.returncode}: {log.read_text()}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"serkit serve did not answer /health within 120 s: {log.read_text()}")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
