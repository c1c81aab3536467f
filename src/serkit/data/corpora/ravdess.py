"""RAVDESS (Livingstone & Russo 2018): 24 actors, 8 emotions, speech and song, two intensities.

Expected layout: any folder tree under ROOT holding the audio-only files with their original names,
``MM-VV-EE-II-SS-RR-AA.<wav|flac>`` — e.g. the distribution's ``Audio_Speech_Actors_01-24/Actor_01/03-01-05-01-02-01-01.wav``
or a flat ``audio/`` folder. Fields: modality (03 audio-only), vocal channel (01 speech, 02 song), emotion
(01 neutral, 02 calm, 03 happy, 04 sad, 05 angry, 06 fearful, 07 disgust, 08 surprised), intensity (01 normal,
02 strong), statement (01 "Kids are talking by the door.", 02 "Dogs are sitting by the door."), repetition (01/02),
actor (01-24; odd = male, even = female). Files of other modalities (video) are ignored.

Known anomaly: 03-01-03-01-02-01-07 and 03-01-03-01-02-02-07 are byte-identical; protocols keep them together.
"""

from __future__ import annotations

import re
from pathlib import Path

from serkit.core.errors import CorpusLayoutError
from serkit.data.corpora import find_audio, register_corpus, require_dir
from serkit.data.utterance import Utterance

EMOTIONS = {
    "01": "neutral",
    "02": "calm",
    "03": "happy",
    "04": "sad",
    "05": "angry",
    "06": "fearful",
    "07": "disgust",
    "08": "surprised",
}
STATEMENTS = {"01": "Kids are talking by the door.", "02": "Dogs are sitting by the door."}
VOCAL_CHANNELS = {"01": "speech", "02": "song"}
INTENSITIES = {"01": "normal", "02": "strong"}
_NAME = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")
_LAYOUT = "ROOT/**/MM-VV-EE-II-SS-RR-AA.wav (e.g. Actor_01/03-01-05-01-02-01-01.wav), flat or per actor"


def parse_name(stem: str, path: Path) -> dict[str, str]:
    """Fields of a RAVDESS file stem; CorpusLayoutError if it does not follow the naming scheme."""
    match = _NAME.match(stem)
    if (
        not match
        or match[3] not in EMOTIONS
        or match[5] not in STATEMENTS
        or match[2] not in VOCAL_CHANNELS
        or match[4] not in INTENSITIES
    ):
        raise CorpusLayoutError(
            f"ravdess: {path} does not follow the RAVDESS naming scheme {_LAYOUT}; "
            "rename it back or move it out of the corpus folder."
        )
    modality, channel, emotion, intensity, statement, repetition, actor = match.groups()
    return {
        "modality": modality,
        "vocal_channel": VOCAL_CHANNELS[channel],
        "emotion": emotion,
        "intensity": INTENSITIES[intensity],
        "statement": statement,
        "repetition": repetition,
        "actor": actor,
    }


@register_corpus("ravdess")
def load_ravdess(
    root: str | Path, *, vocal_channel: str = "speech", intensity: str = "all"
) -> list[Utterance]:
    """Load RAVDESS audio-only files.

    Args:
        vocal_channel: ``speech``, ``song`` or ``all``.
        intensity: ``normal``, ``strong`` or ``all`` (the DCNN protocol uses ``normal`` only).
    """
    for option, value, allowed in (
        ("vocal_channel", vocal_channel, ("speech", "song", "all")),
        ("intensity", intensity, ("normal", "strong", "all")),
    ):
        if value not in allowed:
            raise ValueError(f"ravdess: {option}={value!r}; use one of {', '.join(allowed)}.")
    base = require_dir(root, "ravdess", _LAYOUT)
    utterances = []
    for path in find_audio(base):
        fields = parse_name(path.stem, path)
        if fields["modality"] != "03":
            continue
        if vocal_channel != "all" and fields["vocal_channel"] != vocal_channel:
            continue
        if intensity != "all" and fields["intensity"] != intensity:
            continue
        actor = int(fields["actor"])
        utterances.append(
            Utterance(
                id=path.stem,
                path=str(path),
                speaker=f"Actor_{actor:02d}",
                emotion=EMOTIONS[fields["emotion"]],
                label=fields["emotion"],
                gender="male" if actor % 2 else "female",
                text=STATEMENTS[fields["statement"]],
                extra={
                    "intensity": fields["intensity"],
                    "vocal_channel": fields["vocal_channel"],
                    "statement": fields["statement"],
                    "repetition": fields["repetition"],
                },
            )
        )
    return utterances
