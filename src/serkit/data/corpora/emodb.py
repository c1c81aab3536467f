"""EmoDB, the Berlin Database of Emotional Speech (Burkhardt et al. 2005): 10 actors, 10 German sentences, 7 emotions.

Expected layout: any folder tree under ROOT holding the files with their original names ``SSTNNEV.<wav|flac>``,
e.g. the distribution's ``wav/03a01Fa.wav``. Fields: speaker (two digits: 03, 08, 09, 10, 11, 12, 13, 14, 15, 16),
text code (a01, a02, a04, a05, a07, b01, b02, b03, b09, b10), emotion letter of the German word (W Wut angry,
L Langeweile boredom, E Ekel disgust, A Angst fearful, F Freude happy, T Trauer sad, N neutral) and a version
letter (a, b, c, ... for repeated takes). Gender comes from the corpus's speaker list, text from its sentence list.

Known anomaly: the documentation spells sentence a05 "Das schwarze Stück Papier ...", but every speaker says (and
the syllable labels read) "Blatt Papier"; the spoken words are used here.
"""

from __future__ import annotations

import re
from pathlib import Path

from serkit.core.errors import CorpusLayoutError
from serkit.data.corpora import find_audio, register_corpus, require_dir
from serkit.data.utterance import Utterance

EMOTIONS = {
    "W": "angry",
    "L": "boredom",
    "E": "disgust",
    "A": "fearful",
    "F": "happy",
    "T": "sad",
    "N": "neutral",
}
GENDERS = {
    "03": "male",
    "08": "female",
    "09": "female",
    "10": "male",
    "11": "male",
    "12": "male",
    "13": "female",
    "14": "female",
    "15": "male",
    "16": "female",
}
SENTENCES = {
    "a01": "Der Lappen liegt auf dem Eisschrank.",
    "a02": "Das will sie am Mittwoch abgeben.",
    "a04": "Heute abend könnte ich es ihm sagen.",
    "a05": "Das schwarze Blatt Papier befindet sich da oben neben dem Holzstück.",
    "a07": "In sieben Stunden wird es soweit sein.",
    "b01": "Was sind denn das für Tüten, die da unter dem Tisch stehen?",
    "b02": "Sie haben es gerade hochgetragen und jetzt gehen sie wieder runter.",
    "b03": "An den Wochenenden bin ich jetzt immer nach Hause gefahren und habe Agnes besucht.",
    "b09": "Ich will das eben wegbringen und dann mit Karl was trinken gehen.",
    "b10": "Die wird auf dem Platz sein, wo wir sie immer hinlegen.",
}
_NAME = re.compile(r"^(\d\d)([ab]\d\d)([A-Z])([a-z])$")
_LAYOUT = "ROOT/**/SSTNNEV.wav (e.g. wav/03a01Fa.wav: speaker 03, text a01, emotion F, version a)"


def parse_name(stem: str, path: Path) -> dict[str, str]:
    """Fields of an EmoDB file stem; CorpusLayoutError if it does not follow the naming scheme."""
    match = _NAME.match(stem)
    if not match or match[1] not in GENDERS or match[2] not in SENTENCES or match[3] not in EMOTIONS:
        raise CorpusLayoutError(
            f"emodb: {path} does not follow the EmoDB naming scheme {_LAYOUT} with a known "
            f"speaker ({', '.join(GENDERS)}), text code ({', '.join(SENTENCES)}) and emotion "
            f"letter ({''.join(EMOTIONS)}); rename it back or move it out of the corpus folder."
        )
    speaker, text_code, emotion, version = match.groups()
    return {"speaker": speaker, "text_code": text_code, "emotion": emotion, "version": version}


@register_corpus("emodb")
def load_emodb(root: str | Path) -> list[Utterance]:
    """Load every EmoDB utterance found under ``root`` (the corpus has no subsets, so there are no options)."""
    base = require_dir(root, "emodb", _LAYOUT)
    utterances = []
    for path in find_audio(base):
        fields = parse_name(path.stem, path)
        utterances.append(
            Utterance(
                id=path.stem,
                path=str(path),
                speaker=fields["speaker"],
                emotion=EMOTIONS[fields["emotion"]],
                label=fields["emotion"],
                gender=GENDERS[fields["speaker"]],
                text=SENTENCES[fields["text_code"]],
                extra={"text_code": fields["text_code"], "version": fields["version"]},
            )
        )
    return utterances
