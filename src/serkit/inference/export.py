"""Writing predictions: a table on screen, CSV, JSON, or NPZ posteriors (the DCNN seed's "servectors", without
pickles). One unreadable file does not stop the others: it is reported at the end and the exit code is 1.

A model of emotion dimensions (``task: regression`` or ``multitask``, :mod:`serkit.runtime.task`) adds, after the
class columns, ``<dimension>`` (on the training corpus's rating scale) and ``<dimension>_01`` (the model's [0, 1]
value) per dimension; a regression model has no ``label`` and ``p_<class>`` columns. A classifier's output is
unchanged."""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from serkit.audio.io import expand_audio_paths
from serkit.audio.vad import SileroVad
from serkit.core.errors import AudioError
from serkit.core.fileio import atomic_open, atomic_write_text
from serkit.runtime.recordings import VADS, Segment, TimelineEntry, file_segments, vad_timeline

if TYPE_CHECKING:  # the writers take any recogniser with its interface: Recognizer or runtime.OnnxRecognizer
    from serkit.inference.recognizer import Recognizer

__all__ = [
    "DEFAULT_BATCH_FILES",
    "dimension_columns",
    "prediction_rows",
    "read_transcripts",
    "write_predictions",
]

#: Files predicted together by default (``serkit predict --batch-size``): their chunks share the model's batches.
DEFAULT_BATCH_FILES = 16


def read_transcripts(path: str | os.PathLike) -> dict[str, str]:
    """A CSV with columns ``path,text`` -> {resolved audio path: transcript} (paths relative to the CSV's folder).

    Raises:
        ValueError: the file lacks the columns, naming the file and the expected header.
    """
    path = Path(path)
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"path", "text"} <= set(reader.fieldnames):
            raise ValueError(
                f"{path}: a transcripts file needs the header 'path,text', got {reader.fieldnames}."
            )
        return {str((path.parent / row["path"]).resolve()): row["text"] or "" for row in reader}


def _transcript(transcripts: dict[str, str], audio: Path) -> str:
    key = str(audio.resolve())
    if key not in transcripts:
        raise ValueError(
            f"{audio}: no transcript for this file in the transcripts CSV (fusion models need one)."
        )
    return transcripts[key]


def _dimensions(recognizer: Recognizer) -> list[str]:
    """The dimension names of any recogniser (``[]`` for a classifier or a back-end without dimensions)."""
    return list(getattr(recognizer, "dimensions_", []))


def dimension_columns(recognizer: Recognizer, values: Iterable[float]) -> dict[str, float]:
    """``{<dimension>: corpus-scale value, <dimension>_01: [0, 1] value}`` of one row of values on [0, 1]."""
    unit = np.asarray(list(values), dtype=np.float64)
    if unit.size == 0:
        return {}
    corpus = recognizer.task.to_corpus_scale(unit)
    columns = {}
    for name, value, scaled in zip(recognizer.dimensions_, unit, corpus):
        columns[name], columns[f"{name}_01"] = float(scaled), float(value)
    return columns


def _columns(recognizer: Recognizer, *, spans: bool, speech: bool) -> list[str]:
    """The columns of the rows of :func:`prediction_rows` (``spans``: a timeline or segments)."""
    classes = list(recognizer.classes_)
    return [
        "path",
        *(["start", "end"] if spans else []),
        *(["label"] if classes or not _dimensions(recognizer) else []),
        *[f"p_{c}" for c in classes],
        *[column for name in _dimensions(recognizer) for column in (name, f"{name}_01")],
        *(["speech"] if speech else []),
    ]


def _failure(path: Path, exc: Exception) -> str:
    """The error message, starting with the file it is about (messages of ValueError may not name it)."""
    message = str(exc)
    return message if str(path) in message else f"{path}: {message}"


def prediction_rows(
    recognizer: Recognizer,
    paths: str | os.PathLike | Iterable[str | os.PathLike],
    *,
    timeline: bool = False,
    window: float = 3.0,
    hop: float = 1.0,
    failures: list[str] | None = None,
    transcripts: dict[str, str] | None = None,
    batch_size: int = DEFAULT_BATCH_FILES,
    segments: bool = False,
    vad: str = "energy",
    notes: list[str] | None = None,
) -> Iterator[dict[str, Any]]:
    """One dict per file (or per timeline window): path, [start, end,] label, one ``p_<class>`` per class, speech;
    for a model of dimensions also ``<dimension>`` and ``<dimension>_01`` (:func:`dimension_columns`; a regression
    model's ``label`` is ``""``, or ``no_speech``).

    ``segments``: one dict per speech region found by the VAD (:func:`~serkit.inference.segments.file_segments`):
    path, start, end, label, ``p_<class>`` (no ``speech``: every region is speech); a file without any region
    gives no row and a line in ``notes`` (if given). ``vad`` (``energy`` or ``silero``): the speech gate of a
    timeline (:data:`~serkit.inference.segments.VADS`).

    Files are predicted ``batch_size`` at a time (:meth:`~serkit.inference.recognizer.Recognizer.analyse_each`:
    their chunks share the model's batches), in order; rows come out batch by batch. A timeline reads one file
    window by window.

    ``speech`` is a bool: False when the energy gate finds no speech in the file (or window), whose ``label`` is
    then :data:`~serkit.inference.recognizer.NO_SPEECH`; the probabilities are the model's all the same.
    Unreadable files (and, for fusion models, files without a transcript) are appended to ``failures`` (if given),
    one message each naming the file, and skipped.

    Raises:
        AudioFileNotFoundError, NoAudioFilesError: a path that does not exist or a folder without audio, before
            any row is produced. ValueError: ``batch_size`` below 1.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size}: predict at least 1 file at a time.")
    if vad not in VADS:
        raise ValueError(f"vad={vad!r}: use one of {', '.join(VADS)}.")
    if (segments or timeline) and recognizer.needs_text:
        raise ValueError(
            "--segments and --timeline are for audio-only models: a fusion model needs the transcript of each "
            "region or window; predict whole utterances with --transcripts instead."
        )
    if recognizer.needs_text and transcripts is None:
        raise ValueError("this model fuses audio with text: pass --transcripts FILE.csv (columns path,text).")
    # loaded before the first row, so that a missing silero-vad fails at once
    silero = SileroVad() if segments or (timeline and vad == "silero") else None
    # expanded before the first row, so a wrong path fails at once instead of after part of the output
    files = expand_audio_paths(paths, must_exist=recognizer.reads_audio)
    return _rows(
        recognizer,
        files,
        timeline=timeline,
        window=window,
        hop=hop,
        failures=failures,
        transcripts=transcripts,
        batch_size=batch_size,
        segments=segments,
        silero=silero,
        notes=notes,
    )


def _rows(
    recognizer: Recognizer,
    files: list[Path],
    *,
    timeline: bool,
    window: float,
    hop: float,
    failures: list[str] | None,
    transcripts: dict[str, str] | None,
    batch_size: int,
    segments: bool,
    silero: SileroVad | None,
    notes: list[str] | None,
) -> Iterator[dict[str, Any]]:
    def probability_columns(probabilities: Iterable[float]) -> dict[str, float]:
        return {f"p_{c}": float(p) for c, p in zip(recognizer.classes_, probabilities)}

    def label_column(label: str) -> dict[str, str]:
        """The label of a model with classes: a regression model has none (its rows have no ``label``)."""
        return {"label": label} if recognizer.classes_ or not _dimensions(recognizer) else {}

    def span_row(path: Path, span: Segment | TimelineEntry) -> dict[str, Any]:
        """The row of a timeline window or a speech region."""
        return {
            "path": str(path),
            "start": span.start,
            "end": span.end,
            **label_column(span.label),
            **probability_columns(span.probabilities),
            **dimension_columns(recognizer, span.values),
        }

    def failed(path: Path, exc: Exception) -> None:
        if failures is None:
            raise exc
        failures.append(_failure(path, exc))

    if segments:
        for path in files:
            try:
                found = file_segments(recognizer, path, vad=silero)
            except (AudioError, ValueError) as exc:
                failed(path, exc)
                continue
            if not found and notes is not None:
                notes.append(f"{path}: the VAD (silero) found no speech; no segments")
            for segment in found:
                yield span_row(path, segment)
        return
    if timeline and not recognizer.needs_text:
        for path in files:
            try:
                entries = (
                    recognizer.timeline(path, window=window, hop=hop)
                    if silero is None
                    else vad_timeline(recognizer, path, window=window, hop=hop, vad=silero)
                )
                for entry in entries:
                    yield {**span_row(path, entry), "speech": entry.speech}
            except (AudioError, ValueError) as exc:
                failed(path, exc)
        return
    for first in range(0, len(files), batch_size):
        batch, texts = [], []
        for path in files[first : first + batch_size]:
            try:
                texts.append(_transcript(transcripts, path) if recognizer.needs_text else "")
                batch.append(path)
            except ValueError as exc:
                failed(path, exc)
        for path, result in zip(batch, _predict_batch(recognizer, batch, texts)):
            if isinstance(result, Exception):
                failed(path, result)
            else:
                probabilities, values, speech = result
                yield {
                    "path": str(path),
                    **label_column(recognizer.labels_from([probabilities], [speech])[0]),
                    **probability_columns(probabilities),
                    **dimension_columns(recognizer, values),
                    "speech": bool(speech),
                }


def _analyse_each(recognizer: Recognizer, batch: list[Path], texts: list[str] | None):
    """(probabilities, values, speech, failures) of a batch; values (n, 0) for a recogniser without dimensions."""
    if _dimensions(recognizer):
        return recognizer.analyse_each_outputs(batch, texts)
    probabilities, speech, errors = recognizer.analyse_each(batch, texts)
    return probabilities, np.zeros((len(batch), 0)), speech, errors


def _predict_batch(
    recognizer: Recognizer, batch: list[Path], texts: list[str]
) -> list[tuple[np.ndarray, np.ndarray, bool] | Exception]:
    """(probabilities, dimension values, speech) of each file of a batch, or the error of a file that failed.

    A batch whose model step fails (a fault no file can be blamed for from the batch) is predicted again file by
    file, so that each failure is reported with its own file, as when files were predicted one at a time.
    """
    if not batch:
        return []
    try:
        probabilities, values, speech, errors = _analyse_each(
            recognizer, batch, texts if recognizer.needs_text else None
        )
    except (AudioError, ValueError) as exc:
        if len(batch) == 1:
            return [exc]
        return [
            result
            for path, text in zip(batch, texts)
            for result in _predict_batch(recognizer, [path], [text])
        ]
    return [errors.get(i, (probabilities[i], values[i], bool(speech[i]))) for i in range(len(batch))]


def _format_value(value: Any, digits: int) -> str:
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def write_predictions(
    recognizer: Recognizer,
    paths: Iterable[str | os.PathLike],
    *,
    output: Path | None = None,
    fmt: str = "table",
    timeline: bool = False,
    window: float = 3.0,
    hop: float = 1.0,
    transcripts: dict[str, str] | None = None,
    batch_size: int = DEFAULT_BATCH_FILES,
    segments: bool = False,
    vad: str = "energy",
) -> int:
    """Predict and write rows in ``fmt`` (table, csv, json, npz) to ``output`` or stdout; returns the exit code.

    Columns: ``path``, [``start``, ``end``,] ``label``, ``p_<class>`` per class, then for a model of dimensions
    ``<dimension>`` (corpus scale) and ``<dimension>_01`` ([0, 1]) per dimension (a regression model: no ``label``
    and ``p_`` columns), ``speech`` (see :func:`prediction_rows`; ``segments``: one row per speech region, without
    ``speech``); every failed file is
    listed on stderr, then a line "N of M files failed"; a file in which the VAD finds no speech gets a line
    "NO SPEECH <file>: ..." on stderr (not a failure).

    ``table`` and ``csv`` to stdout stream row by row (a long timeline appears as it is computed); files are
    written atomically at the end. ``npz`` needs ``output`` and stores ``paths``, ``labels``, ``posteriors``
    ((rows, num_classes)) and ``classes`` (plus ``start``/``end`` for a timeline or segments; ``dimensions``,
    ``values`` (rows, D) on the corpus scale and ``values_01`` on [0, 1] for a model of dimensions), loadable
    without pickle. JSON adds ``dimensions`` and ``dimension_range`` beside ``classes`` for such a model.
    """
    if fmt == "npz" and output is None:
        raise ValueError("--format npz needs -o FILE.npz (binary output is not printed).")
    failures: list[str] = []
    notes: list[str] = []
    files = expand_audio_paths(paths, must_exist=recognizer.reads_audio)
    rows = prediction_rows(
        recognizer,
        files,
        timeline=timeline,
        window=window,
        hop=hop,
        failures=failures,
        transcripts=transcripts,
        batch_size=batch_size,
        segments=segments,
        vad=vad,
        notes=notes,
    )
    columns = _columns(recognizer, spans=timeline or segments, speech=not segments)
    dimensions = _dimensions(recognizer)
    streaming = output is None and fmt in ("table", "csv")
    buffer = io.StringIO()
    sink = sys.stdout if streaming else buffer
    collected = []
    if fmt in ("table", "csv"):
        writer = csv.writer(sink, delimiter="\t" if fmt == "table" else ",", lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            # a table is for reading (4 decimals); a CSV may feed another model (6 decimals, as predictions.csv)
            writer.writerow([_format_value(row[c], 4 if fmt == "table" else 6) for c in columns])
            sink.flush()
    else:
        collected = list(rows)
    if fmt == "json":
        described = recognizer.task.describe() if dimensions else {}
        header = {"classes": recognizer.classes_, **{k: v for k, v in described.items() if k != "task"}}
        text = json.dumps({**header, "predictions": collected}, indent=2) + "\n"
        if output is None:
            sys.stdout.write(text)
        else:
            atomic_write_text(output, text)
    elif fmt == "npz":
        arrays = {
            "paths": np.array([r["path"] for r in collected]),
            "labels": np.array([r.get("label", "") for r in collected]),
            "classes": np.array(recognizer.classes_),
            "speech": np.array([r.get("speech", True) for r in collected], dtype=bool).reshape(
                len(collected)
            ),
            "posteriors": np.array(
                [[r[f"p_{c}"] for c in recognizer.classes_] for r in collected], dtype=np.float32
            ).reshape(len(collected), len(recognizer.classes_)),
        }
        for key, suffix in (("values", ""), ("values_01", "_01")) if dimensions else ():
            arrays[key] = np.array(
                [[r[f"{name}{suffix}"] for name in dimensions] for r in collected], dtype=np.float32
            ).reshape(len(collected), len(dimensions))
        if dimensions:
            arrays["dimensions"] = np.array(dimensions)
        if timeline or segments:
            arrays.update(
                start=np.array([r["start"] for r in collected]), end=np.array([r["end"] for r in collected])
            )
        with atomic_open(output, "wb") as handle:
            np.savez(handle, **arrays)
    elif not streaming:
        atomic_write_text(output, buffer.getvalue())
    for note in notes:
        print(f"NO SPEECH {note}", file=sys.stderr)
    for failure in failures:  # every one, never truncated: the user must be able to fix each file
        print(f"FAILED {failure}", file=sys.stderr)
    if failures:
        print(f"{len(failures)} of {len(files)} files failed", file=sys.stderr)
    return 1 if failures else 0
