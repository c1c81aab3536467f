"""SAVEE, Surrey Audio-Visual Expressed Emotion (Haq & Jackson 2009): 4 male speakers, 7 emotions, 480 utterances.

Expected layout: the release's ``ROOT/AudioData/<speaker>/<code><nn>.wav`` with speakers DC, JE, JK, KL, e.g.
``AudioData/DC/sa03.wav``, or the flat copy ``ROOT/ALL/<speaker>_<code><nn>.wav`` (e.g. ``ALL/DC_sa03.wav``) found on
Kaggle. Emotion codes: a angry, d disgust, f fearful, h happy, n neutral, sa sad, su surprised; nn numbers the
sentence within the emotion (01-15, neutral 01-30). The utterance id is ``<speaker>_<code><nn>`` in both layouts.
All four speakers are male. Transcripts are not read: text is left empty.
"""

from __future__ import annotations

import re
from pathlib import Path

from serkit.core.errors import CorpusLayoutError
from serkit.data.corpora import find_audio, register_corpus, require_dir
from serkit.data.utterance import Utterance

# Two-letter codes come first in the pattern so that "sa01" is never read as code "s".
EMOTIONS = {
    "sa": "sad",
    "su": "surprised",
    "a": "angry",
    "d": "disgust",
    "f": "fearful",
    "h": "happy",
    "n": "neutral",
}
SPEAKERS = ("DC", "JE", "JK", "KL")
_CODE = f"({'|'.join(EMOTIONS)})(\\d\\d)"
_NESTED = re.compile(f"^{_CODE}$")
_FLAT = re.compile(f"^({'|'.join(SPEAKERS)})_{_CODE}$")
_LAYOUT = (
    "ROOT/AudioData/<DC|JE|JK|KL>/<code><nn>.wav (e.g. AudioData/DC/sa03.wav) or ROOT/ALL/<speaker>_<code>"
    "<nn>.wav (e.g. ALL/DC_sa03.wav), code one of a d f h n sa su"
)


def parse_path(path: Path) -> tuple[str, str, str]:
    """(speaker, emotion code, number) of a SAVEE file in either layout; CorpusLayoutError otherwise."""
    flat = _FLAT.match(path.stem)
    if flat:
        return flat[1], flat[2], flat[3]
    nested = _NESTED.match(path.stem)
    if nested and path.parent.name in SPEAKERS:
        return path.parent.name, nested[1], nested[2]
    raise CorpusLayoutError(
        f"savee: {path} does not follow the SAVEE layout {_LAYOUT}; rename it back or move it "
        "out of the corpus folder."
    )


@register_corpus("savee")
def load_savee(root: str | Path) -> list[Utterance]:
    """Load every SAVEE utterance under ``root`` (either layout)."""
    base = require_dir(root, "savee", _LAYOUT)
    utterances: list[Utterance] = []
    first_path: dict[str, Path] = {}
    for path in find_audio(base):
        speaker, code, number = parse_path(path)
        utt_id = f"{speaker}_{code}{number}"
        if utt_id in first_path:
            raise CorpusLayoutError(
                f"savee: {path} and {first_path[utt_id]} are both utterance {utt_id}; keep one "
                "layout (AudioData/ or ALL/) under ROOT."
            )
        first_path[utt_id] = path
        utterances.append(
            Utterance(
                id=utt_id,
                path=str(path),
                speaker=speaker,
                emotion=EMOTIONS[code],
                label=code,
                gender="male",
            )
        )
    return utterances
