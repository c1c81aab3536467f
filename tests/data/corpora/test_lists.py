"""Generic list corpora: manifest, scp, dcnn_filelist, case_csv (ROOT is the list file)."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from conftest import write_tone

from serkit.cli import main
from serkit.core.errors import ManifestError
from serkit.data.corpora import load_corpus
from serkit.data.corpora.lists import (
    load_case_csv,
    load_dcnn_filelist,
    load_manifest,
    load_scp,
    parse_label_map,
)
from serkit.data.utterance import Utterance, write_manifest


def write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- manifest


def test_manifest_round_trip(tmp_path):
    audio = write_tone(tmp_path / "audio" / "a.wav", seconds=0.01)
    original = [
        Utterance(id="a", path=str(audio), speaker="s1", emotion="sad", label="T", extra={"split": "x"})
    ]
    manifest = write_manifest(original, tmp_path / "lists" / "m.csv")
    (loaded,) = load_manifest(manifest)
    assert (loaded.id, loaded.path, loaded.speaker, loaded.emotion, loaded.extra) == (
        "a",
        str(audio),
        "s1",
        "sad",
        {"split": "x"},
    )
    (filled,) = load_corpus("manifest", manifest)
    assert filled.duration == pytest.approx(0.01) and filled.corpus == "manifest"


def test_manifest_errors_are_manifest_errors(tmp_path):
    with pytest.raises(ManifestError, match="manifest not found"):
        load_manifest(tmp_path / "missing.csv")
    bad = write_text(tmp_path / "bad.csv", "utt_id,path,emotion\na,a.wav,joy\n")
    with pytest.raises(ManifestError, match=re.escape(f"{bad}:2") + ".*'joy' is not canonical"):
        load_manifest(bad)


# ---------------------------------------------------------------- scp


def test_scp_paths_labels_and_speakers(tmp_path):
    absolute = write_tone(tmp_path / "elsewhere" / "Ses01F_impro01_M013.wav", seconds=0.01)
    scp = write_text(
        tmp_path / "lists" / "session01_test.scp",
        (
            "Ses01F_impro01_F000 wav/Ses01F_impro01_F000.wav neu\n"
            "\n# a comment\n"
            f"Ses01F_impro01_M013.wav\t{absolute}   hap\n"
            "Ses05M_script01_1b_M011 ../up/x.wav angry\n"
        ),
    )
    utterances = load_scp(scp)
    assert [(u.id, u.speaker, u.session, u.gender, u.emotion, u.label) for u in utterances] == [
        ("Ses01F_impro01_F000", "Ses01F", "Ses01", "female", "neutral", "neu"),
        ("Ses01F_impro01_M013", "Ses01M", "Ses01", "male", "happy", "hap"),
        ("Ses05M_script01_1b_M011", "Ses05M", "Ses05", "male", "angry", "angry"),
    ]
    assert utterances[0].path == str(
        tmp_path / "lists" / "wav" / "Ses01F_impro01_F000.wav"
    )  # relative to the list
    assert utterances[1].path == str(absolute)
    assert Path(utterances[2].path).resolve() == (tmp_path / "up" / "x.wav").resolve()
    assert load_scp(scp, audio_root=str(tmp_path / "corpus"))[0].path == str(
        tmp_path / "corpus" / "wav" / "Ses01F_impro01_F000.wav"
    )


def test_scp_label_map_option_and_unknown_labels(tmp_path):
    scp = write_text(tmp_path / "x.scp", "Ses01F_impro01_F000 a.wav joy\n")
    with pytest.raises(ManifestError, match=re.escape(f"{scp}:1") + ".*unknown label 'joy'.*label_map="):
        load_scp(scp)
    (utt,) = load_scp(scp, label_map="joy=happy")
    assert (utt.emotion, utt.label) == ("happy", "joy")
    write_text(scp, "Ses01F_impro01_F000 a.wav xxx\n")
    assert load_scp(scp)[0].emotion == ""  # IEMOCAP 'no agreement' is unlabelled, not an error
    with pytest.raises(ValueError, match="joy='glad' is not a canonical emotion"):
        load_scp(scp, label_map="joy=glad")
    with pytest.raises(ValueError, match="not of the form key=value"):
        parse_label_map("joy")


@pytest.mark.parametrize("line", ["Ses01F_impro01_F000 a.wav", "Ses01F_impro01_F000 a b.wav neu", "onlyname"])
def test_scp_malformed_line_is_named(tmp_path, line):
    scp = write_text(tmp_path / "x.scp", f"Ses01F_impro01_F001 b.wav sad\n{line}\n")
    with pytest.raises(ManifestError, match=re.escape(f"{scp}:2") + r".*'<name> <path> <label>'"):
        load_scp(scp)


def test_scp_speaker_from(tmp_path):
    scp = write_text(tmp_path / "x.scp", "utt1 a.wav sad\n")
    with pytest.raises(ManifestError, match="cannot read a speaker from 'utt1'.*speaker_from=none"):
        load_scp(scp)
    (utt,) = load_scp(scp, speaker_from="none")
    assert (utt.id, utt.speaker, utt.session, utt.gender) == ("utt1", "", "", "")
    with pytest.raises(ValueError, match="speaker_from='name'; use one of iemocap, kemdy20, none"):
        load_scp(scp, speaker_from="name")


def test_scp_duplicate_names_and_missing_file(tmp_path):
    scp = write_text(tmp_path / "x.scp", "Ses01F_impro01_F000 a.wav sad\nSes01F_impro01_F000.wav b.wav sad\n")
    with pytest.raises(ManifestError, match=re.escape(f"{scp}:2") + ".*duplicate.*first on line 1"):
        load_scp(scp)
    with pytest.raises(ManifestError, match="ROOT must be that file"):
        load_scp(tmp_path)


def test_scp_through_the_cli_with_options(tmp_path):
    write_tone(tmp_path / "wav" / "u1.wav", seconds=0.01)
    write_text(tmp_path / "train.scp", "u1 wav/u1.wav joy\n")
    output = tmp_path / "m.csv"
    assert (
        main(
            [
                "corpus",
                "prepare",
                "scp",
                str(tmp_path / "train.scp"),
                "-o",
                str(output),
                "--opt",
                "label_map=joy=happy",
                "--opt",
                "speaker_from=none",
            ]
        )
        == 0
    )
    with open(output, encoding="utf-8", newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    assert (row["utt_id"], row["path"], row["emotion"], row["label"], row["corpus"]) == (
        "u1",
        "wav/u1.wav",
        "happy",
        "joy",
        "scp",
    )


# ---------------------------------------------------------------- dcnn_filelist


def test_dcnn_filelist(tmp_path):
    filelist = write_text(
        tmp_path / "filelists" / "esd" / "loso0011" / "esd_audio_sid_text_val_filelist.txt",
        (
            "dataset/esd/0011/Angry/0011_000351.wav|11|I keep it.|3|1\n"
            "dataset/jtes/wav/f01/joy/f01_joy_01.wav|0|None|1\n"
            "/abs/0012_000001.wav|12|Hello, world.|0|1\n"
        ),
    )
    utterances = load_dcnn_filelist(filelist, audio_root=str(tmp_path / "repo"))
    assert [(u.id, u.speaker, u.emotion, u.label, u.text, dict(u.extra)) for u in utterances] == [
        ("0011_000351", "11", "angry", "3", "I keep it.", {"language_id": "1"}),
        ("f01_joy_01", "0", "happy", "1", "", {}),
        ("0012_000001", "12", "neutral", "0", "Hello, world.", {"language_id": "1"}),
    ]
    assert utterances[0].path == str(
        tmp_path / "repo" / "dataset" / "esd" / "0011" / "Angry" / "0011_000351.wav"
    )
    assert utterances[2].path == "/abs/0012_000001.wav"
    assert load_dcnn_filelist(filelist)[0].path == str(
        filelist.parent / "dataset/esd/0011/Angry/0011_000351.wav"
    )


@pytest.mark.parametrize(
    "line, message",
    [
        ("a.wav|11|text", "3 field"),
        ("a.wav|11|text|3|1|extra", "6 field"),
        ("|11|text|3", "empty path/speaker"),
        ("a.wav||text|3", "empty path/speaker"),
        ("a.wav|11|text|5", "emotion id '5'"),
        ("a.wav|11|text|happy", "emotion id 'happy'"),
    ],
)
def test_dcnn_malformed_line_is_named(tmp_path, line, message):
    filelist = write_text(tmp_path / "list.txt", f"b.wav|11|ok|0\n{line}\n")
    with pytest.raises(
        ManifestError,
        match=re.escape(f"{filelist}:2: ") + ".*" + re.escape(message) + r".*<wavpath>\|<speaker_id>",
    ):
        load_dcnn_filelist(filelist)


def test_dcnn_duplicate_stems(tmp_path):
    filelist = write_text(tmp_path / "list.txt", "x/a.wav|1|t|0\ny/a.wav|2|t|1\n")
    with pytest.raises(ManifestError, match="duplicate utterance id 'a'"):
        load_dcnn_filelist(filelist)


# ---------------------------------------------------------------- case_csv


def test_case_csv(tmp_path):
    data = write_text(
        tmp_path / "data" / "train.csv",
        (
            ",audio,text,labels,session\n"  # pandas index column, as written by to_csv without index=False
            '0,wav/Session01/Sess01_script01_User002M_001.wav,"네, 그래요.",disqust,Sess01\n'
            "1,wav/Session01/Sess01_script01_User001F_002.wav,좋아요,happy;neutral,Sess01\n"
            "2,wav/Session40/Sess40_impro03_User080F_010.wav,무서워,fear,\n"
        ),
    )
    utterances = load_case_csv(data)
    assert [(u.id, u.speaker, u.session, u.gender, u.emotion, u.label, u.text) for u in utterances] == [
        ("Sess01_script01_User002M_001", "User002M", "Sess01", "male", "disgust", "disqust", "네, 그래요."),
        ("Sess01_script01_User001F_002", "User001F", "Sess01", "female", "", "happy;neutral", "좋아요"),
        ("Sess40_impro03_User080F_010", "User080F", "Sess40", "female", "fearful", "fear", "무서워"),
    ]
    assert utterances[0].path == str(
        tmp_path / "data" / "wav" / "Session01" / "Sess01_script01_User002M_001.wav"
    )
    assert load_case_csv(data, audio_root=str(tmp_path / "kemdy20"))[0].path.startswith(
        str(tmp_path / "kemdy20")
    )


def test_case_csv_errors(tmp_path):
    header = "audio,text,labels,session\n"
    good = "wav/Session01/Sess01_script01_User002M_001.wav,hi,sad,Sess01\n"
    cases = {
        "audio,text,label,session\n" + good: "lacks column(s) ['labels']",
        header
        + good
        + "wav/Session01/Sess01_script01_User002M_002.wav,hi,joy,Sess01\n": "unknown label(s) ['joy']",
        header
        + good
        + "wav/Session01/Sess01_script01_User002M_003.wav,hi,sad\n": "different number of fields",
        header
        + good
        + "wav/Session01/Sess01_script01_User002M_004.wav,a,b,sad,Sess01\n": "different number of fields",
        header + good + ",hi,sad,Sess01\n": "empty audio path",
        header + good + "wav/x/speaker7.wav,hi,sad,Sess01\n": "cannot read a speaker from 'speaker7'",
        header + good + good: "duplicate utterance id",
    }
    for content, message in cases.items():
        data = write_text(tmp_path / "data.csv", content)
        with pytest.raises(ManifestError, match=re.escape(str(data)) + ".*" + re.escape(message)):
            load_case_csv(data)
    data = write_text(tmp_path / "data.csv", header + "wav/x/speaker7.wav,hi,sad,Sess01\n")
    assert load_case_csv(data, speaker_from="none")[0].session == "Sess01"
