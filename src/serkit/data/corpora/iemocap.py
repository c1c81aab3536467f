"""IEMOCAP (Busso et al. 2008): 5 sessions of acted dialogues, 10 speakers, categorical + dimensional labels.

Expected layout (the release ``IEMOCAP_full_release`` as distributed; ROOT is the folder holding
``Session1``..):

* audio: ``ROOT/Session{1..5}/sentences/wav/<dialog>/<utterance>.wav``, e.g.
  ``Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F000.wav`` (FLAC copies with the same stems work
  too);
* labels: ``ROOT/SessionN/dialog/EmoEvaluation/<dialog>.txt``; only the summary lines
  ``[6.2901 - 8.2357]<TAB>Ses01F_impro01_F000<TAB>neu<TAB>[2.5000, 2.5000, 2.5000]`` are read (start - end in
  seconds, utterance id, agreed category, mean [valence, activation, dominance] on 1-5); the per-evaluator
  lines (``C-E2:``, ``A-F1:``, ...) and the sub-folders (``Categorical/``, ``Attribute/``, ...) are ignored;
* transcripts: ``ROOT/SessionN/dialog/transcriptions/<dialog>.txt`` with lines
  ``Ses01F_impro01_F000 [006.2901-008.2357]: Excuse me.``; lines without an id and a time range
  (``M: [BREATHING]``) are skipped. Missing transcripts leave ``text`` empty.

Utterance ids are ``<dialog>_<speaker letter><number>``; the dialog itself may contain underscores
(``Ses03M_script03_2_F032``, ``Ses05M_script01_1b_M011``). The *speaker* of an utterance is the session plus
the gender letter of the id's last part (``Ses01F_impro01_M013`` is spoken by ``Ses01M``), not the letter
after the session number, which only says who wore the markers. Categories: neu neutral, hap happy, exc
excited, sad sad, ang angry, fru frustrated, fea fearful, sur surprised, dis disgust, oth other, xxx no
agreement (emotion ``""``). Recipes choose the classes with a label set (``iemocap_4class`` merges exc into
happy: 5531 utterances; ``iemocap_glam`` keeps exc as happy and drops hap).

Extras: ``subset`` (improvised/scripted, from the dialog name), ``dialog``, ``valence``, ``activation``,
``dominance`` (as written in EmoEvaluation), ``start`` and ``end`` (seconds within the dialog recording).
Durations are left to ``load_corpus``, which reads them from the audio headers (the annotated times are not
file lengths).

GLAM's ``handleIEMOCAP.py`` renames the wav files in place (``Ses01F-impro01-01-01-F000.wav``) and writes
``pair.json`` into ROOT; this loader needs the original names and never writes anything.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from serkit.core.errors import CorpusLayoutError
from serkit.data.corpora import find_audio, register_corpus, require_dir
from serkit.data.utterance import Utterance

logger = logging.getLogger(__name__)

EMOTIONS = {
    "neu": "neutral",
    "hap": "happy",
    "exc": "excited",
    "sad": "sad",
    "ang": "angry",
    "fru": "frustrated",
    "fea": "fearful",
    "sur": "surprised",
    "dis": "disgust",
    "oth": "other",
    "xxx": "",
}
SUBSETS = ("improvised", "scripted", "all")
GENDERS = {"F": "female", "M": "male"}
_ID = re.compile(r"^Ses(0[1-5])([FM])_(.+)_([FM])([0-9A-Za-z]+)$")
_SESSION_DIR = re.compile(r"^Session([1-5])$")
_EVALUATION = re.compile(
    r"^\[\s*(\d+(?:\.\d+)?)\s*-\s*(\d+(?:\.\d+)?)\s*\]\s+(\S+)\s+(\S+)\s+\[\s*([^\]]*)\]\s*$"
)
_TRANSCRIPT = re.compile(r"^(Ses\S+)\s+\[\s*\d+(?:\.\d+)?\s*-\s*\d+(?:\.\d+)?\s*\]:\s?(.*)$")
_LAYOUT = (
    "ROOT/Session{1..5}/sentences/wav/<dialog>/<utterance>.wav with labels in "
    "ROOT/SessionN/dialog/EmoEvaluation/<dialog>.txt (ROOT = IEMOCAP_full_release)"
)


@dataclass(frozen=True)
class Evaluation:
    """One summary line of an EmoEvaluation file."""

    code: str
    start: str
    end: str
    valence: str
    activation: str
    dominance: str


def read_evaluations(path: Path) -> dict[str, Evaluation]:
    """Utterance id -> its summary :class:`Evaluation` from one ``EmoEvaluation/<dialog>.txt`` file.

    Raises:
        CorpusLayoutError: a line that starts like a summary line (``[``) but does not parse, an unknown
            category code, or an id listed twice: each would otherwise silently drop or mislabel an utterance.
    """
    evaluations: dict[str, Evaluation] = {}
    text = path.read_text(encoding="utf-8", errors="replace")
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.startswith("["):
            continue  # header (%), blank lines and per-evaluator lines (C-E2:, A-F1:, ...)
        match = _EVALUATION.match(line)
        values = [v.strip() for v in match[5].split(",")] if match else []
        if not match or len(values) != 3:
            raise CorpusLayoutError(
                f"iemocap: {path}:{line_no}: {line.strip()!r} is not a summary line "
                "'[start - end]<TAB>utterance id<TAB>code<TAB>[V, A, D]'; restore the "
                "file from the release."
            )
        start, end, utt_id, code, _ = match.groups()
        if code not in EMOTIONS:
            raise CorpusLayoutError(
                f"iemocap: {path}:{line_no}: unknown category {code!r} for {utt_id}; "
                f"expected one of {', '.join(EMOTIONS)}."
            )
        if utt_id in evaluations:
            raise CorpusLayoutError(
                f"iemocap: {path}:{line_no}: {utt_id} is evaluated twice in the same "
                "file; restore the file from the release."
            )
        evaluations[utt_id] = Evaluation(code, start, end, *values)
    return evaluations


def read_transcripts(path: Path) -> dict[str, str]:
    """Utterance id -> text from one ``transcriptions/<dialog>.txt``; lines that do not parse are skipped."""
    texts = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        match = _TRANSCRIPT.match(line.strip())
        if match:
            texts[match[1]] = match[2].strip()
    return texts


def _session_number(value: str) -> str:
    """``"1"``, ``"Ses01"``, ``"Session1"`` -> ``"1"``; ValueError for anything else."""
    match = re.fullmatch(r"(?:ses(?:sion)?)?0?([1-5])", value.strip().lower())
    if not match:
        raise ValueError(
            f"iemocap: sessions entry {value!r} is not a session 1-5; write e.g. sessions=1,2 "
            "(or Ses01, Session1)."
        )
    return match[1]


def _session_dirs(base: Path, sessions: tuple[str, ...]) -> list[Path]:
    """The ``SessionN`` folders to read, checked against the ``sessions`` option."""
    present = {m[1]: p for p in base.iterdir() if p.is_dir() and (m := _SESSION_DIR.match(p.name))}
    if not present:
        raise CorpusLayoutError(
            f"iemocap: {base} holds no Session1..Session5 folder. Expected layout: {_LAYOUT}"
        )
    wanted = sorted({_session_number(s) for s in sessions}) if sessions else sorted(present)
    missing = [f"Session{n}" for n in wanted if n not in present]
    if missing:
        found = ", ".join(f"Session{n}" for n in sorted(present))
        raise CorpusLayoutError(
            f"iemocap: sessions={','.join(sessions)} asks for {', '.join(missing)}, "
            f"which is not in {base} (found: {found})."
        )
    return [present[n] for n in wanted]


def _subset_of(dialog: str, path: Path) -> str:
    if "impro" in dialog:
        return "improvised"
    if "script" in dialog:
        return "scripted"
    raise CorpusLayoutError(
        f"iemocap: {path}: dialog {dialog!r} is neither improvised ('impro') nor "
        "scripted ('script'); rename it back to the release name."
    )


def _parse_id(stem: str, path: Path, session: str) -> tuple[str, str]:
    """(dialog, speaker gender letter) of an utterance file, checked against its folder and session."""
    match = _ID.match(stem)
    dialog = stem.rsplit("_", 1)[0]
    if not match or match[1] != f"0{session}" or path.parent.name != dialog:
        hint = (
            " GLAM's handleIEMOCAP.py renames files in place to Ses01F-impro01-01-01-F000.wav; restore "
            "the original names from the release."
            if "-" in stem
            else ""
        )
        raise CorpusLayoutError(
            f"iemocap: {path} does not follow the IEMOCAP naming scheme "
            f"Session{session}/sentences/wav/<dialog>/<dialog>_<F|M><nnn>.wav.{hint}"
        )
    return dialog, match[4]


@register_corpus("iemocap")
def load_iemocap(root: str | Path, *, subset: str = "all", sessions: tuple[str, ...] = ()) -> list[Utterance]:
    """Load IEMOCAP utterances with categorical labels, dimensional values and transcripts.

    Wav files without an EmoEvaluation line, and evaluated utterances without a wav file, are left out and
    counted in a logged warning.

    Args:
        subset: ``improvised``, ``scripted`` or ``all`` dialogs.
        sessions: sessions to read, e.g. ``1,2`` (also ``Ses01`` or ``Session1``); empty reads all present.
    """
    if subset not in SUBSETS:
        raise ValueError(f"iemocap: subset={subset!r}; use one of {', '.join(SUBSETS)}.")
    base = require_dir(root, "iemocap", _LAYOUT)
    utterances: list[Utterance] = []
    unlabelled: list[str] = []
    unheard: list[str] = []
    for session_dir in _session_dirs(base, sessions):
        session = _SESSION_DIR.match(session_dir.name)[1]
        wav_dir = session_dir / "sentences" / "wav"
        eval_dir = session_dir / "dialog" / "EmoEvaluation"
        for folder in (wav_dir, eval_dir):
            if not folder.is_dir():
                raise CorpusLayoutError(f"iemocap: {folder} is missing. Expected layout: {_LAYOUT}")
        evaluations: dict[str, Evaluation] = {}
        for path in sorted(eval_dir.glob("Ses*.txt")):
            evaluations.update(read_evaluations(path))
        texts: dict[str, str] = {}
        for path in sorted((session_dir / "dialog" / "transcriptions").glob("Ses*.txt")):
            texts.update(read_transcripts(path))
        found: dict[str, Path] = {}
        for path in find_audio(wav_dir, "*/*"):
            dialog, letter = _parse_id(path.stem, path, session)
            if path.stem in found:
                raise CorpusLayoutError(
                    f"iemocap: {path} and {found[path.stem]} are the same utterance; "
                    "keep one audio file per utterance."
                )
            found[path.stem] = path
            evaluation = evaluations.get(path.stem)
            if evaluation is None:
                unlabelled.append(str(path))
                continue
            dialog_subset = _subset_of(dialog, path)
            if subset != "all" and dialog_subset != subset:
                continue
            utterances.append(
                Utterance(
                    id=path.stem,
                    path=str(path),
                    speaker=f"Ses0{session}{letter}",
                    emotion=EMOTIONS[evaluation.code],
                    label=evaluation.code,
                    session=f"Ses0{session}",
                    gender=GENDERS[letter],
                    text=texts.get(path.stem, ""),
                    extra={
                        "subset": dialog_subset,
                        "dialog": dialog,
                        "valence": evaluation.valence,
                        "activation": evaluation.activation,
                        "dominance": evaluation.dominance,
                        "start": evaluation.start,
                        "end": evaluation.end,
                    },
                )
            )
        unheard += sorted(set(evaluations) - set(found))
    if unlabelled:
        logger.warning(
            "iemocap: left out %d audio file(s) without an EmoEvaluation line (e.g. %s).",
            len(unlabelled),
            unlabelled[0],
        )
    if unheard:
        logger.warning(
            "iemocap: left out %d evaluated utterance(s) without an audio file under "
            "sentences/wav (e.g. %s); is the copy complete?",
            len(unheard),
            unheard[0],
        )
    return utterances
