"""The recogniser of a MODEL argument, shared by ``serkit predict`` and ``serkit serve``.

MODEL is a checkpoint (``best.pt``), a run folder (its fold x seed models averaged), a model folder of ``serkit
export --format folder``, a Hugging Face audio-classification folder (``save_pretrained``: config.json with a
``model_type``, run by :class:`serkit.inference.hf_audio.HFAudioRecognizer`), a hub repository
``hf://owner/name[@revision]`` holding either kind of folder (downloaded, :mod:`serkit.inference.pretrained`), or
an ``.onnx`` file of ``serkit export``, which runs on the torch-free runtime (:class:`serkit.runtime.OnnxRecognizer`)
and never imports torch. For the torch recognisers the command owns the process, so the process-wide torch settings
(:func:`serkit.inference.configure_torch`) are set here, before the model is loaded; the library never does.
"""

from __future__ import annotations

from pathlib import Path

from serkit.cli.paths import ModelPath

__all__ = ["MODEL_HELP", "add_model_options", "load_recognizer", "model_argument"]

HUB_PREFIX = "hf://"  # serkit.inference.pretrained.HUB_PREFIX, written out: parsing MODEL imports no torch
MODEL_HELP = (
    "best.pt of a finished run, a run folder (its fold x seed models averaged), a model folder of `serkit export "
    "--format folder`, a Hugging Face audio-classification folder, hf://owner/name[@revision] (a hub repository "
    "of either), or a model.onnx of `serkit export` (run without torch)"
)


def model_argument(text: str) -> ModelPath | str:
    """The MODEL argument: a hub id (``hf://...``, kept as text) or a path the command reads (a ModelPath)."""
    return text if text.startswith(HUB_PREFIX) else ModelPath(text)


def add_model_options(parser, *, threads_default: int, threads_help: str, threads_type) -> None:
    """``--threads``, ``--precision`` and ``--device`` of a command that loads a MODEL (predict, serve)."""
    parser.add_argument("--threads", type=threads_type, default=threads_default, help=threads_help)
    parser.add_argument(
        "--precision",
        choices=("auto", "no", "bf16", "fp16"),
        default=None,
        help="autocast of a torch model: auto = bf16 where the CPU/GPU has it, no = float32 "
        "(default: the train.precision the model was trained with)",
    )
    parser.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default="cpu",
        help="where a torch model runs (default cpu; cuda: the GPU, an error if CUDA is not available)",
    )


def load_recognizer(
    model: Path | str,
    *,
    threads: int = 0,
    precision: str | None = None,
    device: str = "cpu",
):
    """The recogniser of a MODEL argument (see the module docstring).

    Args:
        model: ``best.pt``, run folder, model folder, transformers folder, ``hf://`` hub id or ``model.onnx``.
        threads: CPU threads of the model (0: all cores).
        precision: autocast of a serkit torch model (``auto``, ``no``, ``bf16``, ``fp16``; None: as trained).
        device: ``cpu`` or ``cuda``, for the torch models.

    Raises:
        ValueError: ``precision`` or ``--device cuda`` with an ONNX model, or ``precision`` with a
            transformers model (naming the file and the fix); SerkitError: ``cuda`` where it is not available;
            CheckpointError / ModelFileError: a model that cannot be loaded or downloaded.
    """
    if isinstance(model, Path) and model.suffix.lower() == ".onnx":  # never imports torch
        from serkit.runtime import OnnxRecognizer

        if precision not in (None, "no"):
            raise ValueError(f"--precision {precision}: an ONNX model runs in float32; omit --precision.")
        if device != "cpu":
            raise ValueError(
                f"--device {device}: an ONNX model runs on the CPU (onnxruntime); omit --device."
            )
        return OnnxRecognizer(model, threads=threads)
    from serkit.inference import Recognizer, configure_torch
    from serkit.inference.device import check_device, move_to_device
    from serkit.inference.pretrained import folder_kind, resolve_pretrained

    check_device(device)  # before any download or loading
    configure_torch(threads)
    folder = resolve_pretrained(model) if isinstance(model, str) else model
    kind = folder_kind(folder) if folder.is_dir() else None
    if kind == "transformers":
        from serkit.inference.hf_audio import HFAudioRecognizer

        if precision not in (None, "no"):
            raise ValueError(
                f"--precision {precision}: a Hugging Face model runs in float32 here; omit --precision."
            )
        return HFAudioRecognizer(folder, device=device)
    if isinstance(model, str) and kind is None:
        from serkit.core.errors import ModelFileError

        raise ModelFileError(
            f"{model}: the hub repository holds neither a serkit model folder nor a transformers model "
            "(config.json); check the repository id."
        )
    return move_to_device(Recognizer.from_checkpoint(folder, precision=precision), device)
