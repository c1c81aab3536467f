"""CREMA-D (Cao et al. 2014): 91 actors, 12 English sentences, 6 emotions, some at three intensity levels.

Expected layout: ``ROOT/AudioWAV/<actor>_<sentence>_<emotion>_<level>.wav`` as in the official repository, e.g.
``AudioWAV/1001_DFA_ANG_XX.wav`` (a ROOT that is itself the ``AudioWAV`` folder also works; other folders of the
release, such as ``AudioMP3`` or ``VideoFlash``, are not read). Fields: actor (1001-1091), sentence code (IEO, TIE,
IOM, IWW, TAI, MTI, IWL, ITH, DFA, ITS, TSI, WSI), emotion (ANG angry, DIS disgust, FEA fearful, HAP happy,
NEU neutral, SAD sad) and level (LO low, MD medium, HI high, XX unspecified; only sentence IEO has levels).

Gender comes from the release's ``VideoDemographics.csv`` (columns ActorID, Age, Sex, Race, Ethnicity), looked for
at ``ROOT/VideoDemographics.csv`` and then in the parent of ROOT, or given with the ``demographics`` option. Without
it, gender is left empty and a warning is logged. Emotions are the intended (acted) ones, not the crowd-sourced
perceived labels of ``processedResults/summaryTable.csv``.
"""

from __future__ import annotations

import csv
import logging
import re
from pathlib import Path

from serkit.core.errors import CorpusLayoutError
from serkit.data.corpora import find_audio, register_corpus, require_dir
from serkit.data.utterance import Utterance

logger = logging.getLogger(__name__)

EMOTIONS = {
    "ANG": "angry",
    "DIS": "disgust",
    "FEA": "fearful",
    "HAP": "happy",
    "NEU": "neutral",
    "SAD": "sad",
}
INTENSITIES = {"LO": "low", "MD": "medium", "HI": "high", "XX": "unspecified"}
SENTENCES = {
    "IEO": "It's eleven o'clock.",
    "TIE": "That is exactly what happened.",
    "IOM": "I'm on my way to the meeting.",
    "IWW": "I wonder what this is about.",
    "TAI": "The airplane is almost full.",
    "MTI": "Maybe tomorrow it will be cold.",
    "IWL": "I would like a new alarm clock.",
    "ITH": "I think I have a doctor's appointment.",
    "DFA": "Don't forget a jacket.",
    "ITS": "I think I've seen this before.",
    "TSI": "The surface is slick.",
    "WSI": "We'll stop in a couple of minutes.",
}
DEMOGRAPHICS_FILE = "VideoDemographics.csv"
_SEXES = {"male": "male", "female": "female"}
_NAME = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})$")
_LAYOUT = "ROOT/AudioWAV/<actor>_<sentence>_<emotion>_<level>.wav (e.g. AudioWAV/1001_DFA_ANG_XX.wav)"


def parse_name(stem: str, path: Path) -> dict[str, str]:
    """Fields of a CREMA-D file stem; CorpusLayoutError if it does not follow the naming scheme."""
    match = _NAME.match(stem)
    if not match or match[2] not in SENTENCES or match[3] not in EMOTIONS or match[4] not in INTENSITIES:
        raise CorpusLayoutError(
            f"crema_d: {path} does not follow the CREMA-D naming scheme {_LAYOUT} with a known "
            f"sentence ({', '.join(SENTENCES)}), emotion ({', '.join(EMOTIONS)}) and level "
            f"({', '.join(INTENSITIES)}); rename it back or move it out of the corpus folder."
        )
    actor, sentence, emotion, level = match.groups()
    return {"actor": actor, "sentence": sentence, "emotion": emotion, "level": level}


def read_demographics(path: Path) -> dict[str, str]:
    """Actor id -> ``male``/``female`` from a ``VideoDemographics.csv`` file.

    Raises:
        CorpusLayoutError: the file lacks the ActorID or Sex column, or a Sex value is neither Male nor Female.
    """
    genders = {}
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"ActorID", "Sex"} - set(reader.fieldnames or [])
        if missing:
            raise CorpusLayoutError(
                f"crema_d: {path} lacks column(s) {sorted(missing)}; expected the release's "
                "VideoDemographics.csv with columns ActorID, Age, Sex, Race, Ethnicity."
            )
        for line_no, row in enumerate(reader, start=2):
            sex = row["Sex"].strip().lower()
            if sex not in _SEXES:
                raise CorpusLayoutError(
                    f"crema_d: {path}:{line_no}: Sex {row['Sex']!r} is not Male or Female."
                )
            genders[row["ActorID"].strip()] = _SEXES[sex]
    return genders


def _find_demographics(base: Path, demographics: str) -> Path | None:
    """The demographics file named by the option, else the first one found next to or above ROOT."""
    if demographics:
        path = Path(demographics).expanduser()
        if not path.is_file():
            raise CorpusLayoutError(
                f"crema_d: demographics file {path} does not exist; point the option at the "
                f"release's {DEMOGRAPHICS_FILE} or leave it empty to search next to ROOT."
            )
        return path
    for folder in (base, base.parent):
        if (folder / DEMOGRAPHICS_FILE).is_file():
            return folder / DEMOGRAPHICS_FILE
    return None


@register_corpus("crema_d")
def load_crema_d(root: str | Path, *, demographics: str = "") -> list[Utterance]:
    """Load the CREMA-D audio files.

    Args:
        demographics: path of ``VideoDemographics.csv``; empty means look for it in ROOT, then in ROOT's parent.
    """
    base = require_dir(root, "crema_d", _LAYOUT)
    audio_dir = base / "AudioWAV" if (base / "AudioWAV").is_dir() else base
    demographics_path = _find_demographics(base, demographics)
    if demographics_path is None:
        genders = {}
        logger.warning(
            "crema_d: no %s in %s or %s; gender is left empty. Pass --opt demographics=PATH to set it.",
            DEMOGRAPHICS_FILE,
            base,
            base.parent,
        )
    else:
        genders = read_demographics(demographics_path)
    utterances, unknown_actors = [], set()
    # The WAV folder is flat; not recursing keeps AudioMP3 copies of the same clips out when ROOT is the release.
    for path in find_audio(audio_dir, "*"):
        fields = parse_name(path.stem, path)
        if genders and fields["actor"] not in genders:
            unknown_actors.add(fields["actor"])
        utterances.append(
            Utterance(
                id=path.stem,
                path=str(path),
                speaker=fields["actor"],
                emotion=EMOTIONS[fields["emotion"]],
                label=fields["emotion"],
                gender=genders.get(fields["actor"], ""),
                text=SENTENCES[fields["sentence"]],
                extra={"intensity": INTENSITIES[fields["level"]], "sentence": fields["sentence"]},
            )
        )
    if unknown_actors:
        logger.warning(
            "crema_d: actor(s) %s are not in %s; their gender is left empty.",
            ", ".join(sorted(unknown_actors)),
            demographics_path,
        )
    return utterances
