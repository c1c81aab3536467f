"""The torch-free runtime: exported models (``serkit export ... --format onnx``) on onnxruntime.

:class:`OnnxRecognizer` reads an ONNX file written by :mod:`serkit.inference.onnx_export`, takes labels, sample
rate, segmentation, aggregation and task (classes and/or emotion dimensions, :class:`ModelTask`) from its metadata
(:class:`ModelCard`), and predicts audio files as
:class:`serkit.inference.Recognizer` does, with numpy, soundfile (:mod:`serkit.audio.io`) and onnxruntime only.
Install what it needs with ``pip install "serkit[runtime]"``. Nothing in this package imports torch (the import
contract "runtime never imports torch" in ``pyproject.toml``).
"""

from serkit.runtime.metadata import ModelCard
from serkit.runtime.recognizer import OnnxRecognizer
from serkit.runtime.task import ModelTask

__all__ = ["ModelCard", "ModelTask", "OnnxRecognizer"]
