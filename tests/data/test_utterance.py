from __future__ import annotations

from pathlib import Path

import pytest

from serkit.core.errors import ManifestError
from serkit.data.labels import LabelSet, apply_label_set, get_label_set, parse_label_set
from serkit.data.utterance import Utterance, read_manifest, write_manifest


def _utts(root: Path) -> list[Utterance]:
    return [
        Utterance(
            id="a",
            path=str(root / "audio" / "a.wav"),
            speaker="s1",
            emotion="excited",
            label="exc",
            session="Ses01",
            gender="female",
            text='She said, "hi"',
            duration=1.5,
            extra={"subset": "impro"},
        ),
        Utterance(
            id="b",
            path=str(root / "audio" / "b.wav"),
            speaker="s2",
            emotion="happy",
            label="hap",
            gender="male",
            extra={"intensity": "strong"},
        ),
        Utterance(id="c", path=str(root / "audio" / "c.wav"), speaker="s2", emotion="", label="xxx"),
    ]


def test_manifest_round_trip_relative_paths(tmp_path: Path):
    utterances = _utts(tmp_path)
    manifest = write_manifest(utterances, tmp_path / "lists" / "m.csv")
    text = manifest.read_text(encoding="utf-8")
    assert "../audio/a.wav" in text and str(tmp_path) not in text
    back = read_manifest(manifest)
    assert [u.id for u in back] == ["a", "b", "c"]
    assert back[0].path == str(tmp_path / "audio" / "a.wav")
    assert back[0].text == 'She said, "hi"' and back[0].duration == 1.5
    # extras from different rows become columns; missing values come back empty
    assert back[0].extra == {"subset": "impro", "intensity": ""}
    assert back[1].extra["intensity"] == "strong"
    assert back[2].emotion == "" and back[2].duration is None


def test_manifest_write_is_atomic_no_temp_left(tmp_path: Path):
    write_manifest(_utts(tmp_path), tmp_path / "m.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.csv"]


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "file is empty"),
        ("id,file\nx,y\n", "lacks required column"),
        ("utt_id,path,emotion\na,a.wav,happy\nb,b.wav\n", r"m.csv:3: row has 2 field"),
        ("utt_id,path\na,a.wav\na,b.wav\n", "duplicate utt_id 'a'"),
        ("utt_id,path,emotion\na,a.wav,joy\n", "emotion 'joy' is not canonical"),
        ("utt_id,path,duration_s\na,a.wav,long\n", "not a number"),
        ("utt_id,path\n,a.wav\n", "empty utt_id or path"),
    ],
)
def test_malformed_manifest_names_file_and_line(tmp_path: Path, content: str, message: str):
    path = tmp_path / "m.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ManifestError, match=message):
        read_manifest(path)


def test_missing_manifest_says_how_to_make_one(tmp_path: Path):
    with pytest.raises(ManifestError, match="serkit corpus prepare"):
        read_manifest(tmp_path / "nope.csv")


def test_utterance_rejects_non_canonical_emotion_and_gender():
    with pytest.raises(ValueError, match="not canonical"):
        Utterance(id="x", path="x.wav", emotion="anger")
    with pytest.raises(ValueError, match="gender"):
        Utterance(id="x", path="x.wav", gender="m")


def test_label_sets_merge_drop_and_order():
    utterances = _utts(Path("/r"))
    glam = get_label_set("iemocap_glam")
    kept, left_out = apply_label_set(utterances, glam)
    # GLAM: excited becomes happy, the original happy is dropped, unlabelled is dropped
    assert [(u.id, u.emotion) for u in kept] == [("a", "happy")]
    assert left_out == {"happy": 1, "(unlabelled)": 1}
    assert glam.labels == ("neutral", "sad", "angry", "happy")
    four = get_label_set("iemocap_4class")
    kept, _ = apply_label_set(utterances, four)
    assert [(u.id, u.emotion) for u in kept] == [("a", "happy"), ("b", "happy")]


def test_parse_label_set_list_name_and_typos():
    custom = parse_label_set("neutral,angry", {"frustrated": "angry"})
    assert custom == LabelSet(("neutral", "angry"), {"frustrated": "angry"})
    assert parse_label_set("iemocap_4class").merge == {"excited": "happy"}
    with pytest.raises(KeyError, match="iemocap_4class"):
        parse_label_set("iemocap_4clas")
    with pytest.raises(ValueError, match="not a canonical emotion"):
        parse_label_set("neutral,joy")
