"""Classification metrics for emotion recognition: thin, explicit wrappers over scikit-learn.

Every function takes integer class indices into an explicit, ordered ``label_names`` list and passes that class
list to scikit-learn, so a class missing from a test fold still has its row (support 0), rows of a report always
follow ``label_names`` (GLAM printed target names in another order than its label indices), and
``zero_division=0`` is explicit, so no ``UndefinedMetricWarning`` is raised.

Definitions used across serkit (SEEDS.md section 6):

* **WA** (weighted accuracy): plain accuracy, ``accuracy_score``.
* **UA** (unweighted accuracy): macro recall over the classes present in ``y_true``; equal to
  ``balanced_accuracy_score``. See :func:`classification_metrics` for why absent classes are left out.
* **macro-F1**: unweighted mean of per-class F1 over the classes that occur in ``y_true`` or ``y_pred``
  (scikit-learn's default class set; torcheval's ``multiclass_f1_score`` used by CASE also skips classes with
  neither targets nor predictions).
* **micro-F1**: for single-label classification this equals WA. GLAM's README column "micro F1" is in fact
  **weighted-F1**; compare its numbers with ``weighted_f1``.
* **weighted-F1**: per-class F1 weighted by support.
* **CASE "micro-F1"**: accuracy on the utterances whose true label is not neutral, see :func:`accuracy_excluding`;
  :func:`classification_metrics` reports it as ``micro_f1_non_neutral`` whenever the labels include neutral.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    classification_report,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
    recall_score,
)

__all__ = [
    "HEADLINE_METRICS",
    "accuracy_excluding",
    "classification_metrics",
    "classification_report_text",
    "constant_prediction_metrics",
    "metrics_from_logits",
    "multilabel_metrics",
    "MULTILABEL_HEADLINE_METRICS",
]

#: The scalar metrics of :func:`classification_metrics`, in the order reports show them.
HEADLINE_METRICS = ("wa", "ua", "macro_f1", "micro_f1", "weighted_f1")


def _check_label_names(label_names: Sequence[str]) -> list[str]:
    names = [str(name) for name in label_names]
    if not names:
        raise ValueError(
            "label_names is empty; pass the ordered class names, e.g. ['neutral', 'happy', 'sad']."
        )
    if len(set(names)) != len(names):
        repeated = sorted({name for name in names if names.count(name) > 1})
        raise ValueError(f"label_names {names} repeats {repeated}; each class name must appear once.")
    return names


def _as_indices(values: Any, what: str, num_classes: int) -> np.ndarray:
    """``values`` as a 1-D int64 array of class indices in ``[0, num_classes)``, or a ValueError saying why not."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{what} must be a 1-D sequence of class indices; got shape {array.shape}.")
    if array.dtype.kind == "f":
        # Indices read back from CSV/JSON may arrive as floats; accept them only when they are whole numbers.
        if not np.all(np.isfinite(array)) or not np.all(array == np.round(array)):
            raise ValueError(
                f"{what} must hold integer class indices; got non-integer values such as "
                f"{array[array != np.round(array)][:3].tolist()}."
            )
    elif array.dtype.kind not in "iub":
        raise ValueError(
            f"{what} must hold integer class indices (positions in label_names), not "
            f"{array.dtype} values; map names to indices with label_names.index(name)."
        )
    array = array.astype(np.int64)
    bad = array[(array < 0) | (array >= num_classes)]
    if bad.size:
        raise ValueError(
            f"{what} contains class index {int(bad[0])}, outside 0..{num_classes - 1} "
            f"(label_names has {num_classes} classes)."
        )
    return array


def _check_pair(y_true: Any, y_pred: Any, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    true = _as_indices(y_true, "y_true", num_classes)
    pred = _as_indices(y_pred, "y_pred", num_classes)
    if len(true) != len(pred):
        raise ValueError(f"y_true has {len(true)} entries but y_pred has {len(pred)}; they must be aligned.")
    if len(true) == 0:
        raise ValueError("y_true is empty: there is nothing to evaluate (is the test fold empty?).")
    return true, pred


def classification_metrics(y_true: Any, y_pred: Any, label_names: Sequence[str]) -> dict[str, Any]:
    """WA, UA, F1 scores, per-class table and confusion matrix of single-label predictions.

    UA is the macro recall over the classes **present in** ``y_true`` (``balanced_accuracy_score``). A class with
    no test utterance has no defined recall; averaging it in as 0 (``recall_score(average="macro",
    labels=all classes, zero_division=0)``) would lower UA for a fold merely because it lacks that class, and
    averaging it in as 1 would raise it. Wrong predictions *of* an absent class still count, because they lower
    the recall of the true classes of those utterances. GLAM's ``classification_report`` averages recall over the
    classes in ``y_true`` or ``y_pred``, which differs from ours only when a class is predicted but absent from
    ``y_true`` (GLAM then counts it with recall 0). When every class occurs in ``y_true`` all these agree.

    Args:
        y_true: true class indices into ``label_names``, shape ``(num_utterances,)``.
        y_pred: predicted class indices, shape ``(num_utterances,)``.
        label_names: ordered class names; index ``i`` is class ``label_names[i]``.

    Returns:
        A JSON-serialisable dict with ``wa``, ``ua``, ``macro_f1``, ``micro_f1``, ``weighted_f1`` (floats in
        [0, 1]); ``per_class`` ``{name: {precision, recall, f1, support}}`` for every class in ``label_names``
        order (zeros and support 0 for a class absent from the fold); ``confusion`` (counts, nested lists,
        rows = true class, columns = predicted class, both in ``label_names`` order); ``label_names``;
        ``absent_classes`` (names with no test utterance, left out of UA); ``num_utterances``.

    Example:
        >>> m = classification_metrics([0, 0, 0, 1], [0, 0, 0, 0], ["neutral", "angry"])
        >>> m["wa"], m["ua"]
        (0.75, 0.5)
    """
    names = _check_label_names(label_names)
    true, pred = _check_pair(y_true, y_pred, len(names))
    all_classes = list(range(len(names)))
    in_true = sorted(set(true.tolist()))
    in_either = sorted(set(true.tolist()) | set(pred.tolist()))

    precision, recall, f1, support = precision_recall_fscore_support(
        true, pred, labels=all_classes, average=None, zero_division=0
    )
    per_class = {
        name: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, name in enumerate(names)
    }
    return {
        "wa": float(accuracy_score(true, pred)),
        "ua": float(recall_score(true, pred, labels=in_true, average="macro", zero_division=0)),
        "macro_f1": float(f1_score(true, pred, labels=in_either, average="macro", zero_division=0)),
        "micro_f1": float(f1_score(true, pred, labels=all_classes, average="micro", zero_division=0)),
        "weighted_f1": float(f1_score(true, pred, labels=all_classes, average="weighted", zero_division=0)),
        "per_class": per_class,
        "confusion": confusion_matrix(true, pred, labels=all_classes).tolist(),
        "label_names": names,
        "absent_classes": [names[i] for i in all_classes if support[i] == 0],
        "num_utterances": len(true),
        **_non_neutral_scores(true, pred, names),
    }


def _non_neutral_scores(true: np.ndarray, pred: np.ndarray, names: list[str]) -> dict[str, float]:
    """KEMDy20 scores that leave neutral aside (only when the label list has ``neutral``).

    * ``micro_f1_non_neutral``: the competition's (and CASE's) "micro-F1": micro-F1 over the utterances whose
      **true** label is not neutral, predictions over all classes (so it equals accuracy on them; predicting
      neutral there is an error). Absent when every utterance is neutral.
    * ``micro_f1_without_neutral``: the dialogue-emotion convention (MELD, DailyDialog papers): scikit-learn
      micro-F1 over **all** utterances with ``labels`` = every class except neutral, so a wrong non-neutral
      prediction of a neutral utterance is a false positive and a neutral prediction is no positive at all.
    """
    if "neutral" not in names:
        return {}
    neutral = names.index("neutral")
    others = [i for i in range(len(names)) if i != neutral]
    scores = {
        "micro_f1_without_neutral": float(
            f1_score(true, pred, labels=others, average="micro", zero_division=0)
        )
    }
    keep = true != neutral
    if keep.any():
        scores["micro_f1_non_neutral"] = float(
            f1_score(true[keep], pred[keep], labels=list(range(len(names))), average="micro", zero_division=0)
        )
    return scores


def constant_prediction_metrics(
    y_true: Any, label_names: Sequence[str], label: str = "neutral"
) -> dict[str, Any]:
    """The metrics of predicting ``label`` for every utterance: the reference a neutral-dominated corpus needs.

    KEMDy20 is > 80 % neutral, so an always-neutral predictor already has a high weighted-F1 and WA (CASE's
    ``src/all_neutral.py``); report it beside every model on the same test utterances.

    Example:
        >>> m = constant_prediction_metrics([0, 0, 0, 1], ["neutral", "angry"])
        >>> m["wa"], m["micro_f1_non_neutral"]
        (0.75, 0.0)
    """
    names = _check_label_names(label_names)
    if label not in names:
        raise ValueError(f"label {label!r} is not one of label_names {names}; pass one of them.")
    true = _as_indices(y_true, "y_true", len(names))
    return classification_metrics(true, np.full(len(true), names.index(label)), names)


def accuracy_excluding(y_true: Any, y_pred: Any, excluded_index: int) -> float:
    """Accuracy on the utterances whose true class is not ``excluded_index`` (CASE's "micro-F1").

    The KEMDy20 competition scored "micro-F1" only on utterances whose true label is not neutral, with the
    prediction taken as the arg-max over **all** classes; on single-label data micro-F1 equals accuracy, so this
    is accuracy on that subset. Predicting the excluded class for such an utterance counts as an error. Pass
    ``label_names.index("neutral")`` as ``excluded_index`` to reproduce CASE.

    Args:
        y_true: true class indices, shape ``(num_utterances,)``.
        y_pred: predicted class indices, shape ``(num_utterances,)``.
        excluded_index: the class whose true utterances are left out.

    Raises:
        ValueError: misaligned inputs, or no utterance left after the exclusion.

    Example:
        >>> accuracy_excluding([0, 1, 1, 2], [0, 1, 0, 0], excluded_index=0)
        0.3333333333333333
    """
    true = np.asarray(y_true)
    pred = np.asarray(y_pred)
    if true.shape != pred.shape or true.ndim != 1:
        raise ValueError(f"y_true {true.shape} and y_pred {pred.shape} must be 1-D and of the same length.")
    keep = true != excluded_index
    if not keep.any():
        raise ValueError(
            f"every utterance has the excluded class {excluded_index}; accuracy on the others "
            "is undefined (the test fold has no other class)."
        )
    return float(accuracy_score(true[keep], pred[keep]))


def classification_report_text(
    y_true: Any, y_pred: Any, label_names: Sequence[str], *, digits: int = 4
) -> str:
    """scikit-learn's text ``classification_report`` with rows in ``label_names`` order and every class listed.

    Example:
        >>> print(classification_report_text([0, 1], [0, 0], ["neutral", "angry"]).splitlines()[2])
             neutral     0.5000    1.0000    0.6667         1
    """
    names = _check_label_names(label_names)
    true, pred = _check_pair(y_true, y_pred, len(names))
    return classification_report(
        true, pred, labels=list(range(len(names))), target_names=names, digits=digits, zero_division=0
    )


def _as_binary_matrix(values: Any, what: str, num_labels: int) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 2 or array.shape[1] != num_labels:
        raise ValueError(
            f"{what} must have shape (num_utterances, {num_labels}) (one column per label); "
            f"got {array.shape}."
        )
    if not np.isin(array, (0, 1)).all():
        raise ValueError(f"{what} must hold 0/1 indicators; threshold scores first (e.g. probs >= 0.5).")
    return array.astype(np.int64)


def multilabel_metrics(y_true: Any, y_pred: Any, label_names: Sequence[str]) -> dict[str, Any]:
    """Per-label and averaged scores of multi-label predictions (MOSEI emotions: several may be present).

    Macro-F1 averages over the labels that are positive somewhere in ``y_true`` or ``y_pred`` (the same rule as
    single-label macro-F1); a label never present and never predicted has no defined F1. If no label is positive
    anywhere, the F1 averages are 0.

    Args:
        y_true: 0/1 indicators, shape ``(num_utterances, num_labels)``.
        y_pred: 0/1 predicted indicators, shape ``(num_utterances, num_labels)``.
        label_names: ordered label names, one per column.

    Returns:
        ``per_label`` ``{name: {precision, recall, f1, accuracy, support}}`` (support = positive utterances),
        ``macro_f1``, ``micro_f1``, ``weighted_f1``, ``subset_accuracy`` (all labels of an utterance right),
        ``label_names`` and ``num_utterances``.

    Example:
        >>> m = multilabel_metrics([[1, 0], [1, 1]], [[1, 0], [1, 0]], ["happy", "sad"])
        >>> m["subset_accuracy"], m["per_label"]["sad"]["accuracy"]
        (0.5, 0.5)
    """
    names = _check_label_names(label_names)
    true = _as_binary_matrix(y_true, "y_true", len(names))
    pred = _as_binary_matrix(y_pred, "y_pred", len(names))
    if true.shape != pred.shape:
        raise ValueError(f"y_true has {len(true)} rows but y_pred has {len(pred)}; they must be aligned.")
    if len(true) == 0:
        raise ValueError("y_true is empty: there is nothing to evaluate.")
    all_labels = list(range(len(names)))
    active = [j for j in all_labels if true[:, j].any() or pred[:, j].any()]

    precision, recall, f1, support = precision_recall_fscore_support(
        true, pred, labels=all_labels, average=None, zero_division=0
    )
    per_label = {
        name: {
            "precision": float(precision[j]),
            "recall": float(recall[j]),
            "f1": float(f1[j]),
            "accuracy": float(accuracy_score(true[:, j], pred[:, j])),
            "support": int(support[j]),
        }
        for j, name in enumerate(names)
    }

    def average_f1(average: str) -> float:
        if not active:
            return 0.0
        return float(f1_score(true, pred, labels=active, average=average, zero_division=0))

    return {
        "per_label": per_label,
        "macro_f1": average_f1("macro"),
        "micro_f1": average_f1("micro"),
        "weighted_f1": average_f1("weighted"),
        "subset_accuracy": float(accuracy_score(true, pred)),
        "label_accuracy": float(np.mean([per_label[name]["accuracy"] for name in names])),
        "label_names": names,
        "num_utterances": len(true),
    }


#: The headline numbers of multi-label runs (MOSEI emotions), as HEADLINE_METRICS are for single-label ones.
MULTILABEL_HEADLINE_METRICS = ("label_accuracy", "subset_accuracy", "macro_f1", "micro_f1", "weighted_f1")


def metrics_from_logits(
    targets: Any, logits: Any, label_names: Sequence[str]
) -> tuple[dict[str, Any], np.ndarray]:
    """Metrics and class probabilities of a model's logits ``(num_utterances, num_classes)``.

    Single-label targets ``(num_utterances,)``: softmax probabilities, arg-max prediction,
    :func:`classification_metrics`. Multi-label 0/1 targets ``(num_utterances, num_classes)``: sigmoid
    probabilities, a label predicted where its logit is > 0, :func:`multilabel_metrics`.
    """
    logits = np.asarray(logits, dtype=np.float64)
    if np.ndim(targets) == 2:
        probabilities = 1.0 / (1.0 + np.exp(-logits))
        return multilabel_metrics(targets, (logits > 0).astype(int), label_names), probabilities
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities = shifted / shifted.sum(axis=1, keepdims=True)
    return classification_metrics(targets, probabilities.argmax(axis=1), label_names), probabilities
