"""CMU-MOSI and CMU-MOSEI loaders on fake MMSA-style trees (label.csv + per-clip audio)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fake_trees import tree_state, write_bytes, write_silence

from serkit.core.errors import CorpusLayoutError
from serkit.data.corpora import load_corpus
from serkit.data.corpora.mosei import load_mosei
from serkit.data.corpora.mosi import load_mosi

MMSA_HEADER = "video_id,clip_id,text,label,label_T,label_A,label_V,annotation,mode\n"
EMOTION_HEADER = "video_id,clip_id,text,label,annotation,mode,happy,sad,anger,surprise,disgust,fear\n"


def build_mosi(root: Path) -> Path:
    """Four clips of two videos, audio in each of the three default places, one text only in a transcript."""
    write_bytes(
        root / "label.csv",
        "\ufeff"
        + MMSA_HEADER
        + "vidA,1,an invented opinion,2.4,,,,Positive,train\n"
        + 'vidA,2,"so, not great",-1.0,,,,Negative,valid\n'
        + "vidB,1,just a fact,0.0,,,,Neutral,test\n"
        + "vidB,2,,-0.6,,,,Negative,train\n",
    )
    write_silence(root / "Raw" / "vidA" / "1.wav")
    write_silence(root / "Processed" / "audio" / "vidA" / "2.flac")
    write_silence(root / "Audio" / "WAV_16000" / "Segmented" / "vidB_1.WAV")
    write_silence(root / "Raw" / "vidB" / "2.wav")
    write_bytes(
        root / "Transcript" / "Segmented" / "vidB.annotprocessed",
        "1_DELIM_just a fact\n2_DELIM_from the transcript file\n",
    )
    return root


@pytest.fixture
def mosi_root(tmp_path: Path) -> Path:
    return build_mosi(tmp_path / "MOSI")


def test_mosi_records_and_audio_places(mosi_root: Path):
    before = tree_state(mosi_root)
    utterances = load_corpus("mosi", mosi_root)
    assert tree_state(mosi_root) == before
    by_id = {u.id: u for u in utterances}
    assert sorted(by_id) == ["vidA_1", "vidA_2", "vidB_1", "vidB_2"]
    assert by_id["vidA_1"].path.endswith("Raw/vidA/1.wav")
    assert by_id["vidA_2"].path.endswith("Processed/audio/vidA/2.flac")
    assert by_id["vidB_1"].path.endswith("Audio/WAV_16000/Segmented/vidB_1.WAV")
    clip = by_id["vidA_2"]
    assert (clip.speaker, clip.emotion, clip.label, clip.text) == ("vidA", "", "-1.0", "so, not great")
    assert clip.extra == {
        "sentiment": "-1.0",
        "annotation": "Negative",
        "split": "valid",
        "video_id": "vidA",
        "clip_id": "2",
    }
    assert by_id["vidB_2"].text == "from the transcript file"
    assert all(u.corpus == "mosi" and u.duration == pytest.approx(0.05) for u in utterances)


def test_mosi_splits_and_missing_audio(mosi_root: Path, caplog):
    assert [u.id for u in load_mosi(mosi_root, splits=("train",))] == ["vidA_1", "vidB_2"]
    assert [u.id for u in load_mosi(mosi_root, splits=("val", "test"))] == ["vidA_2", "vidB_1"]
    (mosi_root / "Raw" / "vidB" / "2.wav").unlink()
    with pytest.raises(CorpusLayoutError, match=r"no audio for 1 clip\(s\) .*\(vidB_2\)"):
        load_mosi(mosi_root)
    with caplog.at_level(logging.WARNING):
        assert len(load_mosi(mosi_root, missing_audio="skip")) == 3
    assert "have no audio file and were left out" in caplog.text
    kept = {u.id: u for u in load_mosi(mosi_root, missing_audio="keep")}
    assert Path(kept["vidB_2"].path) == mosi_root / "Raw" / "vidB" / "2.wav"
    with pytest.raises(ValueError, match="splits"):
        load_mosi(mosi_root, splits=("holdout",))


def test_label_file_and_audio_dir_options(tmp_path: Path):
    root = tmp_path / "mosi"
    write_bytes(
        root / "meta" / "my_labels.csv",
        MMSA_HEADER + "v1,3,text,1.2,,,,Positive,train\n" + "v2,1,text,0.4,,,,Positive,test\n",
    )
    write_silence(root / "wav" / "v1" / "3.wav")
    write_silence(root / "wav" / "v2_1.wav")
    utterances = load_mosi(root, label_file="meta/my_labels.csv", audio_dir="wav")
    assert [Path(u.path).relative_to(root).as_posix() for u in utterances] == ["wav/v1/3.wav", "wav/v2_1.wav"]
    with pytest.raises(CorpusLayoutError, match="no label.csv or labels.csv"):
        load_mosi(root)
    with pytest.raises(CorpusLayoutError, match="label_file"):
        load_mosi(root, label_file="missing.csv")


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("vidA,3,x,high,,,,Positive,train\n", "label 'high' is not a number"),
        ("vidA,3,x,nan,,,,Positive,train\n", "label 'nan' is not a number"),
        ("vidA,3,x,1.0,,,,Positive,holdout\n", "mode among"),
        ("vidA,1,x,1.0,,,,Positive,train\n", "listed twice"),
    ],
)
def test_mosi_rejects_rows_that_would_mislabel(mosi_root: Path, row: str, message: str):
    with open(mosi_root / "label.csv", "a", encoding="utf-8") as handle:
        handle.write(row)
    with pytest.raises(CorpusLayoutError, match=message):
        load_mosi(mosi_root)


def test_mosi_missing_column(tmp_path: Path):
    write_bytes(tmp_path / "label.csv", "video_id,clip_id,text,label\nv,1,x,1.0\n")
    with pytest.raises(CorpusLayoutError, match=r"lacks column\(s\) \['mode'\]"):
        load_mosi(tmp_path)


def test_mosei_emotion_scores(tmp_path: Path):
    root = tmp_path / "MOSEI"
    write_bytes(
        root / "label.csv",
        EMOTION_HEADER
        + "-3g5yACwYnA,10,invented,0.6667,Positive,train,1.0,0.0,0.0,0.3333,0.0,0.0\n"
        + "-3g5yACwYnA,11,invented,-1.0,Negative,test,0.0,1.6667,0.6667,0.0,0.0,0.0\n",
    )
    write_silence(root / "Raw" / "-3g5yACwYnA" / "10.wav")
    write_silence(root / "Raw" / "-3g5yACwYnA" / "11.wav")
    utterances = load_mosei(root)
    assert [u.id for u in utterances] == ["-3g5yACwYnA_10", "-3g5yACwYnA_11"]
    second = utterances[1]
    assert second.emotion == "" and second.extra["split"] == "test" and second.extra["sentiment"] == "-1.0"
    assert {k: second.extra[k] for k in ("happy", "sad", "anger", "surprise", "disgust", "fear")} == {
        "happy": "0.0",
        "sad": "1.6667",
        "anger": "0.6667",
        "surprise": "0.0",
        "disgust": "0.0",
        "fear": "0.0",
    }
    assert "happy" not in load_mosi(root)[0].extra  # MOSI ignores emotion columns


def test_mosei_without_emotions_and_with_partial_emotions(tmp_path: Path, mosi_root: Path):
    # An MMSA label file has no emotion columns.
    assert all("happy" not in u.extra for u in load_mosei(mosi_root))
    write_bytes(
        tmp_path / "label.csv", "video_id,clip_id,text,label,mode,happy,sad\nv,1,x,1.0,train,1.0,0.0\n"
    )
    with pytest.raises(CorpusLayoutError, match="emotion columns come all or none"):
        load_mosei(tmp_path)
