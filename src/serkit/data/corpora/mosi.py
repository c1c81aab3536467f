"""CMU-MOSI (Zadeh et al. 2016): 2199 opinion clips from 93 YouTube videos, sentiment from -3 to +3.

There is no single official raw layout; this loader reads the one used by MMSA (and the CH-SIMS releases),
with the labels in one CSV:

* labels: ``ROOT/label.csv`` (or ``ROOT/labels.csv``, or the file named by the ``label_file`` option) with
  columns ``video_id, clip_id, text, label, annotation, mode`` (MMSA files also carry ``label_T, label_A,
  label_V``, which are ignored): ``label`` is the sentiment score, ``annotation`` its sign as a word
  (Positive, Negative, Neutral) and ``mode`` the standard split (train, valid, test; ``val`` and ``dev`` are
  read as valid). The file is UTF-8 (a BOM is fine); ``text`` may be missing, see transcripts below;
* audio, per clip, the first found of ``ROOT/Raw/<video_id>/<clip_id>.wav`` (MMSA's ``Raw`` folder, with the
  audio extracted next to each ``.mp4``), ``ROOT/Processed/audio/<video_id>/<clip_id>.wav`` (MMSA's own
  extraction) and ``ROOT/Audio/WAV_16000/Segmented/<video_id>_<clip_id>.wav`` (the CMU raw release); ``.flac``
  works as well, the suffix in any case. With the ``audio_dir`` option only
  ``ROOT/<audio_dir>/<video_id>/<clip_id>.wav`` and ``ROOT/<audio_dir>/<video_id>_<clip_id>.wav`` are
  searched;
* transcripts: the ``text`` column; where it is empty, the CMU raw release's
  ``ROOT/Transcript/Segmented/<video_id>.annotprocessed`` (lines ``<clip_id>_DELIM_<text>``) is used if
  present.

Records: id ``<video_id>_<clip_id>``; ``emotion`` is empty (MOSI has sentiment only); ``label`` is the score
as written; extras ``sentiment`` (the score), ``annotation``, ``split``, ``video_id``, ``clip_id``. The corpus
has no speaker list, so ``speaker`` is the video id (one speaker per video; a YouTuber with several videos
counts as several speakers, which protocols must keep in mind).
"""

from __future__ import annotations

import csv
import io
import logging
import math
from pathlib import Path

from serkit.core.errors import CorpusLayoutError
from serkit.data.corpora import find_file, register_corpus, report_missing_audio, require_dir
from serkit.data.utterance import Utterance

logger = logging.getLogger(__name__)

LABEL_FILES = ("label.csv", "labels.csv")
REQUIRED_COLUMNS = ("video_id", "clip_id", "label", "mode")
SPLITS = {"train": "train", "valid": "valid", "val": "valid", "dev": "valid", "test": "test"}
MISSING_AUDIO = ("error", "skip", "keep")
AUDIO_SUFFIXES = (".wav", ".flac")
#: Default audio places, relative to ROOT: (folder pattern, file stem pattern).
AUDIO_PLACES = (
    ("Raw/{video}", "{clip}"),
    ("Processed/audio/{video}", "{clip}"),
    ("Audio/WAV_16000/Segmented", "{video}_{clip}"),
)
_LAYOUT = (
    "ROOT/label.csv (video_id, clip_id, text, label, annotation, mode) and audio "
    "ROOT/Raw/<video_id>/<clip_id>.wav (or Processed/audio/<video_id>/<clip_id>.wav, "
    "Audio/WAV_16000/Segmented/<video_id>_<clip_id>.wav)"
)


def read_label_csv(path: Path, *, corpus: str, emotion_columns: tuple[str, ...] = ()) -> list[dict[str, str]]:
    """Rows of an MMSA-style ``label.csv`` with stripped cells, checked for the columns the loader needs.

    Args:
        corpus: name used in error messages.
        emotion_columns: optional per-emotion score columns; if any is present, all must be.

    Raises:
        CorpusLayoutError: a missing required column, or only some of ``emotion_columns``.
    """
    try:
        content = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CorpusLayoutError(f"{corpus}: {path} is not UTF-8 text; re-save it as UTF-8.") from None
    reader = csv.DictReader(io.StringIO(content, newline=""))
    header = [name.strip() for name in reader.fieldnames or []]
    reader.fieldnames = header
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    partial = [name for name in emotion_columns if name not in header]
    if missing:
        raise CorpusLayoutError(
            f"{corpus}: {path} lacks column(s) {missing} (header: {header}). Expected layout: {_LAYOUT}"
        )
    if 0 < len(partial) < len(emotion_columns):
        raise CorpusLayoutError(
            f"{corpus}: {path} lacks column(s) {partial} (header: {header}); emotion "
            f"columns come all or none: {', '.join(emotion_columns)}."
        )
    return [{key: (value or "").strip() for key, value in row.items() if key is not None} for row in reader]


def read_annotprocessed(path: Path) -> dict[str, str]:
    """Clip id -> text from a CMU ``<video>.annotprocessed`` transcript (lines ``<clip>_DELIM_<text>``)."""
    texts = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        clip, sep, text = line.partition("_DELIM_")
        if sep:
            texts[clip.strip()] = text.strip()
    return texts


def _number_cell(row: dict[str, str], column: str, where: str, corpus: str) -> str:
    """The cell as written, after checking that it is a finite number (a score that is not would mislabel)."""
    value = row.get(column, "")
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise CorpusLayoutError(f"{corpus}: {where}: {column} {value!r} is not a number.")
    return value


def _find_audio(
    base: Path,
    places: tuple[tuple[str, str], ...],
    video: str,
    clip: str,
    listings: dict[Path, dict[str, Path]],
) -> Path | None:
    for folder, stem in places:
        names = [stem.format(video=video, clip=clip) + suffix for suffix in AUDIO_SUFFIXES]
        if (audio := find_file(base / folder.format(video=video), names, listings)) is not None:
            return audio
    return None


def load_mmsa_layout(
    root: str | Path,
    *,
    corpus: str,
    label_file: str,
    audio_dir: str,
    splits: tuple[str, ...],
    missing_audio: str,
    emotion_columns: tuple[str, ...] = (),
) -> list[Utterance]:
    """Utterances of an MMSA-style corpus folder (the layout in this module's docstring), for mosi and mosei.

    Args:
        corpus: registry name, used in messages.
        emotion_columns: per-emotion score columns to keep as extras when the label file has them.
        label_file, audio_dir, splits, missing_audio: the loader options (see :func:`load_mosi`).
    """
    wanted = {SPLITS.get(s.lower(), "?") for s in splits}
    if "?" in wanted:
        raise ValueError(f"{corpus}: splits={','.join(splits)!r}; use train, valid and/or test.")
    if missing_audio not in MISSING_AUDIO:
        raise ValueError(f"{corpus}: missing_audio={missing_audio!r}; use one of {', '.join(MISSING_AUDIO)}.")
    base = require_dir(root, corpus, _LAYOUT)
    if label_file:
        labels_path = base / label_file
        if not labels_path.is_file():
            raise CorpusLayoutError(
                f"{corpus}: label_file {labels_path} is not a file. Expected layout: {_LAYOUT}"
            )
    else:
        labels_path = next((base / name for name in LABEL_FILES if (base / name).is_file()), None)
        if labels_path is None:
            raise CorpusLayoutError(
                f"{corpus}: no {' or '.join(LABEL_FILES)} in {base}; get the label file "
                "of the MMSA release or name yours with the label_file option. "
                f"Expected layout: {_LAYOUT}"
            )
    rows = read_label_csv(labels_path, corpus=corpus, emotion_columns=emotion_columns)
    has_emotions = bool(rows and emotion_columns and emotion_columns[0] in rows[0])
    if audio_dir:
        if not (base / audio_dir).is_dir():
            raise CorpusLayoutError(f"{corpus}: audio_dir {base / audio_dir} is not a folder.")
        places = ((f"{audio_dir}/{{video}}", "{clip}"), (audio_dir, "{video}_{clip}"))
    else:
        places = AUDIO_PLACES
    listings: dict[Path, dict[str, Path]] = {}
    transcripts: dict[str, dict[str, str]] = {}
    utterances: list[Utterance] = []
    seen: dict[str, int] = {}
    missing: list[str] = []
    for line_no, row in enumerate(rows, start=2):
        where = f"{labels_path}:{line_no}"
        video, clip = row["video_id"], row["clip_id"]
        split = SPLITS.get(row["mode"].lower())
        if not video or not clip or split is None:
            raise CorpusLayoutError(
                f"{corpus}: {where}: needs a video_id, a clip_id and a mode among "
                f"{', '.join(SPLITS)} (got {video!r}, {clip!r}, {row['mode']!r})."
            )
        utt_id = f"{video}_{clip}"
        if utt_id in seen:
            raise CorpusLayoutError(
                f"{corpus}: {where}: clip {utt_id} is listed twice (also on line {seen[utt_id]})."
            )
        seen[utt_id] = line_no
        sentiment = _number_cell(row, "label", where, corpus)
        if splits and split not in wanted:
            continue
        audio = _find_audio(base, places, video, clip, listings)
        if audio is None:
            missing.append(utt_id)
            if missing_audio != "keep":
                continue
            folder, stem = places[0]
            audio = base / folder.format(video=video) / f"{stem.format(video=video, clip=clip)}.wav"
        text = row.get("text", "")
        if not text:  # fall back to the CMU raw release's transcript
            if video not in transcripts:
                transcript = base / "Transcript" / "Segmented" / f"{video}.annotprocessed"
                transcripts[video] = read_annotprocessed(transcript) if transcript.is_file() else {}
            text = transcripts[video].get(clip, "")
        extra = {
            "sentiment": sentiment,
            "annotation": row.get("annotation", ""),
            "split": split,
            "video_id": video,
            "clip_id": clip,
        }
        if has_emotions:
            extra.update({name: _number_cell(row, name, where, corpus) for name in emotion_columns})
        utterances.append(
            Utterance(id=utt_id, path=str(audio), speaker=video, label=row["label"], text=text, extra=extra)
        )
    if missing:
        _report_missing(corpus, missing, labels_path, base, places, missing_audio)
    return utterances


def _report_missing(
    corpus: str,
    missing: list[str],
    labels_path: Path,
    base: Path,
    places: tuple[tuple[str, str], ...],
    missing_audio: str,
) -> None:
    searched = ", ".join(f"ROOT/{folder}/{stem}.wav" for folder, stem in places)
    report_missing_audio(
        corpus,
        missing,
        missing_audio,
        items=f"clip(s) of {labels_path}",
        expected=f"{searched} (.wav or .flac) in {base}",
        hint="Extract the audio from the videos (e.g. `ffmpeg -i 1.mp4 -vn -ac 1 -ar 16000 1.wav`) or set "
        "audio_dir. ",
    )


@register_corpus("mosi")
def load_mosi(
    root: str | Path,
    *,
    label_file: str = "",
    audio_dir: str = "",
    splits: tuple[str, ...] = (),
    missing_audio: str = "error",
) -> list[Utterance]:
    """Load CMU-MOSI clips with sentiment scores.

    Args:
        label_file: label CSV relative to ROOT (or absolute); empty looks for ``label.csv``, ``labels.csv``.
        audio_dir: folder (relative to ROOT, or absolute) with ``<video_id>/<clip_id>.wav`` or
            ``<video_id>_<clip_id>.wav``; empty searches the default places listed in the module docstring.
        splits: standard splits to keep (``train``, ``valid``, ``test``); empty keeps all.
        missing_audio: clips whose audio is not found: ``error``, ``skip`` (logged count) or ``keep``
            (expected path, for text-only use).
    """
    return load_mmsa_layout(
        root,
        corpus="mosi",
        label_file=label_file,
        audio_dir=audio_dir,
        splits=splits,
        missing_audio=missing_audio,
    )
