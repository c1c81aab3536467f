"""Corpus statistics: counts, durations, duplicates, the text rendering and ``serkit corpus stats``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from serkit.cli import main
from serkit.data.stats import corpus_stats, format_stats, format_table
from serkit.data.utterance import Utterance, read_manifest, write_manifest

RAVDESS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ravdess"
needs_ravdess = pytest.mark.skipif(
    not (RAVDESS / "manifest.csv").is_file(), reason=f"real RAVDESS manifest not found at {RAVDESS}"
)


def _utt(
    utt_id: str,
    speaker: str,
    emotion: str,
    *,
    gender: str = "",
    session: str = "",
    duration: float | None = 2.0,
    content_hash: str = "",
    split: str = "",
) -> Utterance:
    return Utterance(
        id=utt_id,
        path=f"/nowhere/{utt_id}.wav",
        speaker=speaker,
        emotion=emotion,
        gender=gender,
        session=session,
        duration=duration,
        corpus="toy",
        content_hash=content_hash,
        extra={"split": split} if split else {},
    )


@pytest.fixture
def utterances() -> list[Utterance]:
    return [
        _utt(
            "a1", "spk2", "sad", gender="female", session="S1", duration=1.0, content_hash="x", split="train"
        ),
        _utt(
            "a2",
            "spk2",
            "happy",
            gender="female",
            session="S1",
            duration=3.0,
            content_hash="y",
            split="train",
        ),
        _utt(
            "b1", "spk10", "sad", gender="male", session="S2", duration=None, content_hash="x", split="test"
        ),
        _utt("b2", "spk10", "", gender="male", session="S2", duration=5.0, split="test"),
        _utt("c1", "spk1", "neutral", session="S10", duration=2.0, content_hash="z"),
    ]


def test_counts_and_durations(utterances: list[Utterance]) -> None:
    stats = corpus_stats(utterances)
    assert stats["utterances"] == 5 and stats["corpora"] == {"toy": 5}
    assert stats["duration"] == {
        "total_s": 11.0,
        "hours": round(11 / 3600, 4),
        "min_s": 1.0,
        "mean_s": 2.75,
        "max_s": 5.0,
        "missing": 1,
    }
    # Canonical emotion order, unlabelled last.
    assert list(stats["emotions"].items()) == [("neutral", 1), ("happy", 1), ("sad", 2), ("(none)", 1)]
    assert list(stats["speakers"]) == ["spk1", "spk2", "spk10"]  # natural order
    assert stats["speakers"]["spk2"] == {
        "gender": "female",
        "utterances": 2,
        "seconds": 4.0,
        "emotions": {"happy": 1, "sad": 1},
    }
    assert stats["speakers"]["spk1"]["gender"] == ""
    assert stats["genders"] == {
        "(none)": {"utterances": 1, "speakers": 1},
        "female": {"utterances": 2, "speakers": 1},
        "male": {"utterances": 2, "speakers": 1},
    }
    assert list(stats["sessions"]) == ["S1", "S2", "S10"]
    assert stats["sessions"]["S2"] == {"utterances": 2, "speakers": 1}
    assert stats["splits"] == {"test": 2, "train": 2}
    assert stats["duplicate_content"] == {"groups": [["a1", "b1"]], "without_hash": 1}
    json.dumps(stats)  # plain data, for --json


def test_no_sessions_and_empty_input() -> None:
    stats = corpus_stats([_utt("a", "s", "sad")])
    assert stats["sessions"] == {} and stats["splits"] == {}
    empty = corpus_stats([])
    assert empty["utterances"] == 0 and empty["duration"]["mean_s"] is None
    assert "## Speakers (0)" in format_stats(empty)


def test_speaker_recorded_with_two_genders_is_visible() -> None:
    stats = corpus_stats([_utt("a", "s", "sad", gender="male"), _utt("b", "s", "sad", gender="female")])
    assert stats["speakers"]["s"]["gender"] == "female/male"


def test_format_stats_renders_aligned_tables(utterances: list[Utterance]) -> None:
    text = format_stats(corpus_stats(utterances))
    for heading in (
        "## Emotions",
        "## Genders",
        "## Speakers (3)",
        "## Sessions (3)",
        "## Official splits",
        "## Identical audio",
    ):
        assert heading in text
    assert "1 utterance(s) without a duration" in text
    assert "- a1, b1" in text and "1 utterance(s) have no content hash" in text
    speaker_rows = [line for line in text.splitlines() if line.startswith("| spk")]
    assert [row.split("|")[1].strip() for row in speaker_rows] == ["spk1", "spk2", "spk10"]
    assert len({len(row) for row in speaker_rows}) == 1  # padded to equal width


def test_format_table_alignment() -> None:
    lines = format_table(["name", "count", "share"], [["a", 1, "5.0%"], ["bbb", 120, "95.0%"]]).splitlines()
    assert lines[1] == "|------|------:|------:|"
    assert lines[2] == "| a    |     1 |  5.0% |"
    assert format_table(["x"], []).splitlines() == ["| x |", "|---|"]


def test_cli_stats(tmp_path: Path, utterances: list[Utterance], capsys: pytest.CaptureFixture) -> None:
    manifest = write_manifest(utterances, tmp_path / "manifest.csv")
    assert main(["corpus", "stats", str(manifest)]) == 0
    assert "## Speakers (3)" in capsys.readouterr().out
    assert main(["corpus", "stats", str(manifest), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["duplicate_content"]["groups"] == [["a1", "b1"]]


@pytest.mark.realdata
@needs_ravdess
def test_ravdess_statistics() -> None:
    from serkit.data.corpora import fill_content_hashes

    stats = corpus_stats(fill_content_hashes(read_manifest(RAVDESS / "manifest.csv")))
    assert stats["utterances"] == 1440 and len(stats["speakers"]) == 24
    assert stats["emotions"]["neutral"] == 96 and stats["emotions"]["angry"] == 192
    assert stats["genders"]["female"] == {"utterances": 720, "speakers": 12}
    assert stats["duration"]["hours"] == pytest.approx(1.480, abs=0.001) and stats["duration"]["missing"] == 0
    assert stats["duplicate_content"]["groups"] == [["03-01-03-01-02-01-07", "03-01-03-01-02-02-07"]]
    assert stats["speakers"]["Actor_07"]["gender"] == "male"
    assert "Actor_24" in format_stats(stats)
