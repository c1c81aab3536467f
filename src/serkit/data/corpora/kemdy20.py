"""KEMDy20 (ETRI 2020): Korean dialogues, 40 sessions of two speakers, 7 emotions with valence/arousal.

Expected layout (the release ``KEMDy20_v1_1``; ROOT is the folder holding ``annotation/`` and ``wav/``; the
bio-signal folders ``EDA/``, ``IBI/``, ``TEMP/`` are not read):

* labels: ``ROOT/annotation/Sess01_eval.csv`` .. ``Sess40_eval.csv``, UTF-8 CSV whose header names the columns
  ``Segment ID`` and ``Total Evaluation`` (the agreed label) and whose first data row is a sub-header
  (``Emotion``, ``Valence``, ``Arousal`` under each evaluation); the two columns after ``Total Evaluation``
  marked ``Valence`` and ``Arousal`` in that sub-header are kept as extras;
* audio and transcript: ``ROOT/wav/Session01/<Segment ID>.wav`` (or ``.flac``) and ``.txt`` (the transcript is
  the first line of the ``.txt``, in CP949 as released; a UTF-8 copy is recognised).

Segment ids look like ``Sess01_script01_User002M_001``: session ``Sess01`` (folder ``Session01``), script, the
speaker ``User002M`` (participant number and gender letter, as the corpus writes them) and the turn number.
Labels as written in the corpus: angry, neutral, sad, happy, disqust (sic; disgust), surprise (surprised),
fear (fearful). Ties between evaluators are written as several labels, ``neutral;happy``; the ``multi_label``
option says what to do with them. Every record carries the extras ``multi_label`` (``1`` or ``0``) and
``emotions`` (all its emotions, canonical, joined by ``;``), plus ``script``, ``valence``, ``arousal`` and
``raw_text`` (the transcript before cleaning).

Transcripts are cleaned as in the CASE system: a tag character (one of ``c n N u l b * + /``) followed by
``/`` is removed, parenthesised text is removed, and runs of spaces are collapsed.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from pathlib import Path

from serkit.core.errors import CorpusLayoutError
from serkit.data.corpora import find_file, register_corpus, report_missing_audio, require_dir
from serkit.data.utterance import Utterance

logger = logging.getLogger(__name__)

EMOTIONS = {
    "angry": "angry",
    "neutral": "neutral",
    "sad": "sad",
    "happy": "happy",
    "disqust": "disgust",
    "disgust": "disgust",
    "surprise": "surprised",
    "fear": "fearful",
}
GENDERS = {"F": "female", "M": "male"}
MULTI_LABEL = ("keep", "first", "drop")
MISSING_AUDIO = ("error", "skip", "keep")
#: Tried in order: a CP949 file is almost never valid UTF-8, so trying UTF-8 first cannot misread it.
TRANSCRIPT_ENCODINGS = ("utf-8-sig", "cp949")
_SEGMENT = re.compile(r"^(Sess(\d{2}))_([A-Za-z]+\d+)_(User\d+([MF]))_(\d+)$")
_TAG = re.compile(r"[cnNulb*+/]/")
_PARENTHESISED = re.compile(r"\([^)]*\)")
_SPACES = re.compile(r" +")
_LAYOUT = (
    "ROOT/annotation/SessNN_eval.csv (columns 'Segment ID', 'Total Evaluation', ...) and "
    "ROOT/wav/SessionNN/<Segment ID>.wav + .txt (ROOT = KEMDy20_v1_1)"
)


def clean_text(text: str) -> str:
    """Remove transcription tags (``c/``, ``n/``, ``l/``, ...), parenthesised text and repeated spaces.

    Example:
        >>> clean_text("n/ 아 (웃음) 그래?  l/")
        '아 그래?'
    """
    text = _TAG.sub("", text)
    text = _PARENTHESISED.sub("", text)
    return _SPACES.sub(" ", text).strip()


def _decode(path: Path, encodings: tuple[str, ...]) -> str:
    raw = path.read_bytes()
    for encoding in encodings:
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise CorpusLayoutError(
        f"kemdy20: {path} is not text in any of {', '.join(encodings)}; restore it from the release."
    )


def read_transcript(path: Path) -> str:
    """First line of a segment's ``.txt`` (CP949 as released, or UTF-8), without its line break.

    Raises:
        CorpusLayoutError: the file is neither UTF-8 nor CP949.
    """
    lines = _decode(path, TRANSCRIPT_ENCODINGS).splitlines()
    return lines[0].strip() if lines else ""


def read_annotation(path: Path) -> list[dict[str, str]]:
    """Rows of one ``SessNN_eval.csv`` as dicts: ``segment``, ``label`` (raw Total Evaluation), ``valence``,
    ``arousal`` and ``where`` (file and row, for messages).

    The file is UTF-8 as released; a copy re-saved as CP949 by a Korean spreadsheet program is read too.

    Raises:
        CorpusLayoutError: the header lacks ``Segment ID`` or ``Total Evaluation``, or a segment id does not
            follow the ``SessNN_<script>_UserNNN<M|F>_NNN`` scheme.
    """
    rows = list(csv.reader(io.StringIO(_decode(path, ("utf-8-sig", "cp949")), newline="")))
    header = [name.strip() for name in rows[0]] if rows else []
    if "Segment ID" not in header or "Total Evaluation" not in header:
        raise CorpusLayoutError(
            f"kemdy20: {path} has no 'Segment ID' and 'Total Evaluation' columns in its "
            f"header {header[:8]}. Expected layout: {_LAYOUT}"
        )
    segment_col, label_col = header.index("Segment ID"), header.index("Total Evaluation")
    body = rows[1:]

    def cell(values: list[str], column: int | None) -> str:
        return values[column].strip() if column is not None and column < len(values) else ""

    # The sub-header (first data row: no segment id, 'Emotion' under 'Total Evaluation') says which of the two
    # columns after 'Total Evaluation' is which. A copy without it is read as data from the first row on.
    columns: dict[str, int | None] = {"valence": None, "arousal": None}
    if body and not cell(body[0], segment_col) and cell(body[0], label_col).lower() == "emotion":
        sub_header = [value.strip().lower() for value in body[0]]
        for name in columns:
            if name in sub_header[label_col + 1 : label_col + 3]:
                columns[name] = sub_header.index(name, label_col + 1)
        body = body[1:]
    records = []
    for row_no, values in enumerate(body, start=len(rows) - len(body) + 1):
        segment = cell(values, segment_col)
        if not segment:
            continue
        if not _SEGMENT.match(segment):
            raise CorpusLayoutError(
                f"kemdy20: {path}:{row_no}: segment id {segment!r} does not follow "
                "SessNN_<script>_UserNNN<M|F>_NNN (e.g. Sess01_script01_User002M_001)."
            )
        records.append(
            {
                "segment": segment,
                "label": cell(values, label_col),
                "valence": cell(values, columns["valence"]),
                "arousal": cell(values, columns["arousal"]),
                "where": f"{path}:{row_no}",
            }
        )
    return records


def _emotions_of(label: str, where: str) -> list[str]:
    """Canonical emotions of a raw ``Total Evaluation`` value (``neutral;happy`` -> ``[neutral, happy]``)."""
    codes = [code.strip().lower() for code in label.split(";") if code.strip()]
    unknown = [code for code in codes if code not in EMOTIONS]
    if unknown:
        raise CorpusLayoutError(
            f"kemdy20: {where}: unknown label(s) {unknown} in {label!r}; expected "
            f"{', '.join(EMOTIONS)} (several joined by ';')."
        )
    return [EMOTIONS[code] for code in codes]


@register_corpus("kemdy20")
def load_kemdy20(
    root: str | Path, *, multi_label: str = "keep", missing_audio: str = "error"
) -> list[Utterance]:
    """Load KEMDy20 segments with their agreed labels and cleaned transcripts.

    Args:
        multi_label: rows whose label is a tie such as ``neutral;happy``: ``keep`` (emotion = the first
            listed, ``label`` = the raw string), ``first`` (as keep, but ``label`` = the first code only, as
            if single-label) or ``drop`` (leave them out, as the CASE split does).
        missing_audio: segments whose ``.wav`` is not found: ``error``, ``skip`` (logged count) or ``keep``
            (the expected path, for text-only use).
    """
    if multi_label not in MULTI_LABEL:
        raise ValueError(f"kemdy20: multi_label={multi_label!r}; use one of {', '.join(MULTI_LABEL)}.")
    if missing_audio not in MISSING_AUDIO:
        raise ValueError(f"kemdy20: missing_audio={missing_audio!r}; use one of {', '.join(MISSING_AUDIO)}.")
    base = require_dir(root, "kemdy20", _LAYOUT)
    annotation_dir = base / "annotation"
    if not annotation_dir.is_dir():
        raise CorpusLayoutError(f"kemdy20: {annotation_dir} is missing. Expected layout: {_LAYOUT}")
    annotation_files = sorted(
        p for p in annotation_dir.iterdir() if p.suffix.lower() == ".csv" and not p.name.startswith(".")
    )
    if not annotation_files:
        raise CorpusLayoutError(f"kemdy20: no .csv file in {annotation_dir}. Expected layout: {_LAYOUT}")
    listings: dict[Path, dict[str, Path]] = {}
    utterances: list[Utterance] = []
    seen: dict[str, str] = {}
    no_audio, no_text, unlabelled, dropped = [], [], [], 0
    for annotation in annotation_files:
        for record in read_annotation(annotation):
            segment, where = record["segment"], record["where"]
            if segment in seen:
                raise CorpusLayoutError(
                    f"kemdy20: {where}: segment {segment} is annotated twice (also "
                    f"{seen[segment]}); restore the annotation files from the release."
                )
            seen[segment] = where
            emotions = _emotions_of(record["label"], where)
            if not emotions:
                unlabelled.append(segment)
            is_multi = len(emotions) > 1
            if is_multi and multi_label == "drop":
                dropped += 1
                continue
            session, number, script, speaker, letter = _SEGMENT.match(segment).group(1, 2, 3, 4, 5)
            folder = base / "wav" / f"Session{number}"
            audio = find_file(folder, [f"{segment}.wav", f"{segment}.flac"], listings)
            if audio is None:
                no_audio.append(segment)
                if missing_audio != "keep":
                    continue
                audio = folder / f"{segment}.wav"
            transcript = find_file(folder, [f"{segment}.txt"], listings)
            if transcript is None:
                no_text.append(segment)
            raw_text = read_transcript(transcript) if transcript is not None else ""
            label = record["label"]
            if is_multi and multi_label == "first":
                label = label.split(";")[0].strip()
            utterances.append(
                Utterance(
                    id=segment,
                    path=str(audio),
                    speaker=speaker,
                    emotion=emotions[0] if emotions else "",
                    label=label,
                    session=session,
                    gender=GENDERS[letter],
                    text=clean_text(raw_text),
                    extra={
                        "script": script,
                        "valence": record["valence"],
                        "arousal": record["arousal"],
                        "multi_label": "1" if is_multi else "0",
                        "emotions": ";".join(emotions),
                        "raw_text": raw_text,
                    },
                )
            )
    _report(no_audio, no_text, unlabelled, dropped, missing_audio, base)
    return utterances


def _report(
    no_audio: list[str],
    no_text: list[str],
    unlabelled: list[str],
    dropped: int,
    missing_audio: str,
    base: Path,
) -> None:
    """Raise for missing audio (``missing_audio=error``), log everything else that was left out or empty."""
    report_missing_audio(
        "kemdy20",
        no_audio,
        missing_audio,
        items="annotated segment(s)",
        expected=f"{base}/wav/SessionNN/<Segment ID>.wav",
    )
    if no_text:
        logger.warning(
            "kemdy20: %d segment(s) have no .txt transcript; their text is empty (e.g. %s).",
            len(no_text),
            no_text[0],
        )
    if unlabelled:
        logger.warning(
            "kemdy20: %d segment(s) have an empty 'Total Evaluation'; kept unlabelled (e.g. %s).",
            len(unlabelled),
            unlabelled[0],
        )
    if dropped:
        logger.info("kemdy20: left out %d multi-label segment(s) (multi_label=drop).", dropped)
