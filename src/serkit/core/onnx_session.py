"""An onnxruntime session on the CPU, shared by the ONNX runtime (:mod:`serkit.runtime`) and the VAD
(:mod:`serkit.audio.vad`). onnxruntime is imported here only when a session is made; never torch."""

from __future__ import annotations

from pathlib import Path

from serkit.core.errors import ModelFileError

__all__ = ["cpu_session"]


def cpu_session(path: Path, *, threads: int, fix: str):
    """An ``onnxruntime.InferenceSession`` of ``path`` on the CPU, logging errors only.

    Args:
        path: the ``.onnx`` file.
        threads: onnxruntime's intra-op threads; 0 = its default (all cores).
        fix: what the user should do if the file cannot be loaded (ends the error message).

    Raises:
        ImportError: onnxruntime is not installed (callers check first, with their own install hint).
        ModelFileError: onnxruntime cannot load the file, naming it, the reason and ``fix``.
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3  # errors only
    try:
        return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001  (onnxruntime raises its own untyped errors for bad files)
        raise ModelFileError(
            f"{path}: onnxruntime cannot load it ({type(exc).__name__}: {str(exc).splitlines()[0]}); {fix}"
        ) from None
