"""MSP-Podcast (Lotfian & Busso 2019): English podcast segments, 8 emotions plus arousal/valence/dominance 1-7.

Expected layout (release 1.x as distributed; ROOT is the folder holding ``Audios/`` and ``Labels/``):

* audio: ``ROOT/Audios/<FileName>``, e.g. ``Audios/MSP-PODCAST_0001_0008.wav``;
* labels: ``ROOT/Labels/labels_consensus.csv`` (early releases spell it ``labels_concensus.csv``; both are read)
  with the header ``FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set``; further columns are
  ignored;
* transcripts (optional): ``ROOT/Transcripts/<name>.txt`` holding the segment's text; absent = empty ``text``.

``EmoClass`` codes: A angry, S sad, H happy, U surprised, F fearful, D disgust, C contempt, N neutral, O other,
X no agreement (emotion ``""``); an empty code (Test3 is released without labels) is unlabelled too. ``EmoAct``,
``EmoVal`` and ``EmoDom`` are consensus ratings on 1-7, kept as written in the extras ``arousal``, ``valence`` and
``dominance`` (empty where not rated); ``Gender`` Male/Female/Unknown becomes male/female/``""``.

Splits: ``Split_Set`` (Train, Development, Test1, Test2, Test3) is kept raw in the extra ``msp_split`` and mapped to
``split`` for the ``official`` protocol: Train -> train, Development -> dev, the ``test_set`` chosen -> test. Rows
of the other test sets are left out (logged), so ``protocol: {name: official}`` gives the official partitions.

Speakers: ``SpkrID`` as written. Segments whose speaker is ``Unknown`` cannot be proven to come from different
people, so giving each its own id would let a speaker-independent protocol pass its check while the same voice
sits on both sides. ``unknown_speakers`` says what to do instead: ``group`` (default) makes them one pseudo-speaker
``unknown`` that every speaker-grouped protocol keeps on a single side (conservative; the ``official`` split
does not group by speaker, so it is unaffected); ``podcast`` gives one pseudo-speaker per podcast,
``unknown:<podcast>`` (the first number of the file name: smaller groups, but a host heard in two podcasts
could still cross sides); ``drop`` leaves those segments out. The podcast number is also in the extra ``podcast``.
"""

from __future__ import annotations

import csv
import logging
import math
import re
from pathlib import Path

from serkit.core.errors import CorpusLayoutError
from serkit.data.corpora import find_file, register_corpus, report_missing_audio, require_dir
from serkit.data.utterance import Utterance

logger = logging.getLogger(__name__)

EMOTIONS = {
    "A": "angry",
    "S": "sad",
    "H": "happy",
    "U": "surprised",
    "F": "fearful",
    "D": "disgust",
    "C": "contempt",
    "N": "neutral",
    "O": "other",
    "X": "",
    "": "",
}
GENDERS = {"male": "male", "female": "female", "unknown": "", "": ""}
SPLITS = {"train": "train", "development": "dev", "test1": "", "test2": "", "test3": ""}
TEST_SETS = ("Test1", "Test2", "Test3")
UNKNOWN_SPEAKERS = ("group", "podcast", "drop")
MISSING_AUDIO = ("error", "skip", "keep")
COLUMNS = ("FileName", "EmoClass", "EmoAct", "EmoVal", "EmoDom", "SpkrID", "Gender", "Split_Set")
LABEL_FILES = ("labels_consensus.csv", "labels_concensus.csv")
#: The dimension extras and the label columns they come from; ratings lie on RATING_RANGE.
DIMENSIONS = {"arousal": "EmoAct", "valence": "EmoVal", "dominance": "EmoDom"}
RATING_RANGE = (1.0, 7.0)
_FILE = re.compile(r"^MSP-PODCAST_(\d+)(?:_\d+)+\.wav$", re.IGNORECASE)
_LAYOUT = (
    "ROOT/Audios/MSP-PODCAST_NNNN_NNNN.wav and ROOT/Labels/labels_consensus.csv with the header "
    f"{','.join(COLUMNS)} (optional ROOT/Transcripts/<name>.txt)"
)


def read_labels(path: Path) -> list[dict[str, str]]:
    """Rows of ``labels_consensus.csv`` as dicts of the eight release columns (stripped) plus ``where``.

    Raises:
        CorpusLayoutError: a missing column, a row with too few fields, a file name outside the
            ``MSP-PODCAST_NNNN_NNNN.wav`` scheme, an unknown EmoClass or Split_Set, a rating that is not a number
            in 1-7, or a file listed twice, naming the file and row.
    """
    with open(path, encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    header = [name.strip() for name in rows[0]] if rows else []
    missing = [name for name in COLUMNS if name not in header]
    if missing:
        raise CorpusLayoutError(
            f"msp_podcast: {path} lacks the column(s) {', '.join(missing)} (header: {header[:10]}). "
            f"Expected layout: {_LAYOUT}"
        )
    index = {name: header.index(name) for name in COLUMNS}
    records: list[dict[str, str]] = []
    seen: dict[str, str] = {}
    for row_no, values in enumerate(rows[1:], start=2):
        if not values or all(not value.strip() for value in values):
            continue
        where = f"{path}:{row_no}"
        if len(values) <= max(index.values()):
            raise CorpusLayoutError(
                f"msp_podcast: {where}: row has {len(values)} field(s) but the header needs "
                f"{max(index.values()) + 1}; restore the file from the release."
            )
        record = {name: values[column].strip() for name, column in index.items()}
        record["where"] = where
        _check_record(record)
        if record["FileName"] in seen:
            raise CorpusLayoutError(
                f"msp_podcast: {where}: {record['FileName']} is listed twice (also {seen[record['FileName']]}); "
                "restore the file from the release."
            )
        seen[record["FileName"]] = where
        records.append(record)
    return records


def _check_record(record: dict[str, str]) -> None:
    where, name = record["where"], record["FileName"]
    if not _FILE.match(name):
        raise CorpusLayoutError(
            f"msp_podcast: {where}: FileName {name!r} does not follow MSP-PODCAST_NNNN_NNNN.wav "
            "(e.g. MSP-PODCAST_0001_0008.wav)."
        )
    if record["EmoClass"].upper() not in EMOTIONS:
        raise CorpusLayoutError(
            f"msp_podcast: {where}: {name} has EmoClass {record['EmoClass']!r}; expected one of "
            f"{', '.join(code for code in EMOTIONS if code)} (or empty for unlabelled)."
        )
    if record["Split_Set"].lower() not in SPLITS:
        raise CorpusLayoutError(
            f"msp_podcast: {where}: {name} has Split_Set {record['Split_Set']!r}; expected Train, "
            "Development, Test1, Test2 or Test3."
        )
    if record["Gender"].lower() not in GENDERS:
        raise CorpusLayoutError(
            f"msp_podcast: {where}: {name} has Gender {record['Gender']!r}; expected Male, Female or Unknown."
        )
    low, high = RATING_RANGE
    for column in DIMENSIONS.values():
        text = record[column]
        if not text:
            continue
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not low <= value <= high:  # also catches NaN and text
            raise CorpusLayoutError(
                f"msp_podcast: {where}: {name} has {column}={text!r}; ratings are numbers in "
                f"{low:g}-{high:g} (empty when not rated)."
            )


def _speaker(record: dict[str, str], podcast: str, unknown_speakers: str) -> str | None:
    """The speaker id of a row, a pseudo-speaker for ``Unknown``, or None when such rows are dropped."""
    speaker = record["SpkrID"]
    if speaker and speaker.lower() != "unknown":
        return speaker
    if unknown_speakers == "drop":
        return None
    return "unknown" if unknown_speakers == "group" else f"unknown:{podcast}"


@register_corpus("msp_podcast")
def load_msp_podcast(
    root: str | Path,
    *,
    test_set: str = "Test1",
    unknown_speakers: str = "group",
    missing_audio: str = "error",
) -> list[Utterance]:
    """Load MSP-Podcast segments with categorical labels, 1-7 ratings, official split and transcripts.

    Args:
        test_set: the official test set that becomes ``split=test`` (``Test1``, ``Test2`` or ``Test3``); the rows
            of the other test sets are left out.
        unknown_speakers: segments whose SpkrID is ``Unknown``: ``group`` (one pseudo-speaker ``unknown``),
            ``podcast`` (``unknown:<podcast>``) or ``drop`` (see the module docstring for why not one id each).
        missing_audio: labelled segments without a file in ``Audios/``: ``error``, ``skip`` (logged count) or
            ``keep`` (the expected path, for label-only use).
    """
    chosen = {t.lower(): t for t in TEST_SETS}.get(test_set.strip().lower())
    if chosen is None:
        raise ValueError(f"msp_podcast: test_set={test_set!r}; use one of {', '.join(TEST_SETS)}.")
    for option, value, allowed in (
        ("unknown_speakers", unknown_speakers, UNKNOWN_SPEAKERS),
        ("missing_audio", missing_audio, MISSING_AUDIO),
    ):
        if value not in allowed:
            raise ValueError(f"msp_podcast: {option}={value!r}; use one of {', '.join(allowed)}.")
    base = require_dir(root, "msp_podcast", _LAYOUT)
    listings: dict[Path, dict[str, Path]] = {}
    labels = find_file(base / "Labels", LABEL_FILES, listings)
    if labels is None:
        raise CorpusLayoutError(
            f"msp_podcast: no {base / 'Labels' / LABEL_FILES[0]}. Expected layout: {_LAYOUT}"
        )
    audio_dir, text_dir = base / "Audios", base / "Transcripts"
    if not audio_dir.is_dir() and missing_audio != "keep":
        raise CorpusLayoutError(
            f"msp_podcast: {audio_dir} is missing. Expected layout: {_LAYOUT} (or pass missing_audio=keep "
            "for label-only use)."
        )
    splits = {**SPLITS, chosen.lower(): "test"}
    utterances: list[Utterance] = []
    other_tests, no_speaker, no_audio = 0, 0, []
    for record in read_labels(labels):
        split = splits[record["Split_Set"].lower()]
        if not split:
            other_tests += 1
            continue
        name = record["FileName"]
        podcast = _FILE.match(name)[1]
        speaker = _speaker(record, podcast, unknown_speakers)
        if speaker is None:
            no_speaker += 1
            continue
        audio = find_file(audio_dir, [name], listings)
        if audio is None:
            no_audio.append(name)
            if missing_audio != "keep":
                continue
            audio = audio_dir / name
        stem = Path(name).stem
        transcript = find_file(text_dir, [f"{stem}.txt"], listings)
        text = transcript.read_text(encoding="utf-8", errors="replace").strip() if transcript else ""
        code = record["EmoClass"].upper()
        utterances.append(
            Utterance(
                id=stem,
                path=str(audio),
                speaker=speaker,
                emotion=EMOTIONS[code],
                label=code,
                gender=GENDERS[record["Gender"].lower()],
                text=" ".join(text.split()),
                extra={
                    **{extra: record[column] for extra, column in DIMENSIONS.items()},
                    "split": split,
                    "msp_split": record["Split_Set"],
                    "podcast": podcast,
                },
            )
        )
    _report(no_audio, missing_audio, other_tests, chosen, no_speaker, audio_dir)
    return utterances


def _report(
    no_audio: list[str], missing_audio: str, other_tests: int, chosen: str, no_speaker: int, audio_dir: Path
) -> None:
    """Raise for missing audio (``missing_audio=error``), log what was left out."""
    report_missing_audio(
        "msp_podcast",
        no_audio,
        missing_audio,
        items="labelled segment(s)",
        expected=f"{audio_dir}/<FileName>",
    )
    if other_tests:
        logger.info(
            "msp_podcast: left out %d segment(s) of the test sets other than %s.", other_tests, chosen
        )
    if no_speaker:
        logger.info(
            "msp_podcast: left out %d segment(s) of unknown speakers (unknown_speakers=drop).", no_speaker
        )
