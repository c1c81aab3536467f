"""The HTTP API of ``serkit serve``: one loaded recogniser behind a small FastAPI app.

>>> app = create_app(Recognizer.from_checkpoint("runs/ravdess"), max_upload_mb=20, max_seconds=600)  # doctest: +SKIP
>>> uvicorn.run(app, host="127.0.0.1", port=8000)                                                     # doctest: +SKIP

Endpoints (every error is JSON ``{"error": "<what is wrong and the fix>"}`` with a 4xx status):

- ``POST /predict``: multipart form, field ``file`` (the audio; WAV, FLAC, OGG, MP3: what soundfile reads) and,
  for fusion models, ``text`` (its transcript). Query ``timeline=true`` adds the emotion over time, one entry per
  ``window`` seconds every ``hop`` seconds (defaults 3 and 1, each 0.1 to 60); ``segments=true`` adds one emotion
  per speech region of the silero VAD, as ``serkit predict --segments`` (:func:`serkit.runtime.recordings.
  file_segments`; 501 when silero-vad is not installed; neither for a fusion model: 400). Returns::

      {"file": "clip.wav", "label": "angry", "speech": true, "no_speech": false,
       "probabilities": {"neutral": 0.1, "happy": 0.2, "sad": 0.1, "angry": 0.6},
       "duration_seconds": 3.2,
       "timeline": [{"start": 0.0, "end": 3.0, "label": "angry", "speech": true,
                     "probabilities": {"neutral": 0.1, ...}}, ...],      # only with timeline=true
       "segments": [{"start": 1.02, "end": 2.75, "label": "angry",
                     "probabilities": {"neutral": 0.1, ...}}, ...]}      # only with segments=true ([]: no speech)

  ``label`` is ``no_speech`` (and ``no_speech`` true) when the energy gate finds no speech. A model of emotion
  dimensions (``task: regression`` or ``multitask``, :mod:`serkit.runtime.task`) adds, to the answer and to each
  timeline entry and segment, ``"dimensions": {"arousal": 3.4, ...}`` (the training corpus's rating scale, given
  as ``"dimension_range": [1, 5]`` in the answer) and ``"dimensions_01": {"arousal": 0.6, ...}`` (the model's [0,
  1] values); a regression model has no classes: ``label`` is null (``no_speech`` without speech) and
  ``probabilities`` is ``{}``. Status 400: no
  ``file`` field, an empty, corrupt or too short upload; 413: larger than ``max_upload_mb`` or longer than
  ``max_seconds``; 415: not an audio format soundfile reads.
- ``GET /health``: ``{"status": "ok", "model": ..., "runtime": "torch" | "onnx", "labels": [...],
  "task": "classification", "dimensions": [], "dimension_range": null, "sample_rate": 16000, "timeline": true,
  "segments": true, "needs_text": false, "max_upload_mb": 20.0, "max_seconds": 600.0}`` (``segments``: the VAD is
  installed and the model takes audio alone).
- ``GET /labels``: ``{"labels": [...]}``, the order of the probabilities; for a model of dimensions also ``task``,
  ``dimensions`` and ``dimension_range``.
- ``GET /``: the page (:mod:`serkit.serve.page`): upload or record, bars of the probabilities, the timeline, the
  speech regions.

Concurrency: the endpoints are plain functions, so FastAPI runs them in its thread pool; at most ``concurrency``
predictions run at once (a semaphore; the others wait), since each holds a decoded file (up to ``max_seconds``) and
its model inputs in memory and the cores are the limit anyway. Inference on one shared model from several threads
is safe: the torch recogniser keeps no per-call state on the model (eval mode, no gradients, autocast is
thread-local) and onnxruntime sessions may be run concurrently.

This module imports fastapi only inside :func:`create_app` and never imports torch (the recogniser is built by the
caller), so an ONNX model is served without torch.
"""

# no `from __future__ import annotations`: FastAPI reads the endpoints' annotations, which name classes
# imported inside create_app

import os
import re
import tempfile
import threading
from pathlib import Path

from serkit.audio import io as audio_io
from serkit.audio.speech import NO_SPEECH
from serkit.audio.vad import SileroVad
from serkit.core.errors import AudioError, ModelFileError, SerkitError, UnsupportedAudioFormatError
from serkit.runtime import OnnxRecognizer
from serkit.runtime.recordings import file_segments
from serkit.runtime.task import ModelTask

__all__ = ["UploadError", "create_app", "predict_file", "require_serve_packages"]

_COPY_BLOCK = 1 << 20  # bytes copied from the upload to the temporary file at a time
_MULTIPART_SLACK = 64 * 1024  # a request may exceed the file by its multipart headers and other fields


def require_serve_packages() -> None:
    """Raise SerkitError naming the missing package when fastapi, uvicorn or python-multipart is not installed."""
    for module, package in (
        ("fastapi", "fastapi"),
        ("uvicorn", "uvicorn"),
        ("multipart", "python-multipart"),
    ):
        try:
            __import__(module)
        except ImportError:
            raise SerkitError(
                f'`serkit serve` needs {package}: pip install "serkit[serve]" (fastapi, uvicorn, python-multipart).'
            ) from None


class UploadError(SerkitError):
    """A request the server refuses; ``status`` is its HTTP status code."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


def _load_vad() -> SileroVad | str:
    """The silero VAD of ``segments=true``, or the reason there is none (what to install)."""
    try:
        return SileroVad()
    except ModelFileError as exc:
        return str(exc)


def _safe_suffix(filename: str) -> str:
    """The extension of an uploaded file name if it is a plain one (``.wav``), else none: soundfile reads WAV, FLAC
    and OGG by their content; the name only helps formats such as MP3."""
    suffix = Path(filename).suffix.lower()
    return suffix if re.fullmatch(r"\.[a-z0-9]{1,5}", suffix) else ""


def _copy_upload(source, target: Path, *, name: str, max_bytes: int) -> int:
    """Copy an uploaded file object to ``target``, refusing it (413) once it exceeds ``max_bytes``; its size."""
    size = 0
    with open(target, "wb") as out:
        while block := source.read(_COPY_BLOCK):
            size += len(block)
            if size > max_bytes:
                raise UploadError(
                    413,
                    f"{name}: larger than the server's upload limit of {max_bytes / 2**20:.3g} MB; send a shorter "
                    "or compressed file (FLAC), or start the server with a larger --max-upload-mb.",
                )
            out.write(block)
    if size == 0:
        raise UploadError(400, f"{name}: the uploaded file is empty (0 bytes); choose an audio file.")
    return size


def _named(exc: Exception, path: Path, name: str) -> str:
    """The message of an error about the temporary file, naming the uploaded file instead."""
    return str(exc).replace(str(path), name)


def _row(labels: list[str], probabilities) -> dict[str, float]:
    return {label: float(p) for label, p in zip(labels, probabilities)}


def _task(recognizer) -> ModelTask:
    """The task of any recogniser: back-ends without one (Hugging Face models) are classifiers."""
    task = getattr(recognizer, "task", None)
    return task if isinstance(task, ModelTask) else ModelTask("classification", tuple(recognizer.classes_))


def _dimension_fields(task: ModelTask, values) -> dict:
    """``dimensions`` (corpus scale) and ``dimensions_01`` (the [0, 1] values) of one row; ``{}`` for a classifier."""
    if not task.has_dimensions:
        return {}
    return {"dimensions": task.named(task.to_corpus_scale(values)), "dimensions_01": task.named(values)}


def _label(task: ModelTask, label: str) -> str | None:
    """A label as the answer gives it: None for a regression model (no classes), unless there is no speech."""
    return label if task.has_classes or label == NO_SPEECH else None


def predict_file(
    recognizer,
    path: Path,
    *,
    name: str,
    max_seconds: float,
    timeline: bool = False,
    window: float = 3.0,
    hop: float = 1.0,
    text: str | None = None,
    segments: bool = False,
    vad: SileroVad | str | None = None,
) -> dict:
    """The JSON answer of ``POST /predict`` for an uploaded file stored at ``path`` (``name``: its upload name).

    Args:
        segments: add one entry per speech region of ``vad`` (a SileroVad, or why there is none).

    Raises:
        UploadError: 400 (corrupt, empty, too short, no transcript for a fusion model, a timeline or segments of a
            fusion model), 413 (longer than ``max_seconds``), 415 (not audio) or 501 (segments without the VAD),
            naming ``name`` and the fix.
    """
    labels, task = list(recognizer.classes_), _task(recognizer)
    if segments and not isinstance(vad, SileroVad):
        raise UploadError(501, f"segments=true: {vad or 'no VAD given'}")
    if (segments or timeline) and recognizer.needs_text:
        raise UploadError(
            400,
            "timeline=true and segments=true are for audio-only models: this one fuses audio with the "
            "transcript of the whole file; leave them out.",
        )
    try:
        seconds = audio_io.duration(path)
        if seconds > max_seconds:
            raise UploadError(
                413,
                f"{name}: {seconds:.1f} s long, over the server's limit of {max_seconds:g} s; cut it "
                "(e.g. `ffmpeg -i in.wav -t 600 out.wav`) or start the server with a larger --max-seconds.",
            )
        if recognizer.needs_text and not text:
            raise UploadError(
                400, f"{name}: this model fuses audio with its transcript; send it in the form field `text`."
            )
        texts = [text] if recognizer.needs_text else None
        if task.has_dimensions:
            probabilities, values, speech = recognizer.analyse_outputs([path], texts)
        else:
            probabilities, speech = recognizer.analyse([path], texts) if texts else recognizer.analyse([path])
            values = [()]
        answer = {
            "file": name,
            "label": _label(task, recognizer.labels_from(probabilities, speech)[0]),
            "speech": bool(speech[0]),
            "no_speech": not bool(speech[0]),
            "probabilities": _row(labels, probabilities[0]),
            **_dimension_fields(task, values[0]),
            **({"dimension_range": list(task.dimension_range)} if task.has_dimensions else {}),
            "duration_seconds": round(float(seconds), 3),
        }
        if timeline:
            answer["timeline"] = [
                {
                    "start": entry.start,
                    "end": entry.end,
                    "label": _label(task, entry.label),
                    "speech": entry.speech,
                    "probabilities": _row(labels, entry.probabilities),
                    **_dimension_fields(task, entry.values),
                }
                for entry in recognizer.timeline(path, window=window, hop=hop)
            ]
        if segments:
            answer["segments"] = [
                {
                    "start": segment.start,
                    "end": segment.end,
                    "label": _label(task, segment.label),
                    "probabilities": _row(labels, segment.probabilities),
                    **_dimension_fields(task, segment.values),
                }
                for segment in file_segments(recognizer, path, vad=vad)
            ]
        return answer
    except UnsupportedAudioFormatError as exc:
        raise UploadError(415, _named(exc, path, name)) from None
    except (AudioError, ValueError) as exc:  # corrupt, empty, shorter than a window, bad window/hop
        raise UploadError(400, _named(exc, path, name)) from None


def create_app(
    recognizer,
    *,
    max_upload_mb: float = 20.0,
    max_seconds: float = 600.0,
    concurrency: int | None = None,
    model_name: str = "model",
):
    """A FastAPI app serving ``recognizer`` (a :class:`serkit.inference.Recognizer` or
    :class:`serkit.runtime.OnnxRecognizer`, loaded once by the caller); endpoints in the module docstring.

    Args:
        max_upload_mb: largest accepted upload, in MB (2**20 bytes).
        max_seconds: longest accepted audio, in seconds (read from the file's header before decoding).
        concurrency: predictions run at once (the others wait); None: the number of CPU cores.
        model_name: what ``/health`` and the page call the model (e.g. the MODEL argument).

    Raises:
        SerkitError: fastapi or python-multipart missing (:func:`require_serve_packages`).
        ValueError: a limit that is not positive.
    """
    require_serve_packages()
    from fastapi import FastAPI, File, Form, Query, Request, UploadFile
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse

    from serkit.serve.page import render_page

    for key, value in (("max_upload_mb", max_upload_mb), ("max_seconds", max_seconds)):
        if not value > 0:
            raise ValueError(f"{key}={value!r}: give a positive number.")
    concurrency = concurrency or os.cpu_count() or 1
    if concurrency < 1:
        raise ValueError(f"concurrency={concurrency!r}: give at least 1 (predictions at once).")
    max_bytes = round(max_upload_mb * 2**20)
    slots = threading.BoundedSemaphore(concurrency)
    vad = _load_vad()  # once: the session is shared (each call keeps its own recurrent state)
    described = _task(recognizer).describe()
    info = {
        "status": "ok",
        "model": model_name,
        "runtime": "onnx" if isinstance(recognizer, OnnxRecognizer) else "torch",
        "labels": list(recognizer.classes_),
        "task": described["task"],
        "dimensions": described.get("dimensions", []),
        "dimension_range": described.get("dimension_range"),
        "sample_rate": int(recognizer.sample_rate),
        "timeline": not recognizer.needs_text,
        "segments": isinstance(vad, SileroVad) and not recognizer.needs_text,
        "needs_text": bool(recognizer.needs_text),
        "max_upload_mb": float(max_upload_mb),
        "max_seconds": float(max_seconds),
    }
    page = render_page(info)
    app = FastAPI(title="serkit", description="Speech emotion recognition", version="1")

    @app.exception_handler(UploadError)
    def _upload_error(request: Request, exc: UploadError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    def _bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error.get('loc', ()))}: {error.get('msg')}"
            for error in exc.errors()
        )
        return JSONResponse({"error": f"bad request ({problems}); see GET /docs."}, status_code=400)

    @app.middleware("http")
    async def _refuse_large_bodies(request: Request, call_next):
        """Refuse a too large upload from its Content-Length, before reading it (copying also counts)."""
        length = request.headers.get("content-length", "")
        if request.url.path == "/predict" and length.isdigit() and int(length) > max_bytes + _MULTIPART_SLACK:
            return JSONResponse(
                {
                    "error": f"request of {int(length) / 2**20:.1f} MB is larger than the server's upload limit of "
                    f"{max_upload_mb:g} MB; send a shorter or compressed file (FLAC), or start the server "
                    "with a larger --max-upload-mb."
                },
                status_code=413,
            )
        return await call_next(request)

    @app.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get("/health")
    def health() -> dict:
        return info

    @app.get("/labels")
    def labels() -> dict:
        if not info["dimensions"]:
            return {"labels": info["labels"]}
        return {key: info[key] for key in ("labels", "task", "dimensions", "dimension_range")}

    @app.post("/predict")
    def predict(
        file: UploadFile | None = File(None),  # noqa: B008  (FastAPI's way to declare a form field)
        text: str | None = Form(None),  # noqa: B008
        timeline: bool = False,
        segments: bool = False,
        window: float = Query(3.0, ge=0.1, le=60.0),  # noqa: B008  (seconds; bounded: a timeline of a long
        hop: float = Query(1.0, ge=0.1, le=60.0),  # noqa: B008  file has duration / hop windows)
    ) -> dict:
        if file is None:
            raise UploadError(
                400,
                "no file in the request: send the audio as multipart form field `file` (curl -F file=@a.wav).",
            )
        name = Path(file.filename or "upload").name
        with tempfile.TemporaryDirectory(prefix="serkit-serve-") as folder:
            path = Path(folder) / f"upload{_safe_suffix(name)}"
            _copy_upload(file.file, path, name=name, max_bytes=max_bytes)
            with slots:
                return predict_file(
                    recognizer,
                    path,
                    name=name,
                    max_seconds=max_seconds,
                    timeline=timeline,
                    window=window,
                    hop=hop,
                    text=text,
                    segments=segments,
                    vad=vad,
                )

    app.state.recognizer = recognizer
    return app
