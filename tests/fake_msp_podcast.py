"""A small fake MSP-Podcast release for end-to-end recipe tests: the real layout, tones whose pitch follows the
arousal rating, valence 4.0 everywhere (its CCC is undefined), Train / Development / Test1 / Test2."""

from __future__ import annotations

from pathlib import Path

from conftest import write_tone

SPLITS = ["Train"] * 12 + ["Development"] * 4 + ["Test1"] * 4 + ["Test2"] * 2


def fake_msp_podcast(root: Path, *, seconds: float) -> Path:
    """22 files of ``seconds`` (+ 0.05 s per file, so none is a duplicate) under ``root``."""
    rows = []
    for index, split in enumerate(SPLITS):
        name = f"MSP-PODCAST_{index // 2 + 1:04d}_{index % 2 + 1:04d}.wav"
        arousal = 1.0 + 6.0 * (index % 7) / 6
        tone = root / "Audios" / name
        write_tone(tone, seconds=seconds + 0.05 * index, frequency=120.0 + 40 * arousal + index)
        rows.append(f"{name},N,{arousal:.1f},4.0,{2 + index % 3}.0,{100 + index % 5},Female,{split}")
    labels = root / "Labels" / "labels_consensus.csv"
    labels.parent.mkdir(parents=True)
    labels.write_text(
        "FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set\n" + "\n".join(rows) + "\n"
    )
    return root
