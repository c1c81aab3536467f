"""SAVEE and TESS loaders on fake trees with the real layouts."""

from __future__ import annotations

import re

import pytest
from conftest import write_tone
from fake_trees import tree_state

from serkit.core.errors import CorpusLayoutError
from serkit.data.corpora import load_corpus
from serkit.data.corpora.savee import load_savee
from serkit.data.corpora.tess import load_tess

# ---------------------------------------------------------------- SAVEE

SAVEE_CODES = {
    "a01": "angry",
    "d02": "disgust",
    "f03": "fearful",
    "h04": "happy",
    "n30": "neutral",
    "sa05": "sad",
    "su15": "surprised",
}


def test_savee_release_layout(tmp_path):
    for code in SAVEE_CODES:
        write_tone(tmp_path / "AudioData" / "KL" / f"{code}.wav", seconds=0.01)
    (tmp_path / "AudioData" / "KL" / "Info.txt").write_text("not audio")
    utterances = {u.id: u for u in load_savee(tmp_path)}
    assert {utt_id: u.emotion for utt_id, u in utterances.items()} == {
        f"KL_{code}": emotion for code, emotion in SAVEE_CODES.items()
    }
    sad = utterances["KL_sa05"]
    assert (sad.speaker, sad.gender, sad.label, sad.text) == ("KL", "male", "sa", "")


def test_savee_flat_layout_gives_the_same_ids(tmp_path):
    write_tone(tmp_path / "ALL" / "DC_su01.wav", seconds=0.01)
    write_tone(tmp_path / "ALL" / "JE_n12.wav", seconds=0.01)
    assert [(u.id, u.speaker, u.emotion, u.label) for u in load_savee(tmp_path)] == [
        ("DC_su01", "DC", "surprised", "su"),
        ("JE_n12", "JE", "neutral", "n"),
    ]


def test_savee_both_layouts_at_once_are_refused(tmp_path):
    write_tone(tmp_path / "ALL" / "DC_a01.wav", seconds=0.01)
    write_tone(tmp_path / "AudioData" / "DC" / "a01.wav", seconds=0.01)
    with pytest.raises(CorpusLayoutError, match="both utterance DC_a01"):
        load_savee(tmp_path)


@pytest.mark.parametrize(
    "relative",
    [
        "AudioData/XY/a01.wav",
        "AudioData/DC/s01.wav",
        "AudioData/DC/sad01.wav",
        "AudioData/DC/a1.wav",
        "ALL/DC_x01.wav",
        "ALL/a01.wav",
    ],
)
def test_savee_name_off_the_scheme_is_named(tmp_path, relative):
    write_tone(tmp_path / "AudioData" / "DC" / "h01.wav", seconds=0.01)
    bad = write_tone(tmp_path / relative, seconds=0.01)
    with pytest.raises(CorpusLayoutError, match=re.escape(str(bad)) + ".*SAVEE layout"):
        load_savee(tmp_path)


# ---------------------------------------------------------------- TESS


def test_tess_names_and_text(tmp_path):
    write_tone(tmp_path / "OAF_angry" / "OAF_back_angry.wav", seconds=0.01)
    write_tone(tmp_path / "YAF_pleasant_surprised" / "YAF_bath_ps.wav", seconds=0.01)
    write_tone(tmp_path / "OAF_Fear" / "OAF_Bean_Fear.wav", seconds=0.01)  # case differs in some copies
    utterances = {u.id: u for u in load_tess(tmp_path)}
    assert sorted(utterances) == ["OAF_back_angry", "OAF_bean_fear", "YAF_bath_ps"]
    surprised = utterances["YAF_bath_ps"]
    assert (surprised.speaker, surprised.gender, surprised.emotion, surprised.label) == (
        "YAF",
        "female",
        "surprised",
        "ps",
    )
    assert surprised.text == "Say the word bath." and surprised.extra == {"word": "bath"}
    assert (utterances["OAF_bean_fear"].emotion, utterances["OAF_bean_fear"].text) == (
        "fearful",
        "Say the word bean.",
    )


def test_tess_two_copies_are_refused(tmp_path):
    write_tone(tmp_path / "TESS" / "OAF_angry" / "OAF_back_angry.wav", seconds=0.01)
    write_tone(tmp_path / "TESS" / "TESS" / "OAF_angry" / "OAF_back_angry.wav", seconds=0.01)
    with pytest.raises(CorpusLayoutError, match="two copies of the corpus"):
        load_tess(tmp_path)


@pytest.mark.parametrize("stem", ["MAF_back_angry", "OAF_back_surprised", "OAF_angry", "OAF_back_2_angry"])
def test_tess_name_off_the_scheme_is_named(tmp_path, stem):
    write_tone(tmp_path / "OAF_happy" / "OAF_back_happy.wav", seconds=0.01)
    bad = write_tone(tmp_path / "x" / f"{stem}.wav", seconds=0.01)
    with pytest.raises(CorpusLayoutError, match=re.escape(str(bad)) + ".*TESS naming scheme"):
        load_tess(tmp_path)


def test_savee_and_tess_leave_the_corpus_untouched(tmp_path):
    write_tone(tmp_path / "savee" / "AudioData" / "JK" / "su07.wav", seconds=0.01)
    write_tone(tmp_path / "tess" / "YAF_sad" / "YAF_youth_sad.wav", seconds=0.01)
    before = tree_state(tmp_path)
    assert [u.id for u in load_corpus("savee", tmp_path / "savee", content_hashes=True)] == ["JK_su07"]
    assert [u.id for u in load_corpus("tess", tmp_path / "tess", content_hashes=True)] == ["YAF_youth_sad"]
    assert tree_state(tmp_path) == before
