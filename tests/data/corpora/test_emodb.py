"""EmoDB loader: reproduces the shipped manifest of the real (2-s) copy; naming errors on fake trees."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from conftest import shared_corpus, write_tone

from serkit.cli import main
from serkit.core.errors import CorpusLayoutError
from serkit.data.corpora.emodb import SENTENCES, load_emodb


def read_rows(path: Path) -> dict[str, dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return {row["utt_id"]: row for row in csv.DictReader(handle)}


@pytest.mark.realdata
def test_prepare_reproduces_the_shipped_manifest(tmp_path):
    emodb = shared_corpus("emodb_trunc2s")
    output = tmp_path / "emodb.csv"
    assert main(["corpus", "prepare", "emodb", str(emodb), "-o", str(output), "--no-hash"]) == 0
    ours, expected = read_rows(output), read_rows(emodb / "manifest.csv")
    assert len(expected) == 535
    assert ours.keys() == expected.keys()
    for utt_id, want in expected.items():
        got = ours[utt_id]
        for column in ("speaker", "gender", "emotion", "text"):
            assert got[column] == want[column], (utt_id, column)
        assert (tmp_path / got["path"]).resolve() == (emodb / want["path"]).resolve(), utt_id
        assert float(got["duration_s"]) == pytest.approx(float(want["duration_s"]), abs=1e-3), utt_id
        assert got["label"] == utt_id[5] and got["text_code"] == utt_id[2:5]


@pytest.mark.realdata
def test_every_documented_sentence_occurs_in_the_real_corpus():
    emodb = shared_corpus("emodb_trunc2s")
    texts = {row["text"] for row in read_rows(emodb / "manifest.csv").values()}
    assert texts == set(SENTENCES.values())


def test_fake_tree(tmp_path):
    write_tone(tmp_path / "wav" / "03a01Wa.wav", seconds=0.01)
    write_tone(tmp_path / "wav" / "16b10Lb.wav", seconds=0.01)
    write_tone(tmp_path / "other" / "13a05Ec.flac", seconds=0.01)
    (tmp_path / "wav" / "erklaerung.txt").write_text("not audio")
    utterances = {u.id: u for u in load_emodb(tmp_path)}
    assert sorted(utterances) == ["03a01Wa", "13a05Ec", "16b10Lb"]
    assert [(u.speaker, u.gender, u.emotion, u.label) for _, u in sorted(utterances.items())] == [
        ("03", "male", "angry", "W"),
        ("13", "female", "disgust", "E"),
        ("16", "female", "boredom", "L"),
    ]
    assert utterances["13a05Ec"].text.startswith("Das schwarze Blatt Papier")
    assert utterances["16b10Lb"].extra == {"text_code": "b10", "version": "b"}
    assert utterances["03a01Wa"].duration is None  # the loader reads no audio


@pytest.mark.parametrize("stem", ["03a01Xa", "03a03Fa", "04a01Fa", "03a01F", "03-a01-F-a"])
def test_name_breaking_the_scheme_is_named(tmp_path, stem):
    write_tone(tmp_path / "03a01Fa.wav", seconds=0.01)
    bad = write_tone(tmp_path / f"{stem}.wav", seconds=0.01)
    with pytest.raises(CorpusLayoutError, match=re.escape(str(bad)) + ".*SSTNNEV"):
        load_emodb(tmp_path)
