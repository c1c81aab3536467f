"""ESD, the Emotional Speech Dataset (Zhou et al. 2021): 10 Mandarin + 10 English speakers, 5 emotions, 350 sentences.

Expected layout: ``ROOT/<speaker>/<Emotion>/<speaker>_<nnnnnn>.wav`` with speakers 0001-0010 (Mandarin) and
0011-0020 (English) and emotion folders Neutral, Happy, Sad, Angry, Surprise, e.g. ``0011/Angry/0011_000351.wav``.
Releases that split each emotion folder into ``train/``, ``evaluation/`` and ``test/`` are read too, and that folder
is kept as the ``official_split`` extra. ROOT is the folder holding the speaker folders (in the official zip:
``Emotional Speech Dataset (ESD)/``). Transcripts come from ``ROOT/<speaker>/<speaker>.txt``, one line per
utterance ``<id><TAB><text><TAB><emotion>``; depending on the copy the Mandarin files are UTF-8, UTF-16 or GB18030
and are decoded accordingly (UTF-16 when the file starts with its byte-order mark, else UTF-8, else GB18030). The
emotion is taken from the folder, not from the transcript (the Mandarin transcripts write it in Chinese).

Gender is from the speaker table of the ESD README: 0001-0003, 0007, 0009 and 0015-0019 female; 0004-0006, 0008,
0010-0014 and 0020 male (the DCNN-BLSTMWA male/female protocols use the same English split).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from serkit.core.errors import CorpusLayoutError
from serkit.data.corpora import find_audio, register_corpus, require_dir
from serkit.data.utterance import Utterance

logger = logging.getLogger(__name__)

EMOTIONS = {"Neutral": "neutral", "Happy": "happy", "Sad": "sad", "Angry": "angry", "Surprise": "surprised"}
OFFICIAL_SPLITS = ("train", "evaluation", "test")
LANGUAGES = {
    "chinese": tuple(f"{i:04d}" for i in range(1, 11)),
    "english": tuple(f"{i:04d}" for i in range(11, 21)),
}
_FEMALE = {"0001", "0002", "0003", "0007", "0009", "0015", "0016", "0017", "0018", "0019"}
GENDERS = {spk: "female" if spk in _FEMALE else "male" for speakers in LANGUAGES.values() for spk in speakers}
# Tried in order for files without a UTF-16 byte-order mark. UTF-16 is only used when the BOM is there, because
# almost any even-length byte string "decodes" as UTF-16 and would turn a GB18030 file into garbage.
TRANSCRIPT_ENCODINGS = ("utf-8-sig", "gb18030")
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_FILE = re.compile(r"^(\d{4})_\d{6}$")
_LAYOUT = (
    "ROOT/<speaker 0001-0020>/<Neutral|Happy|Sad|Angry|Surprise>/[train|evaluation|test/]<speaker>_<nnnnnn>.wav"
    ", transcripts ROOT/<speaker>/<speaker>.txt"
)


def read_transcripts(path: Path) -> dict[str, str]:
    """Utterance id -> text from one speaker's ``<speaker>.txt``.

    Lines are ``id<TAB>text<TAB>emotion``; a copy with spaces instead of tabs is read as id, text, last word.

    Raises:
        CorpusLayoutError: the file decodes as none of UTF-16 (with BOM), UTF-8, GB18030, or a line does not start
            with an ``<speaker>_<nnnnnn>`` id followed by text.
    """
    raw = path.read_bytes()
    encodings = ("utf-16",) if raw.startswith(_UTF16_BOMS) else TRANSCRIPT_ENCODINGS
    for encoding in encodings:
        try:
            content = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise CorpusLayoutError(
            f"esd: {path} is not text in any of {', '.join(encodings)}; re-save it as UTF-8 "
            "(one line per utterance: id<TAB>text<TAB>emotion)."
        )
    texts = {}
    for line_no, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        if "\t" in line:
            utt_id, _, rest = line.partition("\t")
            text = rest.split("\t")[0]
        else:  # a copy with spaces instead of tabs: the emotion is the last word
            utt_id, _, rest = line.strip().partition(" ")
            text = rest.rsplit(" ", 1)[0]
        if not _FILE.match(utt_id.strip()) or not rest.strip():
            raise CorpusLayoutError(
                f"esd: {path}:{line_no}: {line.strip()!r} is not 'id<TAB>text<TAB>emotion' with an "
                "id like 0011_000001; fix the line or delete the transcript to load without text."
            )
        texts[utt_id.strip()] = text.strip()
    return texts


def _parse_path(path: Path, base: Path) -> tuple[str, str]:
    """(emotion folder, official split or '') of an audio file, or CorpusLayoutError."""
    parts = path.relative_to(base).parts
    split = parts[2] if len(parts) == 4 else ""
    match = _FILE.match(path.stem)
    if (
        len(parts) not in (3, 4)
        or parts[1] not in EMOTIONS
        or (split and split not in OFFICIAL_SPLITS)
        or not match
        or match[1] != parts[0]
        or parts[0] not in GENDERS
    ):
        raise CorpusLayoutError(
            f"esd: {path} does not follow the ESD layout {_LAYOUT}; move it out of the corpus "
            "folder or point ROOT at the folder that holds the speaker folders."
        )
    return parts[1], split


@register_corpus("esd")
def load_esd(root: str | Path, *, language: str = "english") -> list[Utterance]:
    """Load ESD utterances with their transcripts.

    Args:
        language: ``english`` (speakers 0011-0020, the DCNN-BLSTMWA protocol), ``chinese`` (0001-0010) or ``all``.
    """
    if language not in (*LANGUAGES, "all"):
        raise ValueError(f"esd: language={language!r}; use one of {', '.join(LANGUAGES)}, all.")
    base = require_dir(root, "esd", _LAYOUT)
    speakers = [spk for lang, group in LANGUAGES.items() if language in (lang, "all") for spk in group]
    utterances = []
    for speaker in speakers:
        folder = base / speaker
        if not folder.is_dir():
            continue
        transcript = folder / f"{speaker}.txt"
        if transcript.is_file():
            texts = read_transcripts(transcript)
        else:
            texts = {}
            logger.warning("esd: no transcript %s; texts of speaker %s are left empty.", transcript, speaker)
        speaker_language = "chinese" if speaker in LANGUAGES["chinese"] else "english"
        for path in find_audio(folder):
            emotion, split = _parse_path(path, base)
            extra = {"language": speaker_language}
            if split:
                extra["official_split"] = split
            utterances.append(
                Utterance(
                    id=path.stem,
                    path=str(path),
                    speaker=speaker,
                    emotion=EMOTIONS[emotion],
                    label=emotion,
                    gender=GENDERS[speaker],
                    text=texts.get(path.stem, ""),
                    extra=extra,
                )
            )
    if not utterances and not any((base / spk).is_dir() for spk in speakers):
        raise CorpusLayoutError(
            f"esd: {base} holds none of the speaker folders {speakers[0]}-{speakers[-1]} "
            f"(language={language}). Expected layout: {_LAYOUT}"
        )
    return utterances
