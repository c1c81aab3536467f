"""MELD (Poria et al. 2019): multi-party dialogues from the TV series Friends, 7 emotions, 3 sentiments.

Expected layout: the label files of the release, ``{train,dev,test}_sent_emo.csv`` (columns
``Sr No., Utterance, Speaker, Emotion, Sentiment, Dialogue_ID, Utterance_ID, Season, Episode, StartTime,
EndTime``), found in ROOT or in ``ROOT/data/MELD``, ``ROOT/MELD``, ``ROOT/MELD.Raw`` or ``ROOT/data`` (the
first of these holding them), and the audio of each utterance as ``dia<Dialogue_ID>_utt<Utterance_ID>.wav``
(or ``.flac``) in a folder per split. MELD.Raw ships video (``train_splits/``, ``dev_splits_complete/``,
``output_repeated_splits_test/`` full of ``.mp4``); extract the audio next to it with the same stems, e.g.
``ffmpeg -i dia0_utt0.mp4 -vn -ac 1 -ar 16000 dia0_utt0.wav``. The per-split audio folder is looked for, in
this order, as ``<base>/<release folder>``, ``<base>/<split>`` and ``<base>/<split>/<release folder>``, where
``<base>`` is ``ROOT/<audio_dir>`` if the ``audio_dir`` option is set, else ROOT and then the folder of the
CSV files. One flat folder for all splits cannot work: ``dia0_utt0`` exists in every split.

Utterance ids are ``<split>_dia<D>_utt<U>`` (``train_dia0_utt0``). Emotions: neutral, joy happy, surprise
surprised, anger angry, sadness sad, disgust, fear fearful. The speaker is the character name as written (MELD
has no speaker-independent split: the official train/dev/test split is kept in the ``split`` extra). Text is
kept as written, including the release's own odd characters; the CSV is read as UTF-8, and a line that is not
valid UTF-8 is read as Windows-1252. Other extras: ``sentiment``, ``dialogue_id``, ``utterance_id``,
``season``, ``episode``, ``start_time``, ``end_time``.

Copies with a few videos missing or broken: ``missing_audio=skip`` leaves those rows out with a logged count.
Text-only use (no audio at all): ``missing_audio=keep`` keeps every row with the expected audio path, and the
manifest must then be built without measuring durations (``load_corpus(..., durations=False)``).
"""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path

from serkit.core.errors import CorpusLayoutError
from serkit.data.corpora import find_file, register_corpus, report_missing_audio, require_dir
from serkit.data.utterance import Utterance

logger = logging.getLogger(__name__)

EMOTIONS = {
    "neutral": "neutral",
    "joy": "happy",
    "surprise": "surprised",
    "anger": "angry",
    "sadness": "sad",
    "disgust": "disgust",
    "fear": "fearful",
}
SENTIMENTS = ("neutral", "positive", "negative")
SPLITS = ("train", "dev", "test")
#: Video folder of each split in MELD.Raw; audio extracted next to it usually keeps the name.
RELEASE_FOLDERS = {
    "train": "train_splits",
    "dev": "dev_splits_complete",
    "test": "output_repeated_splits_test",
}
AUDIO_SUFFIXES = (".wav", ".flac")
MISSING_AUDIO = ("error", "skip", "keep")
REQUIRED_COLUMNS = ("Utterance", "Speaker", "Emotion", "Sentiment", "Dialogue_ID", "Utterance_ID")
#: Optional CSV column -> extra name.
EXTRA_COLUMNS = {"Season": "season", "Episode": "episode", "StartTime": "start_time", "EndTime": "end_time"}
_CSV_DIRS = (".", "data/MELD", "MELD", "MELD.Raw", "data")
_LAYOUT = (
    "ROOT/{train,dev,test}_sent_emo.csv (or under data/MELD, MELD, MELD.Raw, data) and audio "
    "ROOT/{train_splits,dev_splits_complete,output_repeated_splits_test}/dia<D>_utt<U>.wav "
    "(or ROOT/{train,dev,test}/, or under ROOT/<audio_dir>)"
)


def decode_csv(data: bytes) -> str:
    """Text of a MELD CSV: UTF-8 (BOM dropped), falling back to Windows-1252 for lines that are not UTF-8.

    Copies of the CSVs re-saved by spreadsheet programs mix both encodings; decoding per line keeps the UTF-8
    lines intact instead of turning the whole file into mojibake.
    """
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    lines = []
    for raw in data.splitlines(keepends=True):
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            lines.append(raw.decode("cp1252", errors="replace"))
    return "".join(lines).removeprefix("\ufeff")


def read_split_csv(path: Path) -> list[dict[str, str]]:
    """Rows of one ``<split>_sent_emo.csv`` as dicts keyed by the (stripped) header names.

    Raises:
        CorpusLayoutError: a required column is missing or a row has more fields than the header.
    """
    reader = csv.reader(io.StringIO(decode_csv(path.read_bytes()), newline=""))
    header = [name.strip() for name in next(reader, [])]
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        raise CorpusLayoutError(
            f"meld: {path} lacks column(s) {missing} (header: {header}); expected the "
            f"release's columns {', '.join(REQUIRED_COLUMNS)}, Season, Episode, "
            "StartTime, EndTime."
        )
    rows = []
    for line_no, values in enumerate(reader, start=2):
        if not values or all(not v.strip() for v in values):
            continue
        if len(values) > len(header):
            raise CorpusLayoutError(
                f"meld: {path}, row {line_no}: {len(values)} fields but the header has "
                f"{len(header)}; a comma in the text is probably not quoted."
            )
        rows.append(dict(zip(header, values + [""] * (len(header) - len(values)))))
    return rows


def _find_csv_dir(base: Path, splits: tuple[str, ...]) -> Path:
    for relative in _CSV_DIRS:
        folder = base / relative
        if all((folder / f"{split}_sent_emo.csv").is_file() for split in splits):
            return folder.resolve()
    raise CorpusLayoutError(
        f"meld: no {', '.join(f'{s}_sent_emo.csv' for s in splits)} in {base} or its "
        f"{', '.join(_CSV_DIRS[1:])} folders. Expected layout: {_LAYOUT}"
    )


def _audio_folders(bases: list[Path], split: str) -> tuple[list[Path], list[Path]]:
    """(existing candidate audio folders, all candidates) of ``split``, in search order."""
    release = RELEASE_FOLDERS[split]
    candidates = [base / name for base in bases for name in (release, split, f"{split}/{release}")]
    return [c for c in candidates if c.is_dir()], candidates


def _int_field(row: dict[str, str], column: str, path: Path, line_no: int) -> int:
    value = row[column].strip()
    if not value.isdigit():
        raise CorpusLayoutError(
            f"meld: {path}, data row {line_no}: {column} {value!r} is not a whole number."
        )
    return int(value)


@register_corpus("meld")
def load_meld(
    root: str | Path, *, splits: tuple[str, ...] = SPLITS, audio_dir: str = "", missing_audio: str = "error"
) -> list[Utterance]:
    """Load MELD utterances of the given official splits.

    Args:
        splits: which of ``train``, ``dev``, ``test`` to read.
        audio_dir: folder (relative to ROOT, or absolute) holding the per-split audio folders; empty searches
            ROOT and the CSV folder.
        missing_audio: rows whose audio file is not found: ``error`` (list them and stop), ``skip`` (leave
            them out, with a logged count) or ``keep`` (keep them with the expected path, for text-only use).
    """
    unknown = [s for s in splits if s not in SPLITS]
    if unknown or not splits:
        raise ValueError(f"meld: splits={','.join(splits)!r}; use one or more of {', '.join(SPLITS)}.")
    if missing_audio not in MISSING_AUDIO:
        raise ValueError(f"meld: missing_audio={missing_audio!r}; use one of {', '.join(MISSING_AUDIO)}.")
    base = require_dir(root, "meld", _LAYOUT)
    csv_dir = _find_csv_dir(base, splits)
    if audio_dir:
        audio_base = base / audio_dir
        if not audio_base.is_dir():
            raise CorpusLayoutError(
                f"meld: audio_dir {audio_base} is not a folder. Expected layout: {_LAYOUT}"
            )
        bases = [audio_base]
    else:
        bases = [base] if csv_dir == base else [base, csv_dir]
    listings: dict[Path, dict[str, Path]] = {}
    utterances: list[Utterance] = []
    missing: list[str] = []
    searched: list[Path] = []
    videos_only = 0
    for split in splits:
        path = csv_dir / f"{split}_sent_emo.csv"
        folders, candidates = _audio_folders(bases, split)
        searched += candidates
        fallback_folder = folders[0] if folders else candidates[0]
        seen: dict[str, int] = {}
        for line_no, row in enumerate(read_split_csv(path), start=1):
            dialogue = _int_field(row, "Dialogue_ID", path, line_no)
            turn = _int_field(row, "Utterance_ID", path, line_no)
            stem = f"dia{dialogue}_utt{turn}"
            utt_id = f"{split}_{stem}"
            if utt_id in seen:
                raise CorpusLayoutError(
                    f"meld: {path}, data rows {seen[utt_id]} and {line_no} are both "
                    f"{stem}; restore the file from the release."
                )
            seen[utt_id] = line_no
            code = row["Emotion"].strip().lower()
            sentiment = row["Sentiment"].strip().lower()
            if code not in EMOTIONS or sentiment not in SENTIMENTS:
                raise CorpusLayoutError(
                    f"meld: {path}, data row {line_no} ({stem}): emotion "
                    f"{row['Emotion']!r} / sentiment {row['Sentiment']!r} not in "
                    f"{', '.join(EMOTIONS)} / {', '.join(SENTIMENTS)}."
                )
            names = [f"{stem}{suffix}" for suffix in AUDIO_SUFFIXES]
            audio = next((p for f in folders if (p := find_file(f, names, listings)) is not None), None)
            if audio is None:
                missing.append(f"{split}/{stem}")
                videos_only += any(find_file(f, [f"{stem}.mp4"], listings) is not None for f in folders)
                if missing_audio != "keep":
                    continue
                audio = fallback_folder / f"{stem}.wav"
            extra = {
                "split": split,
                "sentiment": sentiment,
                "dialogue_id": str(dialogue),
                "utterance_id": str(turn),
            }
            extra.update({name: row[col].strip() for col, name in EXTRA_COLUMNS.items() if col in row})
            utterances.append(
                Utterance(
                    id=utt_id,
                    path=str(audio),
                    speaker=row["Speaker"].strip(),
                    emotion=EMOTIONS[code],
                    label=code,
                    text=row["Utterance"],
                    extra=extra,
                )
            )
    if missing:
        _report_missing(missing, searched, videos_only, missing_audio)
    return utterances


def _report_missing(missing: list[str], searched: list[Path], videos_only: int, missing_audio: str) -> None:
    hint = (
        f"{videos_only} of them exist only as .mp4 video: extract the audio first (e.g. `ffmpeg -i dia0_utt0.mp4 "
        "-vn -ac 1 -ar 16000 dia0_utt0.wav`). "
        if videos_only
        else ""
    )
    where = ", ".join(str(p) for p in dict.fromkeys(searched))
    report_missing_audio(
        "meld",
        missing,
        missing_audio,
        items="utterance(s)",
        expected=f".wav/.flac files in {where}",
        hint=hint + "Set audio_dir to the folder holding the per-split audio folders. ",
    )
