"""RBF-kernel SVM on utterance functionals, fitted by scikit-learn and served as an ordinary torch model.

:class:`RBFSVMClassifier` fits scikit-learn's ``StandardScaler`` and ``SVC(kernel="rbf", class_weight="balanced",
decision_function_shape="ovr", break_ties=True)``, choosing C and gamma on validation UA, and then copies the
scaler, the support vectors, the dual coefficients and the intercepts into float64 torch buffers. Its ``forward``
is ``SVC.decision_function`` computed in torch: the one-vs-one decision values of every pair of classes, then
scikit-learn's vote + confidence transform to one score per class (``sklearn.utils.multiclass.
_ovr_decision_function``, reimplemented here because it is private). ``break_ties=True`` makes ``SVC.predict``
the argmax of that function (libsvm's own vote would return the first of tied classes instead), so the argmax of
the logits is ``SVC.predict``. Selection, standardisation and scores are shared with ``linear_svm``
(:class:`~serkit.models.classical.ClosedFormClassifier`). A recipe::

    features: {name: egemaps}
    input: {mode: utterance}
    model: {name: rbf_svm, args: {c_grid: [0.1, 1.0, 10.0], gamma_grid: [scale, 0.001, 0.01]}}

The number of support vectors is known only after fitting: the fit stores it in ``model_args``
(``num_support_vectors``), so a checkpoint rebuilds the model with buffers of the right size before loading them.
The kernel is not linear, so the logits of a multi-chunk utterance (the mean of its chunk logits) are not those of
its mean vector, which the model is fitted on: use ``input.mode: utterance`` (one chunk per utterance).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from serkit.models import register_model
from serkit.models.classical import ABSENT_CLASS_BIAS, CLASS_WEIGHTS, ClosedFormClassifier, positive_floats

__all__ = ["GAMMA_RULES", "RBFSVMClassifier", "rbf_svm"]

#: gamma given by a rule on the standardised training data (scikit-learn's names); stored as the number it gives.
GAMMA_RULES = ("scale", "auto")


class RBFSVMClassifier(ClosedFormClassifier):
    """Standardisation + RBF-kernel SVM (``SVC``, one-vs-one), fitted by :meth:`fit`, evaluated in torch.

    ``forward`` averages the valid frames of each chunk (one frame for functionals), standardises it, computes the
    kernel ``exp(-gamma * |x - sv|^2)`` against every support vector and the decision value of every pair of
    classes (positive = the first class of the pair wins), and turns them into ``SVC.decision_function``'s
    one-vs-rest shape: votes plus ``s / (3 (|s| + 1))`` of the summed confidences ``s``. With two classes present
    ``SVC`` has one decision value ``d`` (positive = the second class); the logits are then ``[0, d]``, as for
    ``linear_svm``. A class absent from the training part gets :data:`~serkit.models.classical.ABSENT_CLASS_BIAS`.
    An unfitted model (no class present yet) outputs that constant for every class. All buffers are float64: in
    float32 the pair decision values were off by up to 4e-6 on generated data, and a vote flips where one
    changes sign.

    Args:
        num_classes: outputs.
        num_features: size of the input vector (88 for eGeMAPSv02 functionals).
        c_grid: SVM regularisation values tried when a validation set is given.
        gamma_grid: kernel widths tried with each C: positive numbers or a rule of :data:`GAMMA_RULES` (computed on
            the standardised training data; ``scale`` = 1 / (num_features * variance)). The best validation UA
            wins; ties go to the smaller C, then the smaller gamma (the smoother boundary).
        c: C used when there is no validation set.
        gamma: gamma used when there is no validation set (a number or a rule).
        class_weight: a key of :data:`~serkit.models.classical.CLASS_WEIGHTS`.
        num_support_vectors: size of the support-vector buffers; set by the fit (leave it at 0), so that a
            checkpoint's ``model_args`` rebuild a model its weights load into.
    """

    fixed_selection = "fixed_c_gamma"

    def __init__(
        self,
        *,
        num_classes: int,
        num_features: int,
        c_grid: Sequence[float],
        gamma_grid: Sequence[float | str],
        c: float,
        gamma: float | str,
        class_weight: str,
        num_support_vectors: int,
    ) -> None:
        super().__init__(
            num_classes=num_classes, num_features=num_features, class_weight=class_weight, dtype=torch.float64
        )
        self.c_grid = positive_floats("c_grid", c_grid)
        self.c = positive_floats("c", [c])[0]
        self.gamma_grid = _gammas("gamma_grid", gamma_grid)
        self.gamma_option = _gammas("gamma", [gamma])[0]
        if not isinstance(num_support_vectors, int) or num_support_vectors < 0:
            raise ValueError(
                f"num_support_vectors must be an integer >= 0 (the fit sets it), got {num_support_vectors!r}."
            )
        self.num_support_vectors = num_support_vectors
        # the pairs (first, second) of classes, first < second, in scikit-learn's order
        first, second = torch.triu_indices(num_classes, num_classes, offset=1)
        self.pairs = list(zip(first.tolist(), second.tolist()))
        self.num_pairs = len(self.pairs)
        # (num_pairs, num_classes) one-hot rows of each pair's first and second class: constants, not weights
        self.register_buffer(
            "pair_first", torch.eye(num_classes, dtype=torch.float64)[first], persistent=False
        )
        self.register_buffer(
            "pair_second", torch.eye(num_classes, dtype=torch.float64)[second], persistent=False
        )
        self.register_buffer("present", torch.zeros(num_classes, dtype=torch.bool))
        self.register_buffer("gamma", torch.tensor(1.0, dtype=torch.float64))
        self.register_buffer(
            "support_vectors", torch.zeros(num_support_vectors, num_features, dtype=torch.float64)
        )
        # decision of pair p = kernel @ pair_coef[p] + intercept[p]; zero for pairs with an absent class
        self.register_buffer(
            "pair_coef", torch.zeros(self.num_pairs, num_support_vectors, dtype=torch.float64)
        )
        self.register_buffer("intercept", torch.zeros(self.num_pairs, dtype=torch.float64))

    def forward_head(self, embedding: torch.Tensor) -> torch.Tensor:
        """embedding (batch, num_features) -> logits (batch, num_classes) float64, ``SVC.decision_function``."""
        x = embedding.to(torch.float64)
        # |x - sv|^2 expanded: (batch, num_support_vectors); exact enough in float64, and no (batch, sv, features)
        squared = (
            x.square().sum(1, keepdim=True)
            + self.support_vectors.square().sum(1)
            - 2.0 * x @ self.support_vectors.T
        )
        kernel = torch.exp(-self.gamma * squared.clamp_min(0.0))
        pair_decision = kernel @ self.pair_coef.T + self.intercept  # (batch, num_pairs)
        if int(self.present.sum()) == 2:  # one decision value d, positive = the second present class
            pair = self.pairs.index(tuple(self.present.nonzero().flatten().tolist()))
            # (batch, num_classes): d at the second class, 0 at the first (and at absent ones, replaced below)
            scores = -pair_decision[:, pair : pair + 1] * self.pair_second[pair]
        else:
            present = self.present.to(torch.float64)
            # (num_pairs,) 1 where both classes of the pair are present
            valid = (self.pair_first @ present) * (self.pair_second @ present)
            first_wins = (pair_decision >= 0).to(torch.float64) * valid  # (batch, num_pairs)
            second_wins = (pair_decision < 0).to(torch.float64) * valid
            votes = first_wins @ self.pair_first + second_wins @ self.pair_second  # (batch, num_classes)
            confidence = (pair_decision * valid) @ (self.pair_first - self.pair_second)
            scores = votes + confidence / (3.0 * (confidence.abs() + 1.0))
        return torch.where(self.present, scores, torch.full_like(scores, ABSENT_CLASS_BIAS))

    # -- fitting ---------------------------------------------------------------------------------------------

    def _grid(self, x_scaled: np.ndarray) -> list[dict[str, Any]]:
        # (value, option); a rule giving a listed value is tried once
        gammas: list[tuple[float, float | str]] = []
        for option in self.gamma_grid:
            value = _resolve_gamma(option, x_scaled)
            if not any(math.isclose(value, seen, rel_tol=1e-9) for seen, _ in gammas):
                gammas.append((value, option))
        return [
            {"c": c, "gamma": value, "gamma_option": option}
            for c in sorted(set(self.c_grid))  # ascending: a tie keeps the smaller C, then the smaller gamma
            for value, option in sorted(gammas, key=lambda pair: pair[0])
        ]

    def _fixed(self, x_scaled: np.ndarray) -> dict[str, Any]:
        return {
            "c": self.c,
            "gamma": _resolve_gamma(self.gamma_option, x_scaled),
            "gamma_option": self.gamma_option,
        }

    def _fit_estimator(self, x: np.ndarray, y: np.ndarray, params: dict[str, Any], seed: int) -> Any:
        from sklearn.svm import SVC  # deterministic without probability estimates: no seed to pass

        svm = SVC(
            C=params["c"],
            kernel="rbf",
            gamma=params["gamma"],  # the number, so the model stores what was used
            class_weight=CLASS_WEIGHTS[self.class_weight],
            decision_function_shape="ovr",
            break_ties=True,  # predict = argmax of decision_function, i.e. of the logits
        )
        return svm.fit(x, y)

    @torch.no_grad()
    def _load(self, scaler: Any, estimator: Any) -> dict[str, Any]:
        """Copy a fitted StandardScaler and SVC into the buffers, resizing the support-vector ones."""
        classes = estimator.classes_.astype(np.int64)  # the present classes, ascending
        dual = np.asarray(estimator.dual_coef_, dtype=np.float64)  # (len(classes) - 1, num_support_vectors)
        intercept = np.asarray(estimator.intercept_, dtype=np.float64)  # (pairs of present classes,)
        if len(classes) == 2:  # scikit-learn flips both for binary problems; back to "positive = first class"
            dual, intercept = -dual, -intercept
        starts = np.concatenate([[0], np.cumsum(estimator.n_support_)])  # support vectors grouped by class
        pair_coef = np.zeros((self.num_pairs, dual.shape[1]))
        full_intercept = np.zeros(self.num_pairs)
        k = 0
        # libsvm's pair (a, b) of present classes: the coefficients of a's vectors are in row b - 1, b's in row a
        for a in range(len(classes)):
            for b in range(a + 1, len(classes)):
                p = self.pairs.index((int(classes[a]), int(classes[b])))
                pair_coef[p, starts[a] : starts[a + 1]] = dual[b - 1, starts[a] : starts[a + 1]]
                pair_coef[p, starts[b] : starts[b + 1]] = dual[a, starts[b] : starts[b + 1]]
                full_intercept[p] = intercept[k]
                k += 1
        self.support_vectors = torch.as_tensor(estimator.support_vectors_, dtype=torch.float64).clone()
        self.pair_coef = torch.as_tensor(pair_coef)
        self.intercept.copy_(torch.as_tensor(full_intercept))
        self.present.zero_()
        self.present[torch.as_tensor(classes)] = True
        self.gamma.fill_(estimator.gamma)
        self._load_scaler(scaler)
        self.num_support_vectors = len(estimator.support_vectors_)
        model_args = getattr(
            self, "model_args", None
        )  # set by create_model; checkpoints rebuild the model from it
        if model_args is not None:
            model_args["num_support_vectors"] = self.num_support_vectors
        return {"num_support_vectors": self.num_support_vectors}


def _gammas(name: str, values: Sequence[Any]) -> tuple[float | str, ...]:
    """Gamma options: positive numbers (also as strings from ``--set``) or rules of :data:`GAMMA_RULES`."""
    result: list[float | str] = []
    for value in values if not isinstance(values, str) else [values]:
        if isinstance(value, str) and value.strip() in GAMMA_RULES:
            result.append(value.strip())
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = float("nan")
        if not number > 0:  # also NaN
            raise ValueError(
                f"{name} must hold positive numbers or {' / '.join(GAMMA_RULES)}, got {value!r} in {values!r}."
            )
        result.append(number)
    if not result:
        raise ValueError(f"{name} must hold at least one value (a positive number or {GAMMA_RULES[0]!r}).")
    return tuple(result)


def _resolve_gamma(option: float | str, x_scaled: np.ndarray) -> float:
    """The number a gamma option gives on the (standardised) training data, as scikit-learn computes it."""
    if option == "scale":
        variance = float(x_scaled.var())
        return 1.0 / (x_scaled.shape[1] * variance) if variance != 0 else 1.0
    if option == "auto":
        return 1.0 / x_scaled.shape[1]
    return float(option)


@register_model()
def rbf_svm(
    *,
    num_classes: int,
    num_features: int = 88,
    c_grid: tuple[float, ...] = (0.1, 1.0, 10.0, 100.0),
    gamma_grid: tuple[float | str, ...] = ("scale", 0.0001, 0.001, 0.01),
    c: float = 1.0,
    gamma: float | str = "scale",
    class_weight: str = "balanced",
    num_support_vectors: int = 0,
) -> RBFSVMClassifier:
    """RBF-kernel SVM on utterance functionals (eGeMAPS or ComParE + SVC, the classical non-linear reference)."""
    return RBFSVMClassifier(
        num_classes=num_classes,
        num_features=num_features,
        c_grid=c_grid,
        gamma_grid=gamma_grid,
        c=c,
        gamma=gamma,
        class_weight=class_weight,
        num_support_vectors=num_support_vectors,
    )
