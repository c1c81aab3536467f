"""Long recordings by their speech regions (``serkit predict --segments``) and the VAD as the speech gate of a
timeline (``serkit predict --timeline --vad silero``): re-exported from :mod:`serkit.runtime.recordings`, where
they live so that the torch-free ONNX runtime and ``serkit serve`` use the same code."""

from serkit.runtime.recordings import VADS, Segment, file_segments, region_sources, vad_timeline

__all__ = ["VADS", "Segment", "file_segments", "region_sources", "vad_timeline"]
