"""TESS, the Toronto Emotional Speech Set (Dupuis & Pichora-Fuller 2010): 2 female speakers, 200 words, 7 emotions.

Expected layout: any folder tree under ROOT holding the files with their original names
``<speaker>_<word>_<emotion>.wav``, e.g. ``OAF_angry/OAF_back_angry.wav``. Speakers OAF (older) and YAF (younger
adult female); emotions angry, disgust, fear (fearful), happy, neutral, ps (pleasant surprise, surprised), sad;
matching is case-insensitive and the id is ``<SPEAKER>_<word>_<emotion>`` with the case of the release
(``OAF_back_angry``). Every utterance is the carrier phrase "Say the word <word>.", kept as text; the word
is also the ``word`` extra.

Known anomaly: some downloadable copies hold the whole corpus twice (a folder nested in a folder of the same name);
two files with the same name raise an error instead of entering the manifest twice: point ROOT at one copy.
"""

from __future__ import annotations

import re
from pathlib import Path

from serkit.core.errors import CorpusLayoutError
from serkit.data.corpora import find_audio, register_corpus, require_dir
from serkit.data.utterance import Utterance

EMOTIONS = {
    "angry": "angry",
    "disgust": "disgust",
    "fear": "fearful",
    "happy": "happy",
    "neutral": "neutral",
    "ps": "surprised",
    "sad": "sad",
}
SPEAKERS = ("OAF", "YAF")
_NAME = re.compile(f"^({'|'.join(SPEAKERS)})_([a-z]+)_({'|'.join(EMOTIONS)})$", re.IGNORECASE)
_LAYOUT = "ROOT/**/<OAF|YAF>_<word>_<emotion>.wav (e.g. OAF_angry/OAF_back_angry.wav)"


def parse_name(stem: str, path: Path) -> dict[str, str]:
    """Speaker, word and emotion code of a TESS file stem; CorpusLayoutError if it does not follow the scheme."""
    match = _NAME.match(stem)
    if not match:
        raise CorpusLayoutError(
            f"tess: {path} does not follow the TESS naming scheme {_LAYOUT} with emotion one "
            f"of {', '.join(EMOTIONS)}; rename it back or move it out of the corpus folder."
        )
    return {"speaker": match[1].upper(), "word": match[2].lower(), "emotion": match[3].lower()}


@register_corpus("tess")
def load_tess(root: str | Path) -> list[Utterance]:
    """Load every TESS utterance under ``root``."""
    base = require_dir(root, "tess", _LAYOUT)
    utterances: list[Utterance] = []
    first_path: dict[str, Path] = {}
    for path in find_audio(base):
        fields = parse_name(path.stem, path)
        utt_id = f"{fields['speaker']}_{fields['word']}_{fields['emotion']}"
        if utt_id in first_path:
            raise CorpusLayoutError(
                f"tess: {path} and {first_path[utt_id]} are both utterance {utt_id}; the folder "
                "probably holds two copies of the corpus: point ROOT at one of them."
            )
        first_path[utt_id] = path
        utterances.append(
            Utterance(
                id=utt_id,
                path=str(path),
                speaker=fields["speaker"],
                emotion=EMOTIONS[fields["emotion"]],
                label=fields["emotion"],
                gender="female",
                text=f"Say the word {fields['word']}.",
                extra={"word": fields["word"]},
            )
        )
    return utterances
