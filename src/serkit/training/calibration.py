"""Temperature scaling (Guo et al. 2017): one scalar per model that makes its scores comparable with others'.

Ensembles across families (a network's logits beside an SVM's decision values, whose scales differ by an order of
magnitude) cannot average raw scores: the larger scale would decide alone. Each member's scores ``z`` are turned
into log-probabilities ``log_softmax(z / T)`` with the temperature ``T`` that minimises the cross-entropy on the
member's **validation** utterances (never the test ones), and the ensemble averages those (log-linear pooling).

Example:
    >>> import numpy as np
    >>> logits = np.array([[4.0, 0.0], [0.0, 4.0], [4.0, 0.0], [0.0, 4.0]])
    >>> round(fit_temperature(logits, np.array([0, 1, 1, 0])), 1) > 1  # wrong half the time: flatten
    True
"""

from __future__ import annotations

import numpy as np

__all__ = ["LOG_TEMPERATURE_RANGE", "calibrate_members", "calibrated_log_probabilities", "fit_temperature"]

#: Search range of log(T): T from about 0.007 to 150.
LOG_TEMPERATURE_RANGE = (-5.0, 5.0)


def _log_softmax(scores: np.ndarray) -> np.ndarray:
    shifted = scores - scores.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def fit_temperature(scores: np.ndarray, targets: np.ndarray) -> float:
    """The temperature of least mean cross-entropy of ``softmax(scores / T)``.

    Args:
        scores: (utterances, classes) logits or decision values (finite).
        targets: (utterances,) class indices.

    Returns:
        T > 0.
    """
    from scipy.optimize import minimize_scalar  # scipy comes with scikit-learn

    scores = np.asarray(scores, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.int64)
    if scores.ndim != 2 or len(scores) != len(targets) or len(scores) == 0:
        raise ValueError(
            f"scores must be (utterances, classes) with one target each; got {scores.shape} and "
            f"{targets.shape}."
        )
    if not np.isfinite(scores).all():
        raise ValueError("scores contain NaN or infinity; temperature scaling needs finite scores.")
    rows = np.arange(len(targets))

    def loss(log_temperature: float) -> float:
        return float(-_log_softmax(scores / np.exp(log_temperature))[rows, targets].mean())

    result = minimize_scalar(loss, bounds=LOG_TEMPERATURE_RANGE, method="bounded")
    return float(np.exp(result.x))


def calibrated_log_probabilities(scores: np.ndarray, temperature: float) -> np.ndarray:
    """(utterances, classes) -> ``log_softmax(scores / temperature)``, the same shape."""
    return _log_softmax(np.asarray(scores, dtype=np.float64) / temperature)


def calibrate_members(members: list) -> list[float]:
    """Replace each ensemble member's validation and test logits by calibrated log-probabilities, in place.

    Args:
        members: :class:`~serkit.training.ensemble.Member` objects of one fold (single-label, with validation
            utterances); their temperatures are fitted on their validation logits only.

    Returns:
        the temperature of each member, in order.
    """
    temperatures = []
    for member in members:
        if member.multilabel or len(member.val_ids) == 0:
            raise ValueError(
                f"{member.path}: calibrated combining needs single-label runs with validation utterances "
                "(the temperature is fitted on them); use --combine logits."
            )
        temperature = fit_temperature(member.val_logits, member.val_targets)
        member.val_logits = calibrated_log_probabilities(member.val_logits, temperature)
        member.test_logits = calibrated_log_probabilities(member.test_logits, temperature)
        temperatures.append(temperature)
    return temperatures
