"""MELD loader: the real label CSVs (text only, read in place) and a fake tree with generated audio."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import pytest
from conftest import shared_corpus
from fake_trees import tree_state, write_bytes, write_silence

from serkit.core.errors import CorpusLayoutError
from serkit.data.corpora import load_corpus
from serkit.data.corpora.meld import decode_csv, load_meld

HEADER = (
    "Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,StartTime,EndTime\n"
)
# Per-split emotion counts of the real release (../shared/data/meld_text/README.md).
REAL_COUNTS = {
    "train": {
        "neutral": 4710,
        "joy": 1743,
        "surprise": 1205,
        "anger": 1109,
        "sadness": 683,
        "disgust": 271,
        "fear": 268,
    },
    "dev": {
        "neutral": 470,
        "joy": 163,
        "anger": 153,
        "surprise": 150,
        "sadness": 111,
        "fear": 40,
        "disgust": 22,
    },
    "test": {
        "neutral": 1256,
        "joy": 402,
        "anger": 345,
        "surprise": 281,
        "sadness": 208,
        "disgust": 68,
        "fear": 50,
    },
}


def _row(number: int, text: str, speaker: str, emotion: str, sentiment: str, dialogue: int, turn: int) -> str:
    times = '"00:00:01,000","00:00:02,500"'
    return f'{number},"{text}",{speaker},{emotion},{sentiment},{dialogue},{turn},1,2,{times}\n'


def build_meld(root: Path, csv_folder: str = ".") -> Path:
    """Three splits with invented lines; train has a Windows-1252 line among UTF-8 ones."""
    folder = root / csv_folder
    train = (
        HEADER
        + _row(1, "Hi, how’s it going?", "Alice", "neutral", "neutral", 0, 0)
        + _row(2, "Great!", "Bob", "joy", "positive", 0, 1)
        + _row(3, "Oh no.", "Alice", "sadness", "negative", 1, 0)
    ).encode("utf-8")
    train += _row(4, "Caf\xe9 again?", "Bob", "surprise", "positive", 1, 1).encode("cp1252")
    (folder).mkdir(parents=True, exist_ok=True)
    (folder / "train_sent_emo.csv").write_bytes(b"\xef\xbb\xbf" + train)
    write_bytes(
        folder / "dev_sent_emo.csv",
        HEADER
        + _row(1, "Stop it.", "Carol", "anger", "negative", 0, 0)
        + _row(2, "Ew.", "Dan", "disgust", "negative", 0, 1),
    )
    write_bytes(folder / "test_sent_emo.csv", HEADER + _row(1, "Watch out!", "Eve", "fear", "negative", 0, 0))
    return root


@pytest.fixture
def meld_root(tmp_path: Path) -> Path:
    root = build_meld(tmp_path / "MELD.Raw")
    for stem in ("dia0_utt0", "dia0_utt1", "dia1_utt0"):
        write_silence(root / "train_splits" / f"{stem}.wav")
    write_silence(root / "train_splits" / "dia1_utt1.WAV")  # upper-case suffix
    write_silence(root / "dev" / "dia0_utt0.flac")  # a split folder named after the split
    write_silence(root / "dev" / "dia0_utt1.wav")
    write_silence(root / "test" / "output_repeated_splits_test" / "dia0_utt0.wav")
    return root


def test_real_csvs_text_only(caplog):
    root = shared_corpus("meld_text") / "MELD"
    with caplog.at_level(logging.WARNING):
        utterances = load_meld(root, missing_audio="keep")
    assert "13708 utterance(s) have no audio file and were kept" in caplog.text
    for split, counts in REAL_COUNTS.items():
        rows = [u for u in utterances if u.extra["split"] == split]
        assert Counter(u.label for u in rows) == counts
    assert len({u.id for u in utterances}) == 9989 + 1109 + 2610
    first = next(u for u in utterances if u.id == "dev_dia0_utt0")
    assert first.speaker and first.text and first.path.endswith("dev_splits_complete/dia0_utt0.wav")
    assert Counter(u.emotion for u in utterances)["happy"] == 1743 + 163 + 402
    assert {u.extra["sentiment"] for u in utterances} == {"neutral", "positive", "negative"}
    text_only = load_corpus(
        "meld", root, options={"missing_audio": "keep", "splits": "test"}, durations=False
    )
    assert len(text_only) == 2610
    with pytest.raises(CorpusLayoutError, match="no audio"):
        load_meld(root)


def test_fake_tree_with_audio(meld_root: Path):
    before = tree_state(meld_root)
    utterances = load_corpus("meld", meld_root)
    assert tree_state(meld_root) == before
    by_id = {u.id: u for u in utterances}
    assert sorted(by_id) == [
        "dev_dia0_utt0",
        "dev_dia0_utt1",
        "test_dia0_utt0",
        "train_dia0_utt0",
        "train_dia0_utt1",
        "train_dia1_utt0",
        "train_dia1_utt1",
    ]
    assert by_id["train_dia1_utt1"].path.endswith("train_splits/dia1_utt1.WAV")
    assert by_id["dev_dia0_utt0"].path.endswith("dev/dia0_utt0.flac")
    assert by_id["test_dia0_utt0"].path.endswith("test/output_repeated_splits_test/dia0_utt0.wav")
    first = by_id["train_dia0_utt0"]
    assert (first.speaker, first.emotion, first.label, first.text) == (
        "Alice",
        "neutral",
        "neutral",
        "Hi, how’s it going?",
    )
    assert first.extra == {
        "split": "train",
        "sentiment": "neutral",
        "dialogue_id": "0",
        "utterance_id": "0",
        "season": "1",
        "episode": "2",
        "start_time": "00:00:01,000",
        "end_time": "00:00:02,500",
    }
    assert by_id["train_dia1_utt1"].text == "Café again?"  # the Windows-1252 line
    ids = (
        "train_dia0_utt1",
        "train_dia1_utt0",
        "train_dia1_utt1",
        "dev_dia0_utt0",
        "dev_dia0_utt1",
        "test_dia0_utt0",
    )
    assert [by_id[i].emotion for i in ids] == ["happy", "sad", "surprised", "angry", "disgust", "fearful"]
    assert all(u.duration == pytest.approx(0.05) for u in utterances)


def test_missing_audio_modes(meld_root: Path, caplog):
    (meld_root / "dev" / "dia0_utt1.wav").unlink()
    (meld_root / "dev" / "dia0_utt1.mp4").write_bytes(b"not really a video")
    with pytest.raises(CorpusLayoutError, match=r"1 utterance\(s\) \(dev/dia0_utt1\).*exist only as .mp4"):
        load_meld(meld_root)
    with caplog.at_level(logging.WARNING):
        skipped = load_meld(meld_root, missing_audio="skip")
    assert "dev_dia0_utt1" not in {u.id for u in skipped} and len(skipped) == 6
    assert "1 utterance(s) have no audio file and were left out" in caplog.text
    kept = {u.id: u for u in load_meld(meld_root, missing_audio="keep")}
    assert Path(kept["dev_dia0_utt1"].path) == meld_root / "dev" / "dia0_utt1.wav"


def test_audio_dir_and_csvs_in_data_folder(tmp_path: Path):
    root = build_meld(tmp_path / "meld", csv_folder="data/MELD")
    for split, stems in (
        ("train", ("dia0_utt0", "dia0_utt1", "dia1_utt0", "dia1_utt1")),
        ("dev", ("dia0_utt0", "dia0_utt1")),
        ("test", ("dia0_utt0",)),
    ):
        for stem in stems:
            write_silence(root / "wav16k" / split / f"{stem}.wav")
    utterances = load_meld(root, audio_dir="wav16k", splits=("dev", "test"))
    assert [u.id for u in utterances] == ["dev_dia0_utt0", "dev_dia0_utt1", "test_dia0_utt0"]
    assert all("/wav16k/" in u.path for u in utterances)
    with pytest.raises(CorpusLayoutError, match="audio_dir"):
        load_meld(root, audio_dir="nowhere")


def test_bad_inputs(meld_root: Path, tmp_path: Path):
    with pytest.raises(ValueError, match="splits"):
        load_meld(meld_root, splits=("valid",))
    with pytest.raises(ValueError, match="missing_audio"):
        load_meld(meld_root, missing_audio="ignore")
    with pytest.raises(CorpusLayoutError, match="no train_sent_emo.csv"):
        load_meld(tmp_path / "MELD.Raw" / "train_splits")
    dev = meld_root / "dev_sent_emo.csv"
    dev.write_text(dev.read_text().replace(",disgust,", ",disgusted,"))
    with pytest.raises(CorpusLayoutError, match=r"emotion 'disgusted'"):
        load_meld(meld_root)
    dev.write_text(HEADER.replace("Emotion,", "Feeling,") + _row(1, "x", "A", "joy", "positive", 0, 0))
    with pytest.raises(CorpusLayoutError, match=r"lacks column\(s\) \['Emotion'\]"):
        load_meld(meld_root)
    dev.write_text(
        HEADER + _row(1, "x", "A", "joy", "positive", 0, 0) + _row(2, "y", "B", "joy", "positive", 0, 0)
    )
    with pytest.raises(CorpusLayoutError, match="both dia0_utt0"):
        load_meld(meld_root)


def test_decode_csv_mixed_encodings():
    assert decode_csv("ok’\n".encode() + "caf\xe9\n".encode("cp1252")) == "ok’\ncafé\n"
    assert decode_csv(b"\xef\xbb\xbfa,b\n") == "a,b\n"
