"""IEMOCAP loader on a fake release tree: 2 sessions, improvised and scripted dialogs, real file formats."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import pytest
from fake_trees import tree_state, write_bytes, write_silence

from serkit.core.errors import CorpusLayoutError
from serkit.data.corpora import load_corpus
from serkit.data.corpora.iemocap import load_iemocap
from serkit.data.labels import apply_label_set, get_label_set

# dialog -> [(utterance suffix, code, has wav)]; texts are invented.
DIALOGS = {
    "Ses01F_impro01": [
        ("F000", "neu", True),
        ("M000", "exc", True),
        ("F001", "xxx", True),
        ("M001", "hap", True),
        ("M002", "sad", False),
    ],
    "Ses01F_script01_1": [("F000", "ang", True), ("M000", "sad", True), ("F001", "fru", True)],
    "Ses02M_impro03": [("F000", "sad", True), ("M000", "neu", True)],
    "Ses02M_script03_2": [("F032", "hap", True)],
    "Ses02M_script01_1b": [("M011", "exc", True)],
}
#: A wav without an EmoEvaluation line.
UNEVALUATED = "Ses01F_impro01_F002"


def _evaluation_file(dialog: str, entries: list[tuple[str, str, bool]]) -> str:
    lines = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""]
    for index, (suffix, code, _) in enumerate(entries):
        start = 1.5 + 3 * index
        lines += [
            f"[{start:.4f} - {start + 2.25:.4f}]\t{dialog}_{suffix}\t{code}\t[2.5000, 3.0000, 3.5000]",
            "C-E2:\tNeutral;\t()",
            "C-F1:\tNeutral; Other;\t(curious)",
            "A-E3:\tval 3; act 2; dom  2;\t()",
            "",
        ]
    return "\n".join(lines) + "\n"


def _transcript_file(dialog: str, entries: list[tuple[str, str, bool]]) -> str:
    lines = ["M: [BREATHING]"]
    for index, (suffix, _, _) in enumerate(entries):
        start = 1.5 + 3 * index
        times = f"[{start:08.4f}-{start + 2.25:08.4f}]"
        lines.append(f"{dialog}_{suffix} {times}: invented line {index} of {dialog}.")
    lines.append(f"{dialog}_MXX0 : no time range, skipped")
    return "\n".join(lines) + "\n"


def build_iemocap(root: Path) -> Path:
    for dialog, entries in DIALOGS.items():
        session = root / f"Session{int(dialog[4])}"
        write_bytes(session / "dialog" / "EmoEvaluation" / f"{dialog}.txt", _evaluation_file(dialog, entries))
        write_bytes(session / "dialog/transcriptions" / f"{dialog}.txt", _transcript_file(dialog, entries))
        for suffix, _, has_wav in entries:
            if has_wav:
                write_silence(session / "sentences" / "wav" / dialog / f"{dialog}_{suffix}.wav")
    # Sub-folders of EmoEvaluation hold per-evaluator files that must not be read as summaries.
    write_bytes(
        root / "Session1/dialog/EmoEvaluation/Categorical/Ses01F_impro01_e2_cat.txt",
        "Ses01F_impro01_F000 :Anger;\n",
    )
    write_silence(root / "Session1/sentences/wav/Ses01F_impro01" / f"{UNEVALUATED}.wav")
    return root


@pytest.fixture
def iemocap_root(tmp_path: Path) -> Path:
    return build_iemocap(tmp_path / "IEMOCAP_full_release")


def test_counts_fields_and_speaker_from_last_part(iemocap_root: Path, caplog):
    with caplog.at_level(logging.WARNING):
        utterances = load_iemocap(iemocap_root)
    by_id = {u.id: u for u in utterances}
    assert len(utterances) == 11 and UNEVALUATED not in by_id
    assert "1 audio file(s) without an EmoEvaluation line" in caplog.text
    assert "1 evaluated utterance(s) without an audio file" in caplog.text
    assert Counter(u.label for u in utterances) == {
        "neu": 2,
        "exc": 2,
        "hap": 2,
        "sad": 2,
        "xxx": 1,
        "ang": 1,
        "fru": 1,
    }
    male_turn = by_id["Ses01F_impro01_M000"]  # recorded in a session whose dialog id starts with F
    assert (male_turn.speaker, male_turn.gender, male_turn.session) == ("Ses01M", "male", "Ses01")
    assert male_turn.emotion == "excited" and male_turn.text == "invented line 1 of Ses01F_impro01."
    assert male_turn.extra == {
        "subset": "improvised",
        "dialog": "Ses01F_impro01",
        "valence": "2.5000",
        "activation": "3.0000",
        "dominance": "3.5000",
        "start": "4.5000",
        "end": "6.7500",
    }
    four_parts = by_id["Ses02M_script03_2_F032"]
    assert (four_parts.speaker, four_parts.gender, four_parts.session) == ("Ses02F", "female", "Ses02")
    assert four_parts.extra["dialog"] == "Ses02M_script03_2" and four_parts.extra["subset"] == "scripted"
    assert by_id["Ses02M_script01_1b_M011"].speaker == "Ses02M"
    expected = iemocap_root / "Session2/sentences/wav/Ses02M_script03_2/Ses02M_script03_2_F032.wav"
    assert Path(four_parts.path) == expected
    assert {u.speaker for u in utterances} == {"Ses01F", "Ses01M", "Ses02F", "Ses02M"}
    assert all(u.duration is None for u in utterances)


def test_xxx_is_unlabelled_but_keeps_its_code(iemocap_root: Path):
    no_agreement = [u for u in load_iemocap(iemocap_root) if u.label == "xxx"]
    assert [(u.id, u.emotion) for u in no_agreement] == [("Ses01F_impro01_F001", "")]


def test_subset_and_sessions_filters(iemocap_root: Path):
    improvised = load_iemocap(iemocap_root, subset="improvised")
    scripted = load_iemocap(iemocap_root, subset="scripted")
    assert len(improvised) == 6 and {u.extra["subset"] for u in improvised} == {"improvised"}
    assert len(scripted) == 5 and all("script" in u.extra["dialog"] for u in scripted)
    assert {u.session for u in load_iemocap(iemocap_root, sessions=("2",))} == {"Ses02"}
    assert len(load_iemocap(iemocap_root, sessions=("Ses01", "Session2"))) == 11
    assert (
        len(
            load_corpus(
                "iemocap", iemocap_root, options={"sessions": "1", "subset": "scripted"}, durations=False
            )
        )
        == 3
    )
    with pytest.raises(CorpusLayoutError, match="Session3"):
        load_iemocap(iemocap_root, sessions=("3",))
    with pytest.raises(ValueError, match="not a session 1-5"):
        load_iemocap(iemocap_root, sessions=("7",))
    with pytest.raises(ValueError, match="improvised, scripted, all"):
        load_iemocap(iemocap_root, subset="impro")


def test_label_sets_4class_and_glam(iemocap_root: Path):
    utterances = load_iemocap(iemocap_root)
    four, left_out = apply_label_set(utterances, get_label_set("iemocap_4class"))
    assert Counter(u.emotion for u in four) == {"neutral": 2, "happy": 4, "sad": 2, "angry": 1}
    assert left_out == {"frustrated": 1, "(unlabelled)": 1}
    glam, left_out = apply_label_set(utterances, get_label_set("iemocap_glam"))
    assert Counter(u.emotion for u in glam) == {"neutral": 2, "happy": 2, "sad": 2, "angry": 1}
    assert {u.label for u in glam if u.emotion == "happy"} == {"exc"}  # GLAM's "happy" is excited only
    assert left_out == {"happy": 2, "frustrated": 1, "(unlabelled)": 1}


def test_tree_is_unchanged_and_durations_come_from_headers(iemocap_root: Path):
    before = tree_state(iemocap_root)
    utterances = load_corpus("iemocap", iemocap_root, content_hashes=True)
    assert tree_state(iemocap_root) == before
    assert not (iemocap_root / "pair.json").exists()
    assert all(u.duration == pytest.approx(0.05) for u in utterances)


def test_bad_trees_fail_with_the_path(tmp_path: Path, iemocap_root: Path):
    with pytest.raises(CorpusLayoutError, match="no Session1..Session5"):
        load_iemocap(tmp_path)
    evaluation = iemocap_root / "Session2/dialog/EmoEvaluation/Ses02M_impro03.txt"
    original = evaluation.read_text()
    evaluation.write_text(original.replace("\tsad\t", "\tsadness\t"))
    with pytest.raises(CorpusLayoutError, match=r"Ses02M_impro03\.txt:\d+: unknown category 'sadness'"):
        load_iemocap(iemocap_root)
    evaluation.write_text(original.replace("[2.5000, 3.0000, 3.5000]", "[2.5000, 3.0000]", 1))
    with pytest.raises(CorpusLayoutError, match="is not a summary line"):
        load_iemocap(iemocap_root)
    evaluation.write_text(original)
    renamed = iemocap_root / "Session2/sentences/wav/Ses02M_impro03"
    (renamed / "Ses02M_impro03_F000.wav").rename(renamed / "Ses02M-impro03-04-01-F000.wav")
    with pytest.raises(CorpusLayoutError, match="GLAM's handleIEMOCAP.py renames"):
        load_iemocap(iemocap_root)


def test_missing_label_folder_is_a_layout_error(iemocap_root: Path):
    for path in sorted((iemocap_root / "Session2/dialog").rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    with pytest.raises(CorpusLayoutError, match=r"Session2/dialog/EmoEvaluation is missing"):
        load_iemocap(iemocap_root)
