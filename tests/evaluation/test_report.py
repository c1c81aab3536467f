"""Summaries over folds × seeds: mean ± std, per-seed means, the test-selection warning, files on disk."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from serkit.evaluation.metrics import classification_metrics
from serkit.evaluation.report import (
    TEST_SELECTION_WARNING,
    compare_summaries,
    format_summary,
    read_summary,
    summarize_runs,
    write_summary,
)

NAMES = ["neutral", "angry"]
INFO = {"speaker_independent": True, "selects_on_test": False, "description": "leave one speaker out"}


def run_with_accuracy(
    fold: str, seed: int, num_correct: int, *, size: int = 10, names: list[str] = NAMES
) -> dict:
    """A run of ``size`` utterances (half of each class) of which the first ``num_correct`` are right."""
    y_true = np.array([0] * (size // 2) + [1] * (size - size // 2))
    y_pred = y_true.copy()
    y_pred[num_correct:] = 1 - y_true[num_correct:]
    return {
        "fold": fold,
        "seed": seed,
        "metrics": classification_metrics(y_true, y_pred, names),
        "num_epochs": 5,
        "best_epoch": 2,
    }


def summarize(runs, **overrides):
    options = {
        "label_names": NAMES,
        "protocol": "loso",
        "protocol_info": INFO,
        "selection": "validation",
        "title": "Test run",
    }
    options.update(overrides)
    return summarize_runs(runs, **options)


def test_mean_and_sample_std_over_runs():
    summary = summarize([run_with_accuracy("fold0", 0, 5), run_with_accuracy("fold1", 0, 7)])
    wa = summary["metrics"]["wa"]
    assert wa["mean"] == pytest.approx(0.6)
    assert wa["std"] == pytest.approx(0.141421356)  # ddof=1; the population std would be 0.1
    assert wa["n"] == 2
    assert summary["n_runs"] == 2 and summary["folds"] == ["fold0", "fold1"] and summary["seeds"] == [0]
    assert "ddof=1" in summary["std_definition"]


def test_single_run_has_std_zero_and_says_n_1():
    summary = summarize([run_with_accuracy("fold0", 0, 7)])
    assert summary["metrics"]["wa"] == {"mean": pytest.approx(0.7), "std": 0.0, "n": 1}
    assert "n=1" in summary["std_definition"]
    assert "n=1" in format_summary(summary)


def test_no_runs_is_an_error():
    with pytest.raises(ValueError, match="no runs"):
        summarize([])


def test_over_seeds_averages_folds_first():
    runs = [
        run_with_accuracy("fold0", 0, 5),
        run_with_accuracy("fold1", 0, 7),
        run_with_accuracy("fold0", 1, 8),
        run_with_accuracy("fold1", 1, 6),
    ]
    summary = summarize(runs)
    assert [entry["metrics"]["wa"] for entry in summary["per_seed"]] == pytest.approx([0.6, 0.7])
    assert summary["over_seeds"]["wa"] == {
        "mean": pytest.approx(0.65),
        "std": pytest.approx(0.0707107),
        "n": 2,
    }
    assert summary["metrics"]["wa"]["std"] == pytest.approx(np.std([0.5, 0.7, 0.8, 0.6], ddof=1))
    assert "Over seeds" in format_summary(summary)
    assert summary["warnings"] == []


def test_folds_are_sorted_naturally_and_incomplete_grid_is_reported():
    runs = [
        run_with_accuracy("fold10", 0, 5),
        run_with_accuracy("fold2", 0, 5),
        run_with_accuracy("fold2", 1, 5),
    ]
    summary = summarize(runs)
    assert summary["folds"] == ["fold2", "fold10"]
    assert any("incomplete grid" in w and "fold10/seed 1" in w for w in summary["warnings"])


def test_confusion_is_summed_and_row_normalised():
    runs = [run_with_accuracy("fold0", 0, 5), run_with_accuracy("fold1", 0, 7)]
    summary = summarize(runs)
    # run 1: all 5 angry wrong -> [[5, 0], [5, 0]]; run 2: 2 angry right, 3 wrong -> [[5, 0], [3, 2]]
    assert summary["confusion"]["counts"] == [[10, 0], [8, 2]]
    np.testing.assert_allclose(summary["confusion"]["normalized"], [[1.0, 0.0], [0.8, 0.2]])


def test_per_class_means_skip_runs_without_the_class():
    names = ["neutral", "angry", "sad"]
    with_sad = {"fold": "f0", "seed": 0, "metrics": classification_metrics([0, 1, 2, 2], [0, 1, 2, 0], names)}
    without_sad = {"fold": "f1", "seed": 0, "metrics": classification_metrics([0, 1], [0, 1], names)}
    summary = summarize([with_sad, without_sad], label_names=names)
    assert summary["metrics"]["recall.sad"] == {"mean": pytest.approx(0.5), "std": 0.0, "n": 1}
    assert summary["metrics"]["recall.neutral"]["n"] == 2
    assert summary["confusion"]["normalized"][2] == pytest.approx([0.5, 0.0, 0.5])


@pytest.mark.parametrize(
    "selects_on_test, selection, warned",
    [
        (False, "validation", False),
        (False, "none", False),
        (False, "last_epoch", False),
        (False, "test", True),
        (True, "validation", True),
        (True, "test", True),
    ],
)
def test_test_selection_warning_appears_exactly_when_it_should(selects_on_test, selection, warned):
    info = dict(INFO, selects_on_test=selects_on_test)
    summary = summarize([run_with_accuracy("fold0", 0, 5)], protocol_info=info, selection=selection)
    assert summary["selected_on_test"] is warned
    assert (TEST_SELECTION_WARNING in summary["warnings"]) is warned
    assert (TEST_SELECTION_WARNING in format_summary(summary)) is warned


def test_header_states_protocol_speaker_independence_labels_and_selection():
    info = dict(INFO, speaker_independent=False, description="random utterance split")
    text = format_summary(
        summarize(
            [run_with_accuracy("fold0", 0, 5)],
            protocol="paper_random_split",
            protocol_info=info,
            notes=["3 unreadable files skipped"],
        )
    )
    assert "`paper_random_split` (random utterance split)" in text
    assert "Speaker-independent: NO" in text
    assert "Session-independent" not in text  # only stated when the protocol info says
    with_session = format_summary(
        summarize([run_with_accuracy("fold0", 0, 5)], protocol_info=dict(INFO, session_independent=True))
    )
    assert "- Speaker-independent: yes\n- Session-independent: yes\n" in with_session
    assert "Labels (2): neutral, angry" in text
    assert "Model selection: best epoch on a held-out validation set" in text
    assert "Note: 3 unreadable files skipped" in text
    assert "| WA (accuracy) | 50.00 ± 0.00 | 1 |" in text


@pytest.mark.parametrize(
    "change, message",
    [
        ({"selection": "best"}, "selection 'best'"),
        ({"protocol_info": {"speaker_independent": True}}, "selects_on_test"),
        ({"label_names": ["angry", "neutral"]}, "label_names"),
    ],
)
def test_bad_arguments_raise(change, message):
    with pytest.raises(ValueError, match=message):
        summarize([run_with_accuracy("fold0", 0, 5)], **change)


def test_duplicate_run_and_missing_keys_raise():
    with pytest.raises(ValueError, match="appears twice"):
        summarize([run_with_accuracy("fold0", 0, 5), run_with_accuracy("fold0", 0, 6)])
    with pytest.raises(ValueError, match="lacks 'metrics'"):
        summarize([{"fold": "fold0", "seed": 0}])
    run = run_with_accuracy("fold0", 0, 5)
    del run["metrics"]["ua"]
    with pytest.raises(ValueError, match="lack"):
        summarize([run])


def test_files_are_written_atomically_and_re_readable(tmp_path: Path):
    summary = summarize([run_with_accuracy("fold0", 0, 5), run_with_accuracy("fold1", 0, 7)])
    paths = write_summary(summary, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        ["summary.md", "summary.csv", "summary.json", "runs.csv"]
    )  # no temp files left behind
    assert set(paths) == {"summary_md", "summary_csv", "summary_json", "runs_csv"}

    assert read_summary(tmp_path / "out") == json.loads(json.dumps(summary))
    assert paths["summary_md"].read_text(encoding="utf-8") == format_summary(summary)
    assert format_summary(read_summary(paths["summary_json"])) == format_summary(summary)

    with open(paths["summary_csv"], encoding="utf-8", newline="") as handle:
        rows = {row["metric"]: row for row in csv.DictReader(handle)}
    assert float(rows["wa"]["mean"]) == pytest.approx(0.6)
    assert float(rows["wa"]["std"]) == pytest.approx(0.141421356)
    assert rows["wa"]["n"] == "2"
    assert "recall.angry" in rows and "over_seeds.ua" in rows

    with open(paths["runs_csv"], encoding="utf-8", newline="") as handle:
        runs = list(csv.DictReader(handle))
    assert [(r["fold"], r["seed"], float(r["wa"])) for r in runs] == [
        ("fold0", "0", 0.5),
        ("fold1", "0", 0.7),
    ]
    assert runs[0]["best_epoch"] == "2" and runs[0]["num_utterances"] == "10"


def test_read_summary_errors(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="no summary"):
        read_summary(tmp_path)
    (tmp_path / "summary.json").write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(ValueError, match="not a serkit summary"):
        read_summary(tmp_path)
    (tmp_path / "summary.json").write_text("{", encoding="utf-8")
    with pytest.raises(ValueError, match="not valid JSON"):
        read_summary(tmp_path)


def test_compare_flags_rows_with_another_protocol_or_test_selection():
    base = summarize([run_with_accuracy("fold0", 0, 5)])
    same = summarize([run_with_accuracy("fold0", 0, 7)])
    text = compare_summaries([base, same], ["a", "b"])
    assert "WARNING" not in text
    assert "| b | `loso` | yes | validation | 2 | 1 | 70.00 ± 0.00 |" in text

    other = summarize([run_with_accuracy("fold0", 0, 7)], protocol="paper_random_split", selection="test")
    text = compare_summaries([base, other], ["a", "c"])
    assert "WARNING" in text
    row_c = next(line for line in text.splitlines() if line.startswith("| c |"))
    assert "protocol differs" in row_c and "selection differs" in row_c and "SELECTED ON TEST" in row_c
    row_a = next(line for line in text.splitlines() if line.startswith("| a |"))
    assert row_a.endswith("| - |")


def test_compare_argument_errors():
    base = summarize([run_with_accuracy("fold0", 0, 5)])
    with pytest.raises(ValueError, match="one name per summary"):
        compare_summaries([base], ["a", "b"])
    with pytest.raises(ValueError, match="at least one"):
        compare_summaries([], [])


def test_time_line_sums_the_timed_runs():
    runs = [
        {**run_with_accuracy("fold0", 0, 5), "timing": {"wall_seconds": 30.0, "cpu_seconds": 50.0}},
        {**run_with_accuracy("fold1", 0, 7), "timing": {"wall_seconds": 90.0, "cpu_seconds": 130.0}},
    ]
    summary = summarize(runs)
    assert summary["time"] == {
        "n_timed": 2,
        "wall_seconds": 120.0,
        "cpu_seconds": 180.0,
        "wall_seconds_per_run": 60.0,
        "cpu_seconds_per_run": 90.0,
    }
    assert [run["wall_seconds"] for run in summary["runs"]] == [30.0, 90.0]
    text = format_summary(summary)
    assert "- Time: 2.0 min wall, 3.0 min CPU summed over the runs; 60.0 s wall, 90.0 s CPU per run" in text
    # a run finished before timings were written is left out of the totals, and the line says so
    partial = summarize([runs[0], run_with_accuracy("fold1", 0, 7)])
    assert partial["time"]["n_timed"] == 1 and partial["runs"][1]["wall_seconds"] is None
    assert "summed over the 1 of 2 runs" in format_summary(partial)
    untimed = summarize([run_with_accuracy("fold0", 0, 5)])
    assert untimed["time"] is None and "- Time:" not in format_summary(untimed)
