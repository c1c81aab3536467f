"""Generic list files (our manifest CSV, Kaldi-style scp, DCNN file list, CASE CSV): ROOT is the list file itself.

Expected layouts, one corpus name each:

* ``manifest``: a serkit manifest CSV (header ``utt_id,path,...``), as written by ``serkit corpus prepare``.
* ``scp``: one utterance per line, ``<name> <path> <label>`` separated by white space, as in the CPT-HuBERT
  ``sessionXX_{train,valid,test}.scp`` files; labels are mapped by the ``label_map`` option.
* ``dcnn_filelist``: DCNN-BLSTMWA file lists, ``<wavpath>|<speaker_id>|<text>|<emotion_id>[|<language_id>]``,
  emotion ids 0 neutral, 1 happy, 2 sad, 3 angry (4 surprised, which the DCNN recipes drop).
* ``case_csv``: the CASE ``data.csv``/``train.csv``/``test.csv`` with columns ``audio,text,labels,session`` and the
  KEMDy20 label words (angry, neutral, sad, happy, disqust [sic], surprise, fear); a multi-label row such as
  ``happy;neutral`` keeps its labels in ``label`` and gets no emotion, so label sets leave it out as CASE does.

Relative audio paths are resolved against the list file's folder, or against the ``audio_root`` option where a
format has it (DCNN lists hold paths relative to the directory the recipe ran in). Blank lines and, in scp and
DCNN lists, lines starting with ``#`` are skipped. A malformed line raises ManifestError naming ``file:line``.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from pathlib import Path

from serkit.audio.io import AUDIO_EXTENSIONS
from serkit.core.errors import ManifestError
from serkit.core.options import parse_key_values
from serkit.data.corpora import register_corpus
from serkit.data.corpora.iemocap import EMOTIONS as IEMOCAP_EMOTIONS
from serkit.data.utterance import CANONICAL_EMOTIONS, Utterance, read_manifest

#: Speaker-id parsers for utterance names: name -> (speaker, session, gender), or None if the name does not fit.
SpeakerParser = Callable[[str], tuple[str, str, str] | None]

_IEMOCAP_NAME = re.compile(r"^(Ses\d\d)[FM]_.+_([FM])[0-9A-Za-z]+$")
_KEMDY20_NAME = re.compile(r"^(Sess\d\d)_[^_]+_(User\d+([MF]))_\d+$")
_GENDER_LETTERS = {"F": "female", "M": "male"}


def _iemocap_speaker(name: str) -> tuple[str, str, str] | None:
    """``Ses01F_impro01_M012`` -> ``("Ses01M", "Ses01", "male")``: the speaker's letter is the last field's."""
    match = _IEMOCAP_NAME.match(name)
    if not match:
        return None
    session, letter = match.groups()
    return f"{session}{letter}", session, _GENDER_LETTERS[letter]


def _kemdy20_speaker(name: str) -> tuple[str, str, str] | None:
    """``Sess01_script01_User002M_001`` -> ``("User002M", "Sess01", "male")``."""
    match = _KEMDY20_NAME.match(name)
    if not match:
        return None
    session, speaker, letter = match.groups()
    return speaker, session, _GENDER_LETTERS[letter]


SPEAKER_PARSERS: dict[str, SpeakerParser] = {
    "iemocap": _iemocap_speaker,
    "kemdy20": _kemdy20_speaker,
    "none": lambda name: ("", "", ""),
}

#: Default scp label map: the IEMOCAP codes as the IEMOCAP loader maps them (``xxx``, no agreed label, maps to ""
#: = unlabelled); canonical words (``happy``, ``angry``, ...) are accepted without an entry.
DEFAULT_SCP_LABEL_MAP = ",".join(f"{code}={emotion}" for code, emotion in IEMOCAP_EMOTIONS.items())
DCNN_EMOTIONS = {"0": "neutral", "1": "happy", "2": "sad", "3": "angry", "4": "surprised"}
#: KEMDy20 label words as CASE writes them ('disqust' is the dataset's own spelling).
CASE_EMOTIONS = {
    "angry": "angry",
    "neutral": "neutral",
    "sad": "sad",
    "happy": "happy",
    "disqust": "disgust",
    "disgust": "disgust",
    "surprise": "surprised",
    "fear": "fearful",
}

_SCP_FORMAT = (
    "'<name> <path> <label>' separated by white space "
    "(e.g. 'Ses01F_impro01_F000 wav/Ses01F_impro01_F000.wav neu')"
)
_DCNN_FORMAT = "'<wavpath>|<speaker_id>|<text>|<emotion_id 0-4>[|<language_id>]'"
_CASE_COLUMNS = ("audio", "text", "labels", "session")


def _list_file(root: str | Path, what: str) -> Path:
    """``root`` as a resolved path of an existing file, or ManifestError saying a list file is expected."""
    path = Path(root).expanduser()
    if not path.is_file():
        raise ManifestError(
            f"{path}: not a file; this corpus reads a {what} list file, so ROOT must be that file."
        )
    return path.resolve()


def _audio_path(text: str, base: Path) -> str:
    path = Path(text).expanduser()
    return str(path if path.is_absolute() else base / path)


def _audio_base(list_path: Path, audio_root: str) -> Path:
    return Path(audio_root).expanduser().resolve() if audio_root else list_path.parent


def _speaker_parser(speaker_from: str) -> SpeakerParser:
    if speaker_from not in SPEAKER_PARSERS:
        raise ValueError(f"speaker_from={speaker_from!r}; use one of {', '.join(SPEAKER_PARSERS)}.")
    return SPEAKER_PARSERS[speaker_from]


def _check_new_id(utt_id: str, line_no: int, seen: dict[str, int], path: Path) -> None:
    if utt_id in seen:
        raise ManifestError(
            f"{path}:{line_no}: duplicate utterance id {utt_id!r} (first on line {seen[utt_id]}); "
            "ids (file stems or names) must be unique within a list."
        )
    seen[utt_id] = line_no


def _stem(name: str) -> str:
    """``name`` without an audio extension (ids are file stems, as in the folder loaders)."""
    path = Path(name)
    return path.stem if path.suffix.lower() in AUDIO_EXTENSIONS else path.name


def parse_label_map(spec: str) -> dict[str, str]:
    """``"hap=happy,neu=neutral"`` -> ``{"hap": "happy", "neu": "neutral"}``; targets must be canonical or empty.

    Raises:
        ValueError: an item without ``=`` or a target that is not a canonical emotion.
    """
    mapping = parse_key_values([item for item in spec.split(",") if item.strip()], what="label_map item")
    for code, emotion in mapping.items():
        if emotion and emotion not in CANONICAL_EMOTIONS:
            raise ValueError(
                f"label_map: {code}={emotion!r} is not a canonical emotion; use one of "
                f"{', '.join(CANONICAL_EMOTIONS)} (or nothing after '=' for unlabelled)."
            )
    return mapping


@register_corpus("manifest")
def load_manifest(root: str | Path) -> list[Utterance]:
    """Read a serkit manifest CSV (see :func:`serkit.data.utterance.read_manifest`)."""
    return read_manifest(root)


@register_corpus("scp")
def load_scp(
    root: str | Path,
    *,
    label_map: str = DEFAULT_SCP_LABEL_MAP,
    speaker_from: str = "iemocap",
    audio_root: str = "",
) -> list[Utterance]:
    """Read a Kaldi/CPT-HuBERT style ``<name> <path> <label>`` list.

    Args:
        label_map: comma list ``code=emotion``; labels that are canonical emotions need no entry.
        speaker_from: how to get speaker, session and gender from the name: ``iemocap`` (``Ses01F_impro01_M012``
            -> speaker ``Ses01M``, session ``Ses01``), ``kemdy20`` or ``none``.
        audio_root: folder that relative paths are resolved against (default: the list file's folder).

    Raises:
        ManifestError: a line without exactly three fields, a label that is neither in ``label_map`` nor canonical,
            a name that ``speaker_from`` cannot parse, or a duplicate name.
    """
    mapping = parse_label_map(label_map)
    speaker_of = _speaker_parser(speaker_from)
    path = _list_file(root, "scp")
    base = _audio_base(path, audio_root)
    utterances: list[Utterance] = []
    seen: dict[str, int] = {}
    with open(path, encoding="utf-8-sig") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            fields = line.split()
            if len(fields) != 3:
                raise ManifestError(f"{path}:{line_no}: {len(fields)} field(s); expected {_SCP_FORMAT}.")
            name, audio, label = fields
            emotion = mapping.get(label, label)
            if emotion not in CANONICAL_EMOTIONS and emotion != "":
                raise ManifestError(
                    f"{path}:{line_no}: unknown label {label!r}; known: {', '.join(mapping)} and the "
                    f"canonical emotions. Add it with --opt label_map={label_map},{label}=EMOTION."
                )
            utt_id = _stem(name)
            speaker = speaker_of(utt_id)
            if speaker is None:
                raise ManifestError(
                    f"{path}:{line_no}: cannot read a speaker from {name!r} with "
                    f"speaker_from={speaker_from}; use --opt speaker_from=none or one of "
                    f"{', '.join(SPEAKER_PARSERS)}."
                )
            _check_new_id(utt_id, line_no, seen, path)
            utterances.append(
                Utterance(
                    id=utt_id,
                    path=_audio_path(audio, base),
                    speaker=speaker[0],
                    session=speaker[1],
                    gender=speaker[2],
                    emotion=emotion,
                    label=label,
                )
            )
    return utterances


@register_corpus("dcnn_filelist")
def load_dcnn_filelist(root: str | Path, *, audio_root: str = "") -> list[Utterance]:
    """Read a DCNN-BLSTMWA ``wavpath|speaker_id|text|emotion_id[|language_id]`` file list.

    Args:
        audio_root: folder that relative wav paths are resolved against; DCNN lists hold paths relative to the
            recipe's working directory (``dataset/esd/...``), so this is usually the DCNN checkout. Default: the
            list file's folder.

    Raises:
        ManifestError: a line with other than 4 or 5 fields, an empty path or speaker, an emotion id outside 0-4,
            or a duplicate file stem.
    """
    path = _list_file(root, "DCNN")
    base = _audio_base(path, audio_root)
    utterances: list[Utterance] = []
    seen: dict[str, int] = {}
    with open(path, encoding="utf-8-sig") as handle:
        for line_no, line in enumerate(handle, start=1):
            line = line.rstrip("\r\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            fields = line.split("|")
            if len(fields) not in (4, 5) or not fields[0].strip() or not fields[1].strip():
                raise ManifestError(
                    f"{path}:{line_no}: {len(fields)} field(s) or an empty path/speaker; expected "
                    f"{_DCNN_FORMAT}."
                )
            audio, speaker, text, emotion_id = (field.strip() for field in fields[:4])
            if emotion_id not in DCNN_EMOTIONS:
                known = ", ".join(f"{code} {emotion}" for code, emotion in DCNN_EMOTIONS.items())
                raise ManifestError(
                    f"{path}:{line_no}: emotion id {emotion_id!r} is not one of {known}; expected "
                    f"{_DCNN_FORMAT}."
                )
            utt_id = Path(audio).stem
            _check_new_id(utt_id, line_no, seen, path)
            utterances.append(
                Utterance(
                    id=utt_id,
                    path=_audio_path(audio, base),
                    speaker=speaker,
                    emotion=DCNN_EMOTIONS[emotion_id],
                    label=emotion_id,
                    # The JTES recipe writes the literal string 'None' where it has no text.
                    text="" if text == "None" else text,
                    extra={"language_id": fields[4].strip()} if len(fields) == 5 else {},
                )
            )
    return utterances


@register_corpus("case_csv")
def load_case_csv(
    root: str | Path, *, speaker_from: str = "kemdy20", audio_root: str = ""
) -> list[Utterance]:
    """Read a CASE ``audio,text,labels,session`` CSV (KEMDy20 utterances).

    Args:
        speaker_from: ``kemdy20`` (``Sess01_script01_User002M_001`` -> speaker ``User002M``, gender male) or ``none``.
        audio_root: folder that relative audio paths are resolved against (default: the CSV's folder, which is where
            CASE's ``src/make_data.py`` writes it, next to ``wav/``).

    Raises:
        ManifestError: a missing column, a row with the wrong number of fields, an empty audio path, an unknown
            label word, a name ``speaker_from`` cannot parse, or a duplicate file stem.
    """
    speaker_of = _speaker_parser(speaker_from)
    path = _list_file(root, "CASE CSV")
    base = _audio_base(path, audio_root)
    utterances: list[Utterance] = []
    seen: dict[str, int] = {}
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [column for column in _CASE_COLUMNS if column not in (reader.fieldnames or [])]
        if missing:
            raise ManifestError(
                f"{path}: header {reader.fieldnames} lacks column(s) {missing}; expected a CASE CSV "
                f"with columns {','.join(_CASE_COLUMNS)}."
            )
        for row in reader:
            line_no = reader.line_num
            # DictReader puts surplus fields under None and fills missing ones with None.
            if None in row or None in row.values():
                raise ManifestError(
                    f"{path}:{line_no}: row has a different number of fields than the header; quote "
                    "fields that contain commas."
                )
            audio, labels = row["audio"].strip(), row["labels"].strip()
            if not audio:
                raise ManifestError(f"{path}:{line_no}: empty audio path.")
            words = [word.strip() for word in labels.split(";")]
            unknown = [word for word in words if word not in CASE_EMOTIONS]
            if unknown:
                raise ManifestError(
                    f"{path}:{line_no}: unknown label(s) {unknown}; expected KEMDy20 words "
                    f"{', '.join(CASE_EMOTIONS)} (several joined by ';')."
                )
            utt_id = Path(audio).stem
            speaker = speaker_of(utt_id)
            if speaker is None:
                raise ManifestError(
                    f"{path}:{line_no}: cannot read a speaker from {utt_id!r} with "
                    f"speaker_from={speaker_from}; use --opt speaker_from=none."
                )
            _check_new_id(utt_id, line_no, seen, path)
            utterances.append(
                Utterance(
                    id=utt_id,
                    path=_audio_path(audio, base),
                    speaker=speaker[0],
                    session=row["session"].strip() or speaker[1],
                    gender=speaker[2],
                    emotion=CASE_EMOTIONS[words[0]] if len(words) == 1 else "",
                    label=labels,
                    text=row["text"].strip(),
                )
            )
    return utterances
