"""KEMDy20 loader on a fake release tree: annotation CSVs with a sub-header, CP949 transcripts with tags."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fake_trees import tree_state, write_bytes, write_silence

from serkit.core.errors import CorpusLayoutError
from serkit.data.corpora import load_corpus
from serkit.data.corpora.kemdy20 import clean_text, load_kemdy20

HEADER = "Numb,Wav,,Segment ID,Total Evaluation,,,Eval01F,,,Eval02M,,\n"
SUB_HEADER = ",start,end,,Emotion,Valence,Arousal,Emotion,Valence,Arousal,Emotion,Valence,Arousal\n"
# segment id -> (Total Evaluation, valence, arousal, invented transcript with transcription tags)
SEGMENTS = {
    "Sess01_script01_User001F_001": ("neutral", "3", "2.8", "n/ 안녕 (웃음) 하세요"),
    "Sess01_script01_User002M_001": ("neutral;happy", "3.4", "3", "좋아  l/ 정말 좋아"),
    "Sess01_script01_User002M_002": ("disqust", "1.9", "3.2", "싫어 */"),
    "Sess01_script02_User001F_001": ("surprise", "3.1", "4", "어머(놀람)"),
    "Sess02_script01_User003F_001": ("fear", "2", "3.9", "무서워 c/ b/"),
}


def _row(number: int, segment: str) -> str:
    label, valence, arousal, _ = SEGMENTS[segment]
    return f"{number},1.0,2.5,{segment},{label},{valence},{arousal},neutral,3,3,happy,4,3\n"


def build_kemdy20(root: Path) -> Path:
    sess01 = [s for s in SEGMENTS if s.startswith("Sess01")]
    write_bytes(
        root / "annotation" / "Sess01_eval.csv",
        HEADER + SUB_HEADER + "".join(_row(i, s) for i, s in enumerate(sess01, start=1)),
    )
    write_bytes(
        root / "annotation" / "Sess02_eval.csv",
        "\ufeff" + HEADER + SUB_HEADER + _row(1, "Sess02_script01_User003F_001") + ",,,,,,,,,,,,\n",
    )
    for segment, (_, _, _, text) in SEGMENTS.items():
        folder = root / "wav" / f"Session{segment[4:6]}"
        write_silence(folder / f"{segment}.wav")
        write_bytes(folder / f"{segment}.txt", text + "\r\nsecond line ignored\r\n", encoding="cp949")
    (root / "EDA").mkdir()  # bio-signal folders exist in the release and are not read
    return root


@pytest.fixture
def kemdy_root(tmp_path: Path) -> Path:
    return build_kemdy20(tmp_path / "KEMDy20_v1_1")


def test_clean_text_follows_the_case_rules():
    assert clean_text("n/ 안녕 (웃음) 하세요") == "안녕 하세요"
    assert clean_text("a// b+/ c N/ d u/") == "a b c d"
    assert clean_text("x/ stays") == "x/ stays"  # only c n N u l b * + / are tags


def test_records_fields_and_transcripts(kemdy_root: Path):
    before = tree_state(kemdy_root)
    utterances = load_corpus("kemdy20", kemdy_root)
    assert tree_state(kemdy_root) == before
    by_id = {u.id: u for u in utterances}
    assert sorted(by_id) == sorted(SEGMENTS)
    first = by_id["Sess01_script01_User001F_001"]
    assert (first.speaker, first.gender, first.session, first.emotion, first.label) == (
        "User001F",
        "female",
        "Sess01",
        "neutral",
        "neutral",
    )
    assert first.text == "안녕 하세요" and first.extra["raw_text"] == "n/ 안녕 (웃음) 하세요"
    assert first.extra == {
        "script": "script01",
        "valence": "3",
        "arousal": "2.8",
        "multi_label": "0",
        "emotions": "neutral",
        "raw_text": "n/ 안녕 (웃음) 하세요",
    }
    assert Path(first.path) == kemdy_root / "wav" / "Session01" / "Sess01_script01_User001F_001.wav"
    assert [
        by_id[s].emotion
        for s in (
            "Sess01_script01_User002M_002",
            "Sess01_script02_User001F_001",
            "Sess02_script01_User003F_001",
        )
    ] == ["disgust", "surprised", "fearful"]
    assert by_id["Sess01_script01_User002M_002"].label == "disqust"
    assert by_id["Sess02_script01_User003F_001"].session == "Sess02"
    assert by_id["Sess01_script02_User001F_001"].text == "어머"
    assert all(u.duration == pytest.approx(0.05) for u in utterances)


def test_multi_label_options(kemdy_root: Path):
    multi = "Sess01_script01_User002M_001"
    kept = {u.id: u for u in load_kemdy20(kemdy_root)}[multi]
    assert (kept.emotion, kept.label, kept.extra["multi_label"], kept.extra["emotions"]) == (
        "neutral",
        "neutral;happy",
        "1",
        "neutral;happy",
    )
    first = {u.id: u for u in load_kemdy20(kemdy_root, multi_label="first")}[multi]
    assert (first.emotion, first.label, first.extra["multi_label"]) == ("neutral", "neutral", "1")
    dropped = load_kemdy20(kemdy_root, multi_label="drop")
    assert len(dropped) == len(SEGMENTS) - 1 and multi not in {u.id for u in dropped}
    with pytest.raises(ValueError, match="multi_label"):
        load_kemdy20(kemdy_root, multi_label="split")


def test_missing_audio_and_transcript(kemdy_root: Path, caplog):
    session = kemdy_root / "wav" / "Session01"
    (session / "Sess01_script02_User001F_001.wav").unlink()
    (session / "Sess01_script01_User002M_002.txt").unlink()
    with pytest.raises(CorpusLayoutError, match=r"1 annotated segment\(s\) \(Sess01_script02_User001F_001\)"):
        load_kemdy20(kemdy_root)
    with caplog.at_level(logging.WARNING):
        skipped = load_kemdy20(kemdy_root, missing_audio="skip")
    assert len(skipped) == len(SEGMENTS) - 1
    assert "1 segment(s) have no .txt transcript" in caplog.text
    assert {u.id: u.text for u in skipped}["Sess01_script01_User002M_002"] == ""
    kept = {u.id: u for u in load_kemdy20(kemdy_root, missing_audio="keep")}
    assert Path(kept["Sess01_script02_User001F_001"].path) == session / "Sess01_script02_User001F_001.wav"


def test_upper_case_suffix_and_utf8_transcript(kemdy_root: Path):
    session = kemdy_root / "wav" / "Session02"
    (session / "Sess02_script01_User003F_001.wav").rename(session / "Sess02_script01_User003F_001.WAV")
    # The UTF-8 bytes of this text also decode as (wrong) CP949, so UTF-8 must be tried first.
    write_bytes(session / "Sess02_script01_User003F_001.txt", "좋아 (그래) 진짜\n", encoding="utf-8")
    fear = {u.id: u for u in load_kemdy20(kemdy_root)}["Sess02_script01_User003F_001"]
    assert fear.path.endswith(".WAV") and fear.text == "좋아 진짜"


@pytest.mark.parametrize(
    ("replace", "by", "message"),
    [
        (",fear,", ",scared,", r"Sess02_eval.csv:3: unknown label\(s\) \['scared'\]"),
        ("Sess02_script01_User003F_001", "Sess02-script01-User003F-001", "does not follow"),
        ("Total Evaluation", "Total", "no 'Segment ID' and 'Total Evaluation'"),
    ],
)
def test_bad_annotations_fail_with_the_file(kemdy_root: Path, replace: str, by: str, message: str):
    annotation = kemdy_root / "annotation" / "Sess02_eval.csv"
    annotation.write_text(annotation.read_text(encoding="utf-8-sig").replace(replace, by), encoding="utf-8")
    with pytest.raises(CorpusLayoutError, match=message):
        load_kemdy20(kemdy_root)


def test_annotation_without_sub_header_is_read_from_the_first_row(kemdy_root: Path):
    annotation = kemdy_root / "annotation" / "Sess02_eval.csv"
    content = annotation.read_text(encoding="utf-8-sig")
    annotation.write_text(content.replace(SUB_HEADER, ""), encoding="utf-8")
    fear = {u.id: u for u in load_kemdy20(kemdy_root)}["Sess02_script01_User003F_001"]
    assert fear.emotion == "fearful" and fear.extra["valence"] == ""  # no sub-header: columns unknown


def test_duplicate_segment_and_missing_folder(kemdy_root: Path, tmp_path: Path):
    with pytest.raises(CorpusLayoutError, match="annotation is missing"):
        load_kemdy20(tmp_path)
    with open(kemdy_root / "annotation" / "Sess02_eval.csv", "a", encoding="utf-8") as handle:
        handle.write(_row(9, "Sess01_script01_User001F_001"))
    with pytest.raises(CorpusLayoutError, match="annotated twice"):
        load_kemdy20(kemdy_root)
