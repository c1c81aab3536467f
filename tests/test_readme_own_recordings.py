"""The README's "Train on your own recordings" commands, run as written on a folder of generated labelled files.

The commands are read from the README itself, so the section and the code cannot drift apart: a new user who
follows it reaches a report and a prediction with no error round-trip.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from serkit.cli import main

REPO = Path(__file__).resolve().parents[1]
RATE = 16000


def _readme_commands() -> list[list[str]]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Train on your own recordings", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S)[1]
    commands = [
        shlex.split(line.split("#", 1)[0]) for line in block.splitlines() if line.split("#", 1)[0].strip()
    ]
    assert 1 <= len(commands) <= 3, "the section promises at most three commands"
    return commands


def _recordings(root: Path, speakers: int) -> None:
    """<emotion>/<speaker>_<n>.wav: each emotion its own pitch and loudness, each speaker a pitch offset."""
    rng = np.random.default_rng(0)
    t = np.arange(int(1.2 * RATE)) / RATE
    for e, (emotion, pitch, level) in enumerate(
        [("neutral", 130, 0.1), ("happy", 250, 0.25), ("sad", 100, 0.05), ("angry", 200, 0.4)]
    ):
        for s in range(speakers):
            for n in range(3):
                f0 = pitch * (1 + 0.04 * s) * (1 + 0.1 * np.sin(2 * np.pi * (1 + e) * t))
                wave = level * np.sin(2 * np.pi * np.cumsum(f0) / RATE) + 0.005 * rng.normal(size=t.size)
                path = root / emotion / f"spk{s}_{n}.wav"
                path.parent.mkdir(parents=True, exist_ok=True)
                sf.write(path, wave.astype(np.float32), RATE)


@pytest.mark.slow
def test_readme_section_reaches_a_report_and_a_prediction(tmp_path, monkeypatch, capsys):
    pytest.importorskip("opensmile", reason="the README's recipe uses eGeMAPS from the opensmile package")
    monkeypatch.chdir(tmp_path)
    _recordings(tmp_path / "my_recordings", speakers=4)
    _recordings(tmp_path / "new", speakers=1)
    (tmp_path / "new" / "angry" / "spk0_0.wav").rename(tmp_path / "new_recording.wav")
    outputs = []
    for argv in _readme_commands():
        assert argv[0] == "serkit"
        argv = [str(REPO / a) if a.startswith("recipes/") else a for a in argv[1:]]
        code = main(argv)
        captured = capsys.readouterr()
        assert code == 0, (argv, captured.err)
        outputs.append(captured)
    prepare, train, predict = outputs
    assert "leave_one_speaker_out" in prepare.out and "4 speakers" in prepare.out
    assert "only 4 speakers" in prepare.err  # fewer than 5 speakers: warned
    assert "UA" in train.out and "leave_one_speaker_out" in train.out
    assert "only 4 speakers" in train.out  # the warning is in the report too
    header, row = predict.out.strip().splitlines()[:2]
    assert "new_recording.wav" in row and row.split("\t")[header.split("\t").index("label")] in (
        "neutral",
        "happy",
        "sad",
        "angry",
    )
