"""MSP-Podcast loader on a fake release tree: labels_consensus.csv, generated wavs, optional transcripts."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from fake_trees import tree_state, write_bytes, write_silence

from serkit.core.errors import CorpusLayoutError
from serkit.data.corpora import load_corpus
from serkit.data.corpora.msp_podcast import load_msp_podcast
from serkit.data.dimensions import dimension_matrix, dimension_scale
from serkit.data.protocols import make_folds

HEADER = "FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set\n"
# file -> (EmoClass, EmoAct, EmoVal, EmoDom, SpkrID, Gender, Split_Set); the content is invented
ROWS = {
    "MSP-PODCAST_0001_0008.wav": ("A", "6.2", "2.0", "5.8", "127", "Male", "Train"),
    "MSP-PODCAST_0001_0011.wav": ("N", "4.0", "4.0", "4.0", "127", "Male", "Train"),
    "MSP-PODCAST_0002_0003.wav": ("H", "5.0", "6.4", "4.6", "Unknown", "Unknown", "Train"),
    "MSP-PODCAST_0002_0004.wav": ("X", "3.6", "3.8", "3.0", "Unknown", "Female", "Train"),
    "MSP-PODCAST_0003_0001.wav": ("S", "2.0", "2.2", "2.6", "310", "Female", "Development"),
    "MSP-PODCAST_0004_0001.wav": ("C", "4.2", "2.8", "5.0", "455", "Male", "Test1"),
    "MSP-PODCAST_0005_0001.wav": ("U", "5.4", "4.4", "4.0", "Unknown", "Female", "Test1"),
    "MSP-PODCAST_0006_0001.wav": ("F", "5.0", "2.0", "2.2", "512", "Female", "Test2"),
    "MSP-PODCAST_0007_0001.wav": ("", "", "", "", "Unknown", "Unknown", "Test3"),
}


def build_msp_podcast(
    root: Path, rows: dict[str, tuple[str, ...]] = ROWS, label_file: str = "labels_consensus.csv"
) -> Path:
    lines = [HEADER] + [f"{name},{','.join(values)}\n" for name, values in rows.items()]
    write_bytes(root / "Labels" / label_file, "".join(lines))
    for name in rows:
        write_silence(root / "Audios" / name)
    write_bytes(root / "Transcripts" / "MSP-PODCAST_0001_0008.txt", "I told you   twice\n")
    return root


@pytest.fixture
def msp_root(tmp_path: Path) -> Path:
    return build_msp_podcast(tmp_path / "MSP-PODCAST")


def test_records_fields_split_and_transcripts(msp_root: Path):
    before = tree_state(msp_root)
    utterances = load_corpus("msp_podcast", msp_root)
    assert tree_state(msp_root) == before
    by_id = {u.id: u for u in utterances}
    # Test2 and Test3 are left out with the default test_set=Test1
    assert sorted(by_id) == sorted(Path(n).stem for n, v in ROWS.items() if v[-1] not in ("Test2", "Test3"))
    first = by_id["MSP-PODCAST_0001_0008"]
    assert (first.speaker, first.gender, first.emotion, first.label, first.text) == (
        "127",
        "male",
        "angry",
        "A",
        "I told you twice",
    )
    assert first.extra == {
        "arousal": "6.2",
        "valence": "2.0",
        "dominance": "5.8",
        "split": "train",
        "msp_split": "Train",
        "podcast": "0001",
    }
    assert first.corpus == "msp_podcast" and Path(first.path).is_file() and first.duration > 0
    assert by_id["MSP-PODCAST_0002_0004"].emotion == "" and by_id["MSP-PODCAST_0002_0004"].label == "X"
    assert by_id["MSP-PODCAST_0004_0001"].emotion == "contempt"
    assert by_id["MSP-PODCAST_0002_0003"].gender == "" and by_id["MSP-PODCAST_0001_0011"].text == ""
    assert Counter(u.extra["split"] for u in utterances) == {"train": 4, "dev": 1, "test": 2}


def test_official_protocol_gives_the_release_partitions(msp_root: Path):
    utterances = load_corpus("msp_podcast", msp_root, durations=False)
    (fold,) = make_folds(utterances, "official")
    assert fold.val == ("MSP-PODCAST_0003_0001",)
    assert fold.test == ("MSP-PODCAST_0004_0001", "MSP-PODCAST_0005_0001")
    assert len(fold.train) == 4


@pytest.mark.parametrize(
    "test_set, expected", [("Test2", "MSP-PODCAST_0006_0001"), ("test3", "MSP-PODCAST_0007_0001")]
)
def test_test_set_option_picks_the_test_partition(msp_root: Path, test_set: str, expected: str):
    utterances = load_corpus("msp_podcast", msp_root, options={"test_set": test_set}, durations=False)
    test = [u for u in utterances if u.extra["split"] == "test"]
    assert [u.id for u in test] == [expected]
    assert test[0].extra["msp_split"] == test_set.capitalize()


def test_unlabelled_test3_rows_give_empty_label_and_nan_targets(msp_root: Path):
    utterances = load_msp_podcast(msp_root, test_set="Test3")
    (unlabelled,) = [u for u in utterances if u.extra["msp_split"] == "Test3"]
    assert unlabelled.emotion == "" and unlabelled.extra["arousal"] == ""
    names = ("arousal", "valence", "dominance")
    matrix = dimension_matrix(utterances, names, dimension_scale("msp_podcast", names))
    row = [u.id for u in utterances].index(unlabelled.id)
    assert np.isnan(matrix[row]).all()
    assert np.nanmin(matrix) >= 0 and np.nanmax(matrix) <= 1
    angry = [u.id for u in utterances].index("MSP-PODCAST_0001_0008")
    np.testing.assert_allclose(matrix[angry], [(6.2 - 1) / 6, (2.0 - 1) / 6, (5.8 - 1) / 6], rtol=1e-6)


def test_unknown_speakers_options(msp_root: Path):
    grouped = {u.id: u.speaker for u in load_msp_podcast(msp_root)}
    assert grouped["MSP-PODCAST_0002_0003"] == grouped["MSP-PODCAST_0005_0001"] == "unknown"
    per_podcast = {u.id: u.speaker for u in load_msp_podcast(msp_root, unknown_speakers="podcast")}
    assert per_podcast["MSP-PODCAST_0002_0003"] == per_podcast["MSP-PODCAST_0002_0004"] == "unknown:0002"
    assert per_podcast["MSP-PODCAST_0005_0001"] == "unknown:0005"
    dropped = load_msp_podcast(msp_root, unknown_speakers="drop")
    assert all(not u.speaker.startswith("unknown") for u in dropped) and len(dropped) == 4


def test_grouped_unknown_speakers_stay_on_one_side_of_speaker_folds(msp_root: Path):
    utterances = load_corpus("msp_podcast", msp_root, durations=False)
    folds = make_folds(utterances, "leave_one_speaker_out", options={"val_speakers": 0})
    unknown = sorted(u.id for u in utterances if u.speaker == "unknown")
    assert len(unknown) == 3  # two in Train, one in Test1: the release split itself mixes them
    assert sum(sorted(fold.test) == unknown for fold in folds) == 1
    assert all(not set(unknown) & set(fold.test) for fold in folds if sorted(fold.test) != unknown)


def test_early_release_label_file_name_is_read(tmp_path: Path):
    root = build_msp_podcast(tmp_path, label_file="labels_concensus.csv")
    assert len(load_msp_podcast(root)) == 7


@pytest.mark.parametrize(
    "row, match",
    [
        (("Z", "4", "4", "4", "1", "Male", "Train"), "EmoClass 'Z'"),
        (("N", "8.5", "4", "4", "1", "Male", "Train"), "EmoAct='8.5'"),
        (("N", "high", "4", "4", "1", "Male", "Train"), "EmoAct='high'"),
        (("N", "4", "4", "4", "1", "Male", "Test4"), "Split_Set 'Test4'"),
        (("N", "4", "4", "4", "1", "M", "Train"), "Gender 'M'"),
        (("N", "4", "4"), "row has 4 field"),
    ],
)
def test_malformed_rows_name_file_and_row(tmp_path: Path, row: tuple[str, ...], match: str):
    rows = {**ROWS, "MSP-PODCAST_0009_0001.wav": row}
    root = build_msp_podcast(tmp_path, rows)
    with pytest.raises(CorpusLayoutError, match=match) as caught:
        load_msp_podcast(root)
    assert "labels_consensus.csv:11" in str(caught.value)


def test_bad_file_name_and_duplicate_rows(tmp_path: Path):
    root = build_msp_podcast(tmp_path / "a", {**ROWS, "podcast_0009.wav": ROWS["MSP-PODCAST_0001_0008.wav"]})
    with pytest.raises(CorpusLayoutError, match="MSP-PODCAST_NNNN_NNNN.wav"):
        load_msp_podcast(root)
    labels = tmp_path / "b" / "Labels" / "labels_consensus.csv"
    build_msp_podcast(tmp_path / "b")
    labels.write_text(labels.read_text() + "MSP-PODCAST_0001_0008.wav,N,4,4,4,127,Male,Train\n")
    with pytest.raises(CorpusLayoutError, match="listed twice"):
        load_msp_podcast(tmp_path / "b")


def test_layout_errors(tmp_path: Path):
    with pytest.raises(CorpusLayoutError, match="Expected layout"):
        load_msp_podcast(tmp_path / "nothing")
    (tmp_path / "Audios").mkdir()
    with pytest.raises(CorpusLayoutError, match="labels_consensus.csv"):
        load_msp_podcast(tmp_path)
    write_bytes(tmp_path / "Labels" / "labels_consensus.csv", "FileName,EmoClass\n")
    with pytest.raises(CorpusLayoutError, match="lacks the column"):
        load_msp_podcast(tmp_path)


def test_missing_audio_options(msp_root: Path, caplog: pytest.LogCaptureFixture):
    (msp_root / "Audios" / "MSP-PODCAST_0001_0011.wav").unlink()
    with pytest.raises(CorpusLayoutError, match=r"MSP-PODCAST_0001_0011.wav.*missing_audio=skip"):
        load_msp_podcast(msp_root)
    with caplog.at_level(logging.WARNING):
        assert len(load_msp_podcast(msp_root, missing_audio="skip")) == 6
    assert "left out" in caplog.text
    kept = {u.id: u for u in load_msp_podcast(msp_root, missing_audio="keep")}
    assert kept["MSP-PODCAST_0001_0011"].path.endswith("Audios/MSP-PODCAST_0001_0011.wav")


@pytest.mark.parametrize(
    "options, match",
    [
        ({"test_set": "Test4"}, "test_set"),
        ({"unknown_speakers": "each"}, "unknown_speakers"),
        ({"missing_audio": "no"}, "missing_audio"),
    ],
)
def test_bad_options(msp_root: Path, options: dict, match: str):
    with pytest.raises(ValueError, match=match):
        load_msp_podcast(msp_root, **options)
