"""ESD and JTES loaders on fake trees with the real layouts (no copy of either corpus exists here)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import write_tone
from fake_trees import tree_state

from serkit.core.errors import CorpusLayoutError
from serkit.data.corpora import load_corpus
from serkit.data.corpora.esd import load_esd, read_transcripts
from serkit.data.corpora.jtes import load_jtes

# ---------------------------------------------------------------- ESD


def make_esd(root: Path, *, splits: bool = False) -> Path:
    """Speakers 0001 (Mandarin, GB18030 transcript) and 0011/0015 (English, UTF-8), two emotions each."""
    for speaker, emotions in (
        ("0001", ("Neutral", "Happy")),
        ("0011", ("Angry", "Surprise")),
        ("0015", ("Sad", "Neutral")),
    ):
        for number, emotion in enumerate(emotions, start=1):
            split = ("train/", "evaluation/")[number - 1] if splits else ""
            write_tone(root / speaker / emotion / f"{split}{speaker}_{number:06d}.wav", seconds=0.01)
    (root / "0011" / "0011.txt").write_text(
        "0011_000001\tA green kite flew over town.\tAngry\n0011_000002\tWe met at noon.\tSurprise\n",
        encoding="utf-8",
    )
    (root / "0015" / "0015.txt").write_text(
        "0015_000001\tKeep it.\tSad\n", encoding="utf-8"
    )  # 000002 has no line
    # Invented lines, encoded in GB18030 as in some copies of the Mandarin transcripts.
    mandarin = "0001_000001\t今天的风很大，\t中立\n0001_000002\t好的。\t快乐\n"
    (root / "0001" / "0001.txt").write_bytes(mandarin.encode("gb18030"))
    return root


def test_esd_english_by_default(tmp_path):
    utterances = {u.id: u for u in load_esd(make_esd(tmp_path))}
    assert sorted(utterances) == ["0011_000001", "0011_000002", "0015_000001", "0015_000002"]
    angry = utterances["0011_000001"]
    assert (angry.speaker, angry.gender, angry.emotion, angry.label, angry.text) == (
        "0011",
        "male",
        "angry",
        "Angry",
        "A green kite flew over town.",
    )
    assert angry.extra == {"language": "english"}
    assert utterances["0011_000002"].emotion == "surprised"
    assert (utterances["0015_000001"].gender, utterances["0015_000001"].emotion) == ("female", "sad")
    assert utterances["0015_000002"].text == ""  # no transcript line: empty text, not an error


def test_esd_language_option_and_mandarin_transcript(tmp_path):
    root = make_esd(tmp_path)
    chinese = sorted(load_esd(root, language="chinese"), key=lambda u: u.id)
    assert [(u.id, u.speaker, u.gender, u.emotion, u.extra["language"]) for u in chinese] == [
        ("0001_000001", "0001", "female", "neutral", "chinese"),
        ("0001_000002", "0001", "female", "happy", "chinese"),
    ]
    assert chinese[0].text == "今天的风很大，"
    assert len(load_esd(root, language="all")) == 6
    with pytest.raises(ValueError, match="language='french'.*chinese, english, all"):
        load_esd(root, language="french")


def test_esd_and_jtes_leave_the_corpus_untouched(tmp_path):
    esd = make_esd(tmp_path / "esd", splits=True)
    jtes = write_tone(tmp_path / "jtes" / "wav" / "m01" / "sad" / "m01_sad_01.wav", seconds=0.01).parents[3]
    before = tree_state(tmp_path)
    assert len(load_corpus("esd", esd, options={"language": "all"}, content_hashes=True)) == 6
    assert len(load_corpus("jtes", jtes, content_hashes=True)) == 1
    assert tree_state(tmp_path) == before


def test_esd_official_split_folders(tmp_path):
    utterances = {
        u.id: u for u in load_corpus("esd", make_esd(tmp_path, splits=True), options={"language": "all"})
    }
    assert utterances["0011_000001"].extra == {"language": "english", "official_split": "train"}
    assert utterances["0001_000002"].extra["official_split"] == "evaluation"
    assert utterances["0001_000002"].duration == pytest.approx(0.01)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "gb18030"])
def test_esd_transcript_encodings(tmp_path, encoding):
    path = tmp_path / "0002.txt"
    path.write_bytes("0002_000351\t不要这样，好吗？\t生气\n0002_000352\tA, B c.\t中立\n".encode(encoding))
    assert read_transcripts(path) == {"0002_000351": "不要这样，好吗？", "0002_000352": "A, B c."}


def test_esd_transcript_with_spaces_instead_of_tabs(tmp_path):
    path = tmp_path / "0012.txt"
    path.write_text("0012_000001 Chapter one, the end. Neutral\n\n", encoding="utf-8")
    assert read_transcripts(path) == {"0012_000001": "Chapter one, the end."}


def test_esd_malformed_transcript_line_is_named(tmp_path):
    path = tmp_path / "0012.txt"
    path.write_text("0012_000001\tfine\tNeutral\nnot an id line\n", encoding="utf-8")
    with pytest.raises(CorpusLayoutError, match=re.escape(f"{path}:2") + ".*id<TAB>text<TAB>emotion"):
        read_transcripts(path)


@pytest.mark.parametrize(
    "relative",
    [
        "0011/Joy/0011_000001.wav",
        "0011/Angry/0012_000001.wav",
        "0011/Angry/extra/0011_000001.wav",
        "0011/Angry/train/deep/0011_000001.wav",
        "0011/Angry/a.wav",
        "0011/0011_000001.wav",
    ],
)
def test_esd_file_off_the_layout_is_named(tmp_path, relative):
    write_tone(tmp_path / "0011" / "Neutral" / "0011_000002.wav", seconds=0.01)
    bad = write_tone(tmp_path / relative, seconds=0.01)
    with pytest.raises(CorpusLayoutError, match=re.escape(str(bad)) + ".*ESD layout"):
        load_esd(tmp_path)


def test_esd_root_without_speaker_folders(tmp_path):
    write_tone(
        tmp_path / "Emotional Speech Dataset (ESD)" / "0011" / "Angry" / "0011_000001.wav", seconds=0.01
    )
    with pytest.raises(CorpusLayoutError, match="none of the speaker folders 0011-0020"):
        load_esd(tmp_path)
    assert len(load_esd(tmp_path / "Emotional Speech Dataset (ESD)")) == 1


# ---------------------------------------------------------------- JTES


def test_jtes_layout(tmp_path):
    write_tone(tmp_path / "wav" / "f01" / "joy" / "f01_joy_01.wav", seconds=0.01)
    write_tone(tmp_path / "wav" / "m50" / "ang" / "m50_ang_50.wav", seconds=0.01)
    write_tone(tmp_path / "wav" / "m50" / "neu" / "m50_neu_01.wav", seconds=0.01)
    (tmp_path / "README.txt").write_text("not audio")
    utterances = load_jtes(tmp_path)
    assert [(u.id, u.speaker, u.gender, u.emotion, u.label, u.text) for u in utterances] == [
        ("f01_joy_01", "f01", "female", "happy", "joy", ""),
        ("m50_ang_50", "m50", "male", "angry", "ang", ""),
        ("m50_neu_01", "m50", "male", "neutral", "neu", ""),
    ]
    assert [u.id for u in load_jtes(tmp_path / "wav")] == [
        u.id for u in utterances
    ]  # ROOT may be wav/ itself


@pytest.mark.parametrize(
    "relative",
    [
        "wav/f01/sur/f01_sur_01.wav",
        "wav/x01/joy/x01_joy_01.wav",
        "wav/f01/f01_joy_01.wav",
        "wav/f01/joy/take2/f01_joy_01.wav",
    ],
)
def test_jtes_file_off_the_layout_is_named(tmp_path, relative):
    write_tone(tmp_path / "wav" / "f02" / "sad" / "f02_sad_01.wav", seconds=0.01)
    bad = write_tone(tmp_path / relative, seconds=0.01)
    with pytest.raises(CorpusLayoutError, match=re.escape(str(bad)) + ".*JTES layout"):
        load_jtes(tmp_path)


def test_jtes_duplicate_stems_are_refused(tmp_path):
    write_tone(tmp_path / "wav" / "f01" / "joy" / "take_01.wav", seconds=0.01)
    write_tone(tmp_path / "wav" / "f02" / "joy" / "take_01.wav", seconds=0.01)
    with pytest.raises(CorpusLayoutError, match="same file stem"):
        load_jtes(tmp_path)
