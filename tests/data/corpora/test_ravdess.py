"""RAVDESS loader: reproduces the shipped manifest of the real corpus; options; naming errors; fake trees."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from conftest import shared_corpus, write_tone

from serkit.cli import main
from serkit.core.errors import CorpusLayoutError
from serkit.data.corpora import load_corpus
from serkit.data.corpora.ravdess import load_ravdess


def read_rows(path: Path) -> dict[str, dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return {row["utt_id"]: row for row in csv.DictReader(handle)}


@pytest.mark.realdata
def test_prepare_reproduces_the_shipped_manifest(tmp_path):
    ravdess = shared_corpus("ravdess")
    output = tmp_path / "ravdess.csv"
    assert main(["corpus", "prepare", "ravdess", str(ravdess), "-o", str(output)]) == 0
    ours, expected = read_rows(output), read_rows(ravdess / "manifest.csv")
    assert len(expected) == 1440
    assert ours.keys() == expected.keys()
    for utt_id, want in expected.items():
        got = ours[utt_id]
        for column in ("speaker", "gender", "emotion", "text"):
            assert got[column] == want[column], (utt_id, column)
        assert (tmp_path / got["path"]).resolve() == (ravdess / want["path"]).resolve(), utt_id
        assert float(got["duration_s"]) == pytest.approx(float(want["duration_s"]), abs=1e-3), utt_id
    # The byte-identical pair documented in the corpus README gets the same content hash.
    assert ours["03-01-03-01-02-01-07"]["content_hash"] == ours["03-01-03-01-02-02-07"]["content_hash"]
    assert ours["03-01-03-01-02-01-07"]["content_hash"] != ours["03-01-03-01-02-01-08"]["content_hash"]


@pytest.mark.realdata
def test_intensity_option_on_the_real_corpus():
    ravdess = shared_corpus("ravdess")
    normal = load_ravdess(ravdess, intensity="normal")
    strong = load_ravdess(ravdess, intensity="strong")
    # Strong: 7 emotions (neutral has no strong take) x 2 statements x 2 repetitions x 24 actors.
    assert len(strong) == 7 * 2 * 2 * 24 == 672
    assert len(normal) == 1440 - 672 == 768
    assert {u.extra["intensity"] for u in normal} == {"normal"}
    assert "neutral" not in {u.emotion for u in strong}
    assert load_ravdess(ravdess, vocal_channel="song") == []  # the speech-only copy has no song files


def test_bad_option_value_names_the_allowed_values(tmp_path):
    with pytest.raises(ValueError, match="intensity='loud'.*normal, strong, all"):
        load_ravdess(tmp_path, intensity="loud")


def test_name_breaking_the_scheme_is_named(tmp_path):
    write_tone(tmp_path / "Actor_01" / "03-01-05-01-02-01-01.wav", seconds=0.01)
    bad = write_tone(
        tmp_path / "Actor_01" / "03-01-09-01-02-01-01.wav", seconds=0.01
    )  # emotion 09 does not exist
    with pytest.raises(CorpusLayoutError, match=re.escape(str(bad)) + ".*MM-VV-EE-II-SS-RR-AA"):
        load_ravdess(tmp_path)


def test_missing_root_is_a_layout_error(tmp_path):
    with pytest.raises(CorpusLayoutError, match="not a folder"):
        load_ravdess(tmp_path / "nope")


def test_fake_actor_tree_ignores_video_and_other_modalities(tmp_path):
    write_tone(tmp_path / "Actor_01" / "03-01-05-01-02-01-01.wav", seconds=0.01)
    write_tone(tmp_path / "Actor_02" / "03-01-01-01-01-02-02.wav", seconds=0.01)
    write_tone(tmp_path / "Actor_02" / "03-02-03-02-01-01-02.wav", seconds=0.01)  # song
    write_tone(
        tmp_path / "Actor_01" / "01-01-05-01-02-01-01.wav", seconds=0.01
    )  # audio track of an audio-video file
    (tmp_path / "Actor_01" / "01-01-05-01-02-01-01.mp4").write_bytes(
        b"not audio"
    )  # video: not an audio extension
    utterances = {u.id: u for u in load_corpus("ravdess", tmp_path, content_hashes=True)}
    assert sorted(utterances) == ["03-01-01-01-01-02-02", "03-01-05-01-02-01-01"]
    angry = utterances["03-01-05-01-02-01-01"]
    assert (angry.speaker, angry.gender, angry.emotion, angry.label) == ("Actor_01", "male", "angry", "05")
    assert angry.text == "Dogs are sitting by the door."
    assert angry.duration == pytest.approx(0.01)
    assert angry.corpus == "ravdess" and len(angry.content_hash) == 40
    neutral = utterances["03-01-01-01-01-02-02"]
    assert (neutral.speaker, neutral.gender, neutral.text) == (
        "Actor_02",
        "female",
        "Kids are talking by the door.",
    )
    assert neutral.extra["repetition"] == "02"
    song = load_ravdess(tmp_path, vocal_channel="song")
    assert [(u.id, u.emotion, u.extra["intensity"]) for u in song] == [
        ("03-02-03-02-01-01-02", "happy", "strong")
    ]
