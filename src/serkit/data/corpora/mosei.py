"""CMU-MOSEI (Zadeh et al. 2018): about 23,000 YouTube clips, sentiment -3..+3 and six emotion scores.

Expected layout: the same MMSA-style layout as CMU-MOSI (see :mod:`serkit.data.corpora.mosi`):
``ROOT/label.csv`` (or ``labels.csv``, or ``label_file``) with columns
``video_id, clip_id, text, label, annotation, mode``, and the audio of each clip at
``ROOT/Raw/<video_id>/<clip_id>.wav``, ``ROOT/Processed/audio/<video_id>/<clip_id>.wav`` or
``ROOT/Audio/WAV_16000/Segmented/<video_id>_<clip_id>.wav`` (``.flac`` too), or under ``audio_dir``.

MOSEI's emotion annotation is multi-label: each clip has a score from 0 to 3 for happy, sad, anger, surprise,
disgust and fear. When the label file has these six columns (all of them; an MMSA label file has none) they
are kept as extras with the same names, and ``emotion`` stays empty because no single class is defined;
recipes derive classes from the extras (the MAT/MNT loaders count an emotion as present when its score is
above 0). Other fields as in MOSI: ``label`` is the sentiment score as written, extras ``sentiment``,
``annotation``, ``split`` (train, valid, test), ``video_id``, ``clip_id``; ``speaker`` is the video id (MOSEI
ships no speaker list).
"""

from __future__ import annotations

from pathlib import Path

from serkit.data.corpora import register_corpus
from serkit.data.corpora.mosi import load_mmsa_layout
from serkit.data.utterance import Utterance

#: Per-emotion score columns of a MOSEI label file, in the order of the MMSDK label vector.
EMOTION_COLUMNS = ("happy", "sad", "anger", "surprise", "disgust", "fear")


@register_corpus("mosei")
def load_mosei(
    root: str | Path,
    *,
    label_file: str = "",
    audio_dir: str = "",
    splits: tuple[str, ...] = (),
    missing_audio: str = "error",
) -> list[Utterance]:
    """Load CMU-MOSEI clips with sentiment scores and, when present, the six emotion scores.

    Args:
        label_file: label CSV relative to ROOT (or absolute); empty looks for ``label.csv``, ``labels.csv``.
        audio_dir: folder (relative to ROOT, or absolute) with ``<video_id>/<clip_id>.wav`` or
            ``<video_id>_<clip_id>.wav``; empty searches the default places.
        splits: standard splits to keep (``train``, ``valid``, ``test``); empty keeps all.
        missing_audio: clips whose audio is not found: ``error``, ``skip`` (logged count) or ``keep``
            (expected path, for text-only use).
    """
    return load_mmsa_layout(
        root,
        corpus="mosei",
        label_file=label_file,
        audio_dir=audio_dir,
        splits=splits,
        missing_audio=missing_audio,
        emotion_columns=EMOTION_COLUMNS,
    )
