"""CREMA-D loader: the 7442 official file names give the expected utterances; demographics handling; naming errors."""

from __future__ import annotations

import csv
import io
import logging
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import shared_corpus

from serkit.cli import main
from serkit.core.errors import CorpusLayoutError
from serkit.data.corpora.crema_d import load_crema_d

DEMOGRAPHICS = (
    '"ActorID","Age","Sex","Race","Ethnicity"\n1001,51,"Male","Caucasian","Not Hispanic"\n'
    '1002,21,"Female","Caucasian","Not Hispanic"\n'
)


def tiny_wav_bytes(samples: int = 160) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, np.zeros(samples, dtype=np.float32), 16000, format="WAV")
    return buffer.getvalue()


def write_wav(path: Path, data: bytes | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data or tiny_wav_bytes())
    return path


@pytest.mark.realdata
def test_official_file_names_reproduce_expected_utterances(tmp_path):
    metadata = shared_corpus("crema_d_metadata")
    with open(metadata / "expected_utterances.csv", encoding="utf-8", newline="") as handle:
        expected = {row["utt_id"]: row for row in csv.DictReader(handle)}
    assert len(expected) == 7442
    wav = tiny_wav_bytes()
    (tmp_path / "AudioWAV").mkdir()
    for utt_id in expected:
        (tmp_path / "AudioWAV" / f"{utt_id}.wav").write_bytes(wav)
    shutil.copy(metadata / "VideoDemographics.csv", tmp_path / "VideoDemographics.csv")
    utterances = {u.id: u for u in load_crema_d(tmp_path)}  # the loader reads no audio: this stays fast
    assert utterances.keys() == expected.keys()
    for utt_id, want in expected.items():
        got = utterances[utt_id]
        assert (got.speaker, got.gender, got.emotion, got.text, got.extra["intensity"]) == (
            want["speaker"],
            want["gender"],
            want["emotion"],
            want["text"],
            want["intensity"],
        ), utt_id
        assert got.label == utt_id.split("_")[2]


def test_demographics_found_next_to_audio_and_mp3_copies_ignored(tmp_path):
    write_wav(tmp_path / "AudioWAV" / "1001_DFA_ANG_XX.wav")
    write_wav(tmp_path / "AudioWAV" / "1002_IEO_HAP_HI.wav")
    write_wav(tmp_path / "AudioMP3" / "1001_DFA_ANG_XX.mp3", b"mp3 copy of the same clip")
    (tmp_path / "VideoDemographics.csv").write_text(DEMOGRAPHICS, encoding="utf-8")
    utterances = load_crema_d(tmp_path)
    assert [
        (u.id, u.speaker, u.gender, u.emotion, u.extra["intensity"], u.extra["sentence"]) for u in utterances
    ] == [
        ("1001_DFA_ANG_XX", "1001", "male", "angry", "unspecified", "DFA"),
        ("1002_IEO_HAP_HI", "1002", "female", "happy", "high", "IEO"),
    ]
    assert utterances[1].text == "It's eleven o'clock."
    # ROOT may also be the AudioWAV folder itself; the demographics file is then found in its parent.
    assert [u.gender for u in load_crema_d(tmp_path / "AudioWAV")] == ["male", "female"]


def test_demographics_option_and_missing_file(tmp_path, caplog):
    write_wav(tmp_path / "corpus" / "AudioWAV" / "1002_TIE_SAD_XX.wav")
    write_wav(tmp_path / "corpus" / "AudioWAV" / "1003_TIE_NEU_XX.wav")
    with caplog.at_level(logging.WARNING):
        utterances = load_crema_d(tmp_path / "corpus")
    assert [u.gender for u in utterances] == ["", ""]
    assert "VideoDemographics.csv" in caplog.text and "demographics=" in caplog.text
    meta = tmp_path / "meta" / "demo.csv"
    meta.parent.mkdir()
    meta.write_text(DEMOGRAPHICS, encoding="utf-8")
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        utterances = load_crema_d(tmp_path / "corpus", demographics=str(meta))
    assert [u.gender for u in utterances] == ["female", ""]  # actor 1003 is not in the file
    assert "1003" in caplog.text
    with pytest.raises(CorpusLayoutError, match="nothere.csv does not exist"):
        load_crema_d(tmp_path / "corpus", demographics=str(tmp_path / "nothere.csv"))


def test_malformed_demographics_is_named(tmp_path):
    write_wav(tmp_path / "AudioWAV" / "1001_DFA_ANG_XX.wav")
    (tmp_path / "VideoDemographics.csv").write_text("Actor,Gender\n1001,Male\n", encoding="utf-8")
    with pytest.raises(CorpusLayoutError, match="VideoDemographics.csv lacks column.*ActorID"):
        load_crema_d(tmp_path)
    (tmp_path / "VideoDemographics.csv").write_text("ActorID,Sex\n1001,M\n", encoding="utf-8")
    with pytest.raises(CorpusLayoutError, match=r"VideoDemographics.csv:2: Sex 'M'"):
        load_crema_d(tmp_path)


@pytest.mark.parametrize(
    "stem", ["1001_DFA_ANG", "1001_XYZ_ANG_XX", "1001_DFA_JOY_XX", "1001_DFA_ANG_ZZ", "a_b_c_d"]
)
def test_name_breaking_the_scheme_is_named(tmp_path, stem):
    write_wav(tmp_path / "AudioWAV" / "1001_DFA_ANG_XX.wav")
    bad = write_wav(tmp_path / "AudioWAV" / f"{stem}.wav")
    with pytest.raises(
        CorpusLayoutError, match=re.escape(str(bad)) + ".*<actor>_<sentence>_<emotion>_<level>"
    ):
        load_crema_d(tmp_path)


def test_prepare_through_the_cli(tmp_path):
    write_wav(tmp_path / "cremad" / "AudioWAV" / "1001_ITS_FEA_XX.wav")
    (tmp_path / "cremad" / "VideoDemographics.csv").write_text(DEMOGRAPHICS, encoding="utf-8")
    output = tmp_path / "out" / "crema.csv"
    assert main(["corpus", "prepare", "crema_d", str(tmp_path / "cremad"), "-o", str(output)]) == 0
    with open(output, encoding="utf-8", newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    assert (row["utt_id"], row["gender"], row["emotion"], row["label"], row["intensity"]) == (
        "1001_ITS_FEA_XX",
        "male",
        "fearful",
        "FEA",
        "unspecified",
    )
    assert row["text"] == "I think I've seen this before." and float(row["duration_s"]) == pytest.approx(0.01)
