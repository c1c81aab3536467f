"""JTES, the Japanese Twitter-based Emotional Speech corpus (Takeishi et al. 2016): 100 speakers, 4 emotions.

Expected layout (the one used by DCNN-BLSTMWA): ``ROOT/wav/<speaker>/<emotion>/<file>.wav`` with speakers f01-f50
(female) and m01-m50 (male) and emotion folders neu (neutral), joy (happy), sad (sad), ang (angry), e.g.
``wav/f01/joy/f01_joy_01.wav``. A ROOT that is itself the ``wav`` folder also works. The utterance id is the file
stem, so stems must be unique across the corpus. Transcripts are not read: text is left empty.
"""

from __future__ import annotations

import re
from pathlib import Path

from serkit.core.errors import CorpusLayoutError
from serkit.data.corpora import find_audio, register_corpus, require_dir
from serkit.data.utterance import Utterance

EMOTIONS = {"neu": "neutral", "joy": "happy", "sad": "sad", "ang": "angry"}
GENDERS = {"f": "female", "m": "male"}
_SPEAKER = re.compile(r"^([fm])(\d\d)$")
_LAYOUT = "ROOT/wav/<f01..f50|m01..m50>/<neu|joy|sad|ang>/<file>.wav (e.g. wav/f01/joy/f01_joy_01.wav)"


@register_corpus("jtes")
def load_jtes(root: str | Path) -> list[Utterance]:
    """Load every JTES utterance under ``root`` (speaker folders directly under ``ROOT/wav`` or ROOT)."""
    base = require_dir(root, "jtes", _LAYOUT)
    audio_dir = base / "wav" if (base / "wav").is_dir() else base
    utterances: list[Utterance] = []
    first_path: dict[str, Path] = {}
    for path in find_audio(audio_dir):
        parts = path.relative_to(audio_dir).parts
        speaker = _SPEAKER.match(parts[0]) if len(parts) == 3 else None
        if speaker is None or parts[1] not in EMOTIONS:
            raise CorpusLayoutError(
                f"jtes: {path} does not follow the JTES layout {_LAYOUT}; move it out of the corpus folder."
            )
        if path.stem in first_path:
            raise CorpusLayoutError(
                f"jtes: {path} and {first_path[path.stem]} have the same file stem, which is the "
                "utterance id; remove the duplicate copy."
            )
        first_path[path.stem] = path
        utterances.append(
            Utterance(
                id=path.stem,
                path=str(path),
                speaker=parts[0],
                emotion=EMOTIONS[parts[1]],
                label=parts[1],
                gender=GENDERS[speaker[1]],
            )
        )
    return utterances
