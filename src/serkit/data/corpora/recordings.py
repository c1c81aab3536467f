"""Your own labelled recordings: a folder laid out by emotion, or a CSV with one row per file.

Expected layouts (ROOT is the folder or the CSV file):

* folder, ``layout=emotion_speaker`` (default): ``ROOT/<emotion>/<speaker>_<anything>.wav``, e.g.
  ``my_recordings/angry/anna_001.wav``: the emotion is the folder, the speaker the file name up to the first
  ``_`` (or ``-``).
* folder, ``layout=speaker_emotion``: ``ROOT/<speaker>/<emotion>/<anything>.wav``.
* CSV (``ROOT`` ends in ``.csv``), UTF-8 with a header. Required columns: ``path`` (absolute, or relative to the
  CSV's folder), ``speaker``, ``emotion``. Optional: ``utt_id`` (default: the path without its extension, which
  must then be unique), ``session``, ``gender`` (``male``/``female``), ``text``; any other column is kept as an
  extra field.

Emotion words are the canonical ones (``neutral, happy, sad, angry, fearful, disgust, surprised, calm, boredom,
excited, frustrated, contempt, other``) or a common alias (``anger``, ``happiness``, ``joy``, ``sadness``, ``fear``,
``surprise``, ``disgusted``, ``bored``, ...); case does not matter. Audio of any format serkit reads (.wav, .flac,
.ogg, .mp3) is found recursively below each emotion or speaker folder.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from serkit.core.errors import CorpusLayoutError, ManifestError
from serkit.data.corpora import find_audio, register_corpus
from serkit.data.utterance import CANONICAL_EMOTIONS, Utterance

__all__ = ["EMOTION_ALIASES", "REQUIRED_COLUMNS", "canonical_emotion", "load_recordings"]

#: Words people name their folders with -> canonical emotion.
EMOTION_ALIASES = {
    "anger": "angry",
    "mad": "angry",
    "happiness": "happy",
    "joy": "happy",
    "joyful": "happy",
    "sadness": "sad",
    "fear": "fearful",
    "afraid": "fearful",
    "scared": "fearful",
    "surprise": "surprised",
    "disgusted": "disgust",
    "bored": "boredom",
    "neutrality": "neutral",
    "calmness": "calm",
    "excitement": "excited",
    "frustration": "frustrated",
}
REQUIRED_COLUMNS = ("path", "speaker", "emotion")
LAYOUTS = ("emotion_speaker", "speaker_emotion")
_SPEAKER_PREFIX = re.compile(r"^([^_\-]+)[_\-]")


def canonical_emotion(word: str, where: str) -> str:
    """The canonical emotion for a folder name or CSV value; CorpusLayoutError naming ``where`` otherwise."""
    key = word.strip().lower()
    if key in CANONICAL_EMOTIONS:
        return key
    if key in EMOTION_ALIASES:
        return EMOTION_ALIASES[key]
    raise CorpusLayoutError(
        f"{where}: {word!r} is not an emotion serkit knows; rename it to one of "
        f"{', '.join(CANONICAL_EMOTIONS)} (aliases such as {', '.join(list(EMOTION_ALIASES)[:6])} "
        "are accepted too)."
    )


def _from_folder(root: Path, layout: str) -> list[Utterance]:
    utterances = []
    for path in find_audio(root):
        parts = path.relative_to(root).parts
        if layout == "emotion_speaker":
            if len(parts) < 2:
                raise CorpusLayoutError(
                    f"{path}: audio directly in {root}; put each file in a folder named after "
                    "its emotion (ROOT/<emotion>/<speaker>_<n>.wav)."
                )
            match = _SPEAKER_PREFIX.match(path.name)
            if not match:
                raise CorpusLayoutError(
                    f"{path}: the file name must start with the speaker and '_' "
                    "(e.g. anna_001.wav), so that no speaker is in train and test at once; or "
                    "use --opt layout=speaker_emotion for ROOT/<speaker>/<emotion>/*.wav."
                )
            emotion_folder, speaker = parts[0], match[1]
        else:
            if len(parts) < 3:
                raise CorpusLayoutError(
                    f"{path}: expected ROOT/<speaker>/<emotion>/<file> with layout=speaker_emotion."
                )
            speaker, emotion_folder = parts[0], parts[1]
        emotion = canonical_emotion(
            emotion_folder,
            str(root / emotion_folder if layout == "emotion_speaker" else root / speaker / emotion_folder),
        )
        utt_id = "/".join(path.relative_to(root).with_suffix("").parts)
        utterances.append(
            Utterance(id=utt_id, path=str(path), speaker=speaker, emotion=emotion, label=emotion_folder)
        )
    return utterances


def _from_csv(path: Path) -> list[Utterance]:
    utterances, seen = [], {}
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        header = [name.strip() for name in reader.fieldnames or []]
        missing = [name for name in REQUIRED_COLUMNS if name not in header]
        if missing:
            raise ManifestError(
                f"{path}: header {header} lacks the column(s) {missing}; a recordings CSV needs "
                f"{', '.join(REQUIRED_COLUMNS)} (optional: utt_id, session, gender, text)."
            )
        reader.fieldnames = header
        for line_no, row in enumerate(reader, start=2):
            if None in row or any(value is None for value in row.values()):
                raise ManifestError(
                    f"{path}:{line_no}: the row does not have {len(header)} fields like the "
                    "header; quote fields that contain commas."
                )
            row = {key: value.strip() for key, value in row.items()}
            if not all(row[name] for name in REQUIRED_COLUMNS):
                raise ManifestError(
                    f"{path}:{line_no}: empty {[n for n in REQUIRED_COLUMNS if not row[n]]}; every "
                    "row needs a path, a speaker and an emotion."
                )
            audio = Path(row.pop("path"))
            audio = audio if audio.is_absolute() else path.parent / audio
            relative = audio.relative_to(path.parent) if audio.is_relative_to(path.parent) else audio
            utt_id = row.pop("utt_id", "") or relative.with_suffix("").as_posix()
            if utt_id in seen:
                raise ManifestError(
                    f"{path}:{line_no}: utterance id {utt_id!r} repeats line {seen[utt_id]}; "
                    "give each row its own file (or an utt_id column)."
                )
            seen[utt_id] = line_no
            word = row.pop("emotion")
            emotion = canonical_emotion(word, f"{path}:{line_no}")
            gender = row.pop("gender", "").lower()
            if gender not in ("", "male", "female"):
                raise ManifestError(
                    f"{path}:{line_no}: gender {gender!r}; use male, female or leave it empty."
                )
            utterances.append(
                Utterance(
                    id=utt_id,
                    path=str(audio),
                    speaker=row.pop("speaker"),
                    emotion=emotion,
                    label=word,
                    session=row.pop("session", ""),
                    gender=gender,
                    text=row.pop("text", ""),
                    extra=row,
                )
            )
    return utterances


@register_corpus("recordings")
def load_recordings(root: str | Path, *, layout: str = "emotion_speaker") -> list[Utterance]:
    """Your own recordings: ``ROOT/<emotion>/<speaker>_*.wav`` or a CSV with columns path, speaker, emotion.

    Args:
        layout: for a folder, ``emotion_speaker`` (ROOT/<emotion>/<speaker>_*.wav) or ``speaker_emotion``
            (ROOT/<speaker>/<emotion>/*.wav); ignored for a CSV.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"recordings: layout={layout!r}; use one of {', '.join(LAYOUTS)}.")
    path = Path(root).expanduser()
    if path.is_file():
        if path.suffix.lower() != ".csv":
            raise CorpusLayoutError(
                f"{path}: give a folder of recordings or a .csv file with the columns "
                f"{', '.join(REQUIRED_COLUMNS)}."
            )
        return _from_csv(path)
    if not path.is_dir():
        raise CorpusLayoutError(
            f"{path}: not found; give a folder laid out as <emotion>/<speaker>_*.wav or a CSV "
            f"with the columns {', '.join(REQUIRED_COLUMNS)}."
        )
    return _from_folder(path, layout)
