"""Metrics against hand-computed small cases, and against scikit-learn's reports where the definitions agree."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, classification_report, recall_score

from serkit.evaluation.metrics import (
    accuracy_excluding,
    classification_metrics,
    classification_report_text,
    multilabel_metrics,
)

# Every function passes explicit labels and zero_division, so no sklearn warning may escape.
pytestmark = pytest.mark.filterwarnings("error")


def test_hand_computed_case_where_ua_differs_from_wa():
    # 4 neutral all right, 2 angry of which 1 predicted neutral.
    m = classification_metrics([0, 0, 0, 0, 1, 1], [0, 0, 0, 0, 0, 1], ["neutral", "angry"])
    assert m["wa"] == pytest.approx(5 / 6)
    assert m["ua"] == pytest.approx((1.0 + 0.5) / 2)
    assert m["micro_f1"] == pytest.approx(5 / 6)
    f1_neutral, f1_angry = 2 * 0.8 * 1.0 / 1.8, 2 / 3  # neutral: precision 4/5, recall 1; angry: 1 and 1/2
    assert m["macro_f1"] == pytest.approx((f1_neutral + f1_angry) / 2)
    assert m["weighted_f1"] == pytest.approx((4 * f1_neutral + 2 * f1_angry) / 6)
    assert m["per_class"]["neutral"] == pytest.approx(
        {"precision": 0.8, "recall": 1.0, "f1": f1_neutral, "support": 4}
    )
    assert m["per_class"]["angry"] == pytest.approx(
        {"precision": 1.0, "recall": 0.5, "f1": f1_angry, "support": 2}
    )
    assert m["confusion"] == [[4, 0], [1, 1]]
    assert m["num_utterances"] == 6
    assert m["absent_classes"] == []


def test_class_absent_from_truth_but_predicted_is_left_out_of_ua_only():
    names = ["neutral", "happy", "sad"]
    y_true, y_pred = [0, 0, 1, 1], [0, 2, 1, 1]
    m = classification_metrics(y_true, y_pred, names)
    assert m["wa"] == pytest.approx(0.75)
    # UA averages recall over neutral (1/2) and happy (1), not over the absent 'sad'.
    assert m["ua"] == pytest.approx(0.75)
    with pytest.warns(UserWarning, match="not in y_true"):  # sklearn drops 'sad' the same way, and says so
        assert m["ua"] == pytest.approx(balanced_accuracy_score(y_true, y_pred))
    penalised = recall_score(y_true, y_pred, labels=[0, 1, 2], average="macro", zero_division=0)
    assert penalised == pytest.approx(0.5) and m["ua"] != pytest.approx(penalised)
    # macro-F1 counts 'sad' (predicted, never right: F1 0) beside neutral (2/3) and happy (1).
    assert m["macro_f1"] == pytest.approx((2 / 3 + 1.0 + 0.0) / 3)
    assert m["per_class"]["sad"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert m["absent_classes"] == ["sad"]
    assert m["confusion"] == [[1, 0, 1], [0, 2, 0], [0, 0, 0]]


def test_class_absent_everywhere_keeps_its_row_but_no_average_penalty():
    m = classification_metrics([0, 1, 1], [0, 1, 1], ["neutral", "happy", "sad", "angry"])
    assert m["wa"] == m["ua"] == m["macro_f1"] == m["weighted_f1"] == pytest.approx(1.0)
    assert list(m["per_class"]) == ["neutral", "happy", "sad", "angry"]
    assert m["per_class"]["angry"]["support"] == 0
    assert m["absent_classes"] == ["sad", "angry"]
    assert np.asarray(m["confusion"]).shape == (4, 4)


def test_all_classes_present_matches_glam_classification_report_definitions():
    rng = np.random.default_rng(3)
    y_true = np.concatenate([np.arange(4), rng.integers(0, 4, 60)])
    y_pred = np.where(rng.random(64) < 0.6, y_true, rng.integers(0, 4, 64))
    names = ["neutral", "sad", "angry", "happy"]
    m = classification_metrics(y_true, y_pred, names)
    report = classification_report(y_true, y_pred, output_dict=True, zero_division=0)
    assert m["wa"] == pytest.approx(report["accuracy"])
    assert m["ua"] == pytest.approx(report["macro avg"]["recall"])
    assert m["macro_f1"] == pytest.approx(report["macro avg"]["f1-score"])
    assert m["weighted_f1"] == pytest.approx(report["weighted avg"]["f1-score"])
    assert m["micro_f1"] == pytest.approx(m["wa"])
    for i, name in enumerate(names):
        assert m["per_class"][name]["recall"] == pytest.approx(report[str(i)]["recall"])
        assert m["per_class"][name]["support"] == report[str(i)]["support"]
    assert np.asarray(m["confusion"]).sum(axis=1).tolist() == np.bincount(y_true, minlength=4).tolist()


def test_metrics_are_json_plain_types():
    m = classification_metrics(np.array([0, 1]), np.array([1, 1]), ["a", "b"])
    assert type(m["wa"]) is float and type(m["per_class"]["a"]["support"]) is int
    assert all(type(v) is int for row in m["confusion"] for v in row)


def test_integral_floats_are_accepted_as_indices():
    m = classification_metrics([0.0, 1.0], [0.0, 0.0], ["a", "b"])
    assert m["wa"] == pytest.approx(0.5)


@pytest.mark.parametrize(
    "y_true, y_pred, names, message",
    [
        ([0, 3], [0, 1], ["a", "b"], "outside 0..1"),
        ([0, 1], [0, -1], ["a", "b"], "outside 0..1"),
        ([0, 1, 1], [0, 1], ["a", "b"], "3 entries"),
        ([], [], ["a", "b"], "empty"),
        (["a", "b"], [0, 1], ["a", "b"], "integer class indices"),
        ([0.5, 1], [0, 1], ["a", "b"], "non-integer"),
        ([[0, 1]], [[0, 1]], ["a", "b"], "1-D"),
        ([0, 1], [0, 1], ["a", "a"], "repeats"),
        ([0, 1], [0, 1], [], "empty"),
    ],
)
def test_bad_inputs_raise_value_error_naming_the_problem(y_true, y_pred, names, message):
    with pytest.raises(ValueError, match=message):
        classification_metrics(y_true, y_pred, names)


def test_report_text_rows_follow_label_names_order():
    # Index 0 is 'sad' here; GLAM printed rows under names in another order than its indices.
    names = ["sad", "angry", "neutral"]
    text = classification_report_text([0, 0, 0, 1], [0, 0, 0, 1], names)
    rows = [line.split() for line in text.splitlines() if line.split() and line.split()[0] in names]
    assert [row[0] for row in rows] == names
    assert [int(row[-1]) for row in rows] == [3, 1, 0]  # supports, including the absent 'neutral'


def test_accuracy_excluding_is_accuracy_on_non_excluded_truth():
    # neutral = 1. Rows with true neutral are ignored; predicting neutral for others is an error.
    y_true = [1, 1, 0, 0, 2, 3]
    y_pred = [1, 0, 0, 1, 2, 0]
    assert accuracy_excluding(y_true, y_pred, excluded_index=1) == pytest.approx(2 / 4)
    assert accuracy_excluding(y_true, y_pred, excluded_index=3) == pytest.approx(3 / 5)


def test_accuracy_excluding_errors():
    with pytest.raises(ValueError, match="excluded class 1"):
        accuracy_excluding([1, 1], [0, 1], excluded_index=1)
    with pytest.raises(ValueError, match="same length"):
        accuracy_excluding([0, 1], [0], excluded_index=1)


def test_multilabel_hand_computed():
    y_true = [[1, 0, 0], [1, 1, 0], [0, 1, 0]]
    y_pred = [[1, 0, 0], [1, 0, 0], [0, 1, 0]]
    m = multilabel_metrics(y_true, y_pred, ["happy", "sad", "angry"])
    assert m["per_label"]["happy"] == pytest.approx(
        {"precision": 1, "recall": 1, "f1": 1, "accuracy": 1, "support": 2}
    )
    assert m["per_label"]["sad"] == pytest.approx(
        {"precision": 1, "recall": 0.5, "f1": 2 / 3, "accuracy": 2 / 3, "support": 2}
    )
    assert m["per_label"]["angry"] == pytest.approx(
        {"precision": 0, "recall": 0, "f1": 0, "accuracy": 1, "support": 0}
    )
    # 'angry' is never present nor predicted: left out of macro-F1 (else it would be 5/9).
    assert m["macro_f1"] == pytest.approx((1 + 2 / 3) / 2)
    assert m["micro_f1"] == pytest.approx(2 * 1 * 0.75 / 1.75)  # tp 3, fp 0, fn 1
    assert m["weighted_f1"] == pytest.approx((2 * 1 + 2 * 2 / 3) / 4)
    assert m["subset_accuracy"] == pytest.approx(2 / 3)
    assert m["num_utterances"] == 3


def test_multilabel_errors():
    with pytest.raises(ValueError, match="0/1"):
        multilabel_metrics([[0.3, 1]], [[0, 1]], ["a", "b"])
    with pytest.raises(ValueError, match=r"\(num_utterances, 2\)"):
        multilabel_metrics([[0, 1, 1]], [[0, 1, 1]], ["a", "b"])
    with pytest.raises(ValueError, match="aligned"):
        multilabel_metrics([[0, 1], [1, 1]], [[0, 1]], ["a", "b"])
