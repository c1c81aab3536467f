"""The recogniser of a MODEL argument, shared by ``serkit predict`` and ``serkit serve``.

MODEL is a checkpoint (``best.pt``), a run folder (its fold x seed models averaged) or an ``.onnx`` file of
``serkit export``, which runs on the torch-free runtime (:class:`serkit.runtime.OnnxRecognizer`) and never imports
torch. For the torch recogniser the command owns the process, so the process-wide torch settings
(:func:`serkit.inference.configure_torch`) are set here, before the model is loaded; the library never does.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["load_recognizer"]


def load_recognizer(model: Path, *, threads: int = 0, precision: str | None = None, timeline: bool = False):
    """The torch recogniser of a checkpoint or run folder, or the torch-free runtime of an ``.onnx`` file.

    Args:
        model: ``best.pt``, run folder or ``model.onnx``.
        threads: CPU threads of the model (0: all cores).
        precision: autocast of a torch model (``auto``, ``no``, ``bf16``, ``fp16``; None: as trained).
        timeline: the caller will ask for timelines, which ONNX models do not have yet.

    Raises:
        ValueError: ``precision`` or ``timeline`` with an ONNX model (naming the file and the fix);
            CheckpointError / ModelFileError: a model file that cannot be loaded.
    """
    if model.suffix.lower() == ".onnx":  # never imports torch
        from serkit.runtime import OnnxRecognizer

        if precision not in (None, "no"):
            raise ValueError(f"--precision {precision}: an ONNX model runs in float32; omit --precision.")
        if timeline:
            raise ValueError(
                f"{model}: --timeline is not available for ONNX models yet; use the checkpoint (best.pt or "
                "run folder) for a timeline."
            )
        return OnnxRecognizer(model, threads=threads)
    from serkit.inference import Recognizer, configure_torch

    configure_torch(threads)
    return Recognizer.from_checkpoint(model, precision=precision)
