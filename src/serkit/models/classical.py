"""Classical classifiers fitted in closed form by scikit-learn, served as ordinary torch models.

The reference every SER paper reports is a linear SVM on utterance functionals (eGeMAPS, see
:mod:`serkit.features.opensmile`). :class:`LinearSVMClassifier` fits scikit-learn's ``StandardScaler`` and
``LinearSVC`` and then copies the scaler statistics and the hyperplanes into torch tensors, so that checkpoints,
:class:`~serkit.inference.recognizer.Recognizer` and :func:`~serkit.training.data.utterance_logits` work with it
exactly as with a network. Its ``forward`` is ``LinearSVC.decision_function`` computed in torch, and the argmax of
its logits is ``LinearSVC.predict``.

Such models declare ``fits_in_closed_form = True`` (:class:`~serkit.models.base.SERModel`), and the closed-form
training strategy (:mod:`serkit.training.strategies`) calls :meth:`LinearSVMClassifier.fit_chunks` instead of the
gradient loop. :class:`ClosedFormClassifier` holds what such families share (standardisation, the hyperparameter
selection on validation UA, the scores); :mod:`serkit.models.kernel_svm` (``rbf_svm``) is the other family on it.
A recipe::

    features: {name: egemaps}
    input: {mode: utterance}
    model: {name: linear_svm, args: {c_grid: [0.001, 0.01, 0.1, 1.0]}}
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from serkit.models import register_model
from serkit.models.base import ChunkData, InputSpec, SERModel
from serkit.models.layers import masked_mean

__all__ = [
    "ABSENT_CLASS_BIAS",
    "CLASS_WEIGHTS",
    "ClosedFormClassifier",
    "LinearSVMClassifier",
    "feature_matrix",
    "linear_svm",
    "positive_floats",
    "utterance_vectors",
]

logger = logging.getLogger(__name__)

#: ``class_weight`` choices -> scikit-learn's value. "balanced" weighs classes by inverse frequency (UA-friendly).
CLASS_WEIGHTS: dict[str, str | None] = {"balanced": "balanced", "none": None}

#: LinearSVC iteration cap: liblinear's default (1000) often stops short on a few thousand standardised
#: utterances with C = 1; the fit reports whether it converged.
MAX_ITER = 10_000

#: Bias of a class absent from the training part. LinearSVC has no hyperplane for it and never predicts it; a large
#: negative (but finite, so softmax and cross-entropy stay finite) logit keeps torch's argmax equal to its predict.
ABSENT_CLASS_BIAS = -1e4


def feature_matrix(part: str, features: Any, num_features: int) -> np.ndarray:
    """``features`` of one part (``train``, ``val``) as a float64 (num_utterances, num_features) matrix, or a
    ValueError naming the part: another shape, or no utterance at all."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != num_features:
        raise ValueError(
            f"{part} features must have shape (num_utterances, {num_features}), got {x.shape}; set the "
            "model's num_features to the feature size."
        )
    if len(x) == 0:
        raise ValueError(f"the {part} part is empty; there is nothing to fit or score.")
    return x


def utterance_vectors(dataset: ChunkData) -> np.ndarray:
    """One vector per utterance: the mean over its chunks of each chunk's mean frame.

    For a linear classifier the logits of this vector equal the mean of the chunk logits that
    :func:`~serkit.training.data.utterance_logits` computes at evaluation, so training and evaluation see the same
    utterance representation (for functionals, one chunk of one frame, it is the chunk itself; a non-linear
    classifier such as ``rbf_svm`` sees the same representation only with one chunk per utterance).

    Args:
        dataset: chunks, each (frames, num_features).

    Returns:
        vectors: (num_utterances, num_features) float64.
    """
    if len(dataset) == 0:
        raise ValueError("the chunk set is empty; there is nothing to fit.")
    num_features = dataset.chunks[0].shape[-1]
    sums = np.zeros((dataset.num_utterances, num_features))
    counts = np.zeros(dataset.num_utterances)
    for chunk, owner in zip(dataset.chunks, dataset.chunk_utterance):
        sums[owner] += chunk.mean(axis=0, dtype=np.float64)
        counts[owner] += 1
    if (counts == 0).any():
        missing = [dataset.utterance_ids[i] for i in np.flatnonzero(counts == 0)[:3]]
        raise ValueError(f"utterances without any chunk, e.g. {missing}; drop them before fitting.")
    return sums / counts[:, None]


class ClosedFormClassifier(SERModel):
    """Standardisation + a scikit-learn classifier, fitted by :meth:`fit` and evaluated in torch (shared base).

    Holds what every closed-form family shares: the argument checks, the training ``mean`` and ``scale``
    buffers, fitting the scaler, the hyperparameter selection on validation UA, and the training/validation
    scores. A subclass says which hyperparameters it tries (:meth:`_grid`, :meth:`_fixed`), how one candidate is
    fitted (:meth:`_fit_estimator`) and how the fitted estimator is copied into its tensors (:meth:`_load`), and
    implements :meth:`forward_head` on the standardised vector.

    Args:
        num_classes: outputs.
        num_features: size of the input vector (88 for eGeMAPSv02 functionals).
        class_weight: a key of :data:`CLASS_WEIGHTS`.
        dtype: of the standardisation buffers (and of the input once averaged).
    """

    input_spec = InputSpec(kind="frames", feature="egemaps")
    #: Trained by :meth:`fit_chunks` (the closed-form strategy) instead of the gradient loop.
    fits_in_closed_form = True
    #: ``selection`` of the fit report when there is no validation set (the fixed hyperparameters are used).
    fixed_selection: ClassVar[str] = "fixed"

    def __init__(
        self, *, num_classes: int, num_features: int, class_weight: str, dtype: torch.dtype = torch.float32
    ) -> None:
        super().__init__()
        if not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}.")
        if not isinstance(num_features, int) or num_features < 1:
            raise ValueError(f"num_features must be a positive integer, got {num_features!r}.")
        if class_weight not in CLASS_WEIGHTS:
            raise ValueError(
                f"class_weight={class_weight!r} is not one of {', '.join(map(repr, CLASS_WEIGHTS))}."
            )
        self.class_weight = class_weight
        self.num_classes = num_classes
        self.num_features = num_features
        self.hidden_dim = num_features  # the "embedding" is the standardised input vector
        self.register_buffer("mean", torch.zeros(num_features, dtype=dtype))
        self.register_buffer("scale", torch.ones(num_features, dtype=dtype))

    # -- the model contract --------------------------------------------------------------------------------

    def forward_features(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """features (batch, frames, num_features), lengths (batch,) -> standardised mean frame (batch, num_features)."""
        return (masked_mean(features.to(self.mean.dtype), lengths) - self.mean) / self.scale

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """features (batch, frames, num_features), lengths (batch,) -> logits (batch, num_classes)."""
        return self.forward_head(self.forward_features(features, lengths))

    # -- fitting ---------------------------------------------------------------------------------------------

    def fit_chunks(
        self, train_set: ChunkData, val_set: ChunkData | None = None, *, seed: int = 0
    ) -> dict[str, Any]:
        """Fit on the utterances of chunk sets (see :func:`utterance_vectors`); returns :meth:`fit`'s report."""
        has_val = val_set is not None and val_set.num_utterances > 0
        return self.fit(
            utterance_vectors(train_set),
            train_set.targets,
            utterance_vectors(val_set) if has_val else None,
            val_set.targets if has_val else None,
            seed=seed,
        )

    def fit(
        self,
        train_features: np.ndarray,
        train_targets: np.ndarray,
        val_features: np.ndarray | None = None,
        val_targets: np.ndarray | None = None,
        *,
        seed: int = 0,
    ) -> dict[str, Any]:
        """Fit scaler and classifier with scikit-learn, choose the hyperparameters, copy the result into tensors.

        With a validation set every candidate of the grid (:meth:`_grid`) is fitted on the training data and the
        one with the best validation UA is kept, the first in grid order on a tie (the validation data is never
        trained on); without one, the fixed hyperparameters (:meth:`_fixed`) are used.

        Args:
            train_features: (num_utterances, num_features).
            train_targets: (num_utterances,) class indices in ``[0, num_classes)``, at least two classes.
            val_features: (num_val_utterances, num_features) or None.
            val_targets: (num_val_utterances,) or None.
            seed: ``random_state`` of the scikit-learn estimator.

        Returns:
            A JSON-serialisable report: the chosen hyperparameters (``c``, ...), ``selection``
            (``"validation_ua"`` or :attr:`fixed_selection`), ``converged``, ``num_train``, what :meth:`_load`
            adds, ``train_loss`` (cross-entropy of the logits), ``train_wa``, ``train_ua``, with validation also
            ``val_loss``, ``val_wa``, ``val_ua``, ``val_macro_f1`` and ``grid`` (one entry per candidate: its
            hyperparameters, ``val_ua``, ``val_wa``, ``converged``), named like the gradient loop's history.
        """
        from sklearn.preprocessing import StandardScaler

        from serkit.evaluation.metrics import classification_metrics  # scikit-learn: only when fitting

        x_train, y_train = self._check_data("train", train_features, train_targets)
        if (val_features is None) != (val_targets is None):
            raise ValueError("give both val_features and val_targets, or neither.")
        present = np.unique(y_train)
        if len(present) < 2:
            raise ValueError(
                f"the training part has only class {present.tolist()}; an SVM needs at least two "
                "classes (check the fold and the label set)."
            )
        scaler = StandardScaler().fit(x_train)
        x_train_scaled = scaler.transform(x_train)
        label_names = [f"class{i}" for i in range(self.num_classes)]  # metrics only need distinct names
        report: dict[str, Any] = {"num_train": len(y_train)}

        if val_features is None:
            params = self._fixed(x_train_scaled)
            estimator, converged = self._fit_quietly(x_train_scaled, y_train, params, seed)
            report.update(params, selection=self.fixed_selection, converged=converged)
        else:
            x_val, y_val = self._check_data("val", val_features, val_targets)
            x_val_scaled = scaler.transform(x_val)
            best, grid = None, []
            for params in self._grid(x_train_scaled):
                candidate, converged = self._fit_quietly(x_train_scaled, y_train, params, seed)
                metrics = classification_metrics(y_val, candidate.predict(x_val_scaled), label_names)
                grid.append(
                    {**params, "val_ua": metrics["ua"], "val_wa": metrics["wa"], "converged": converged}
                )
                if best is None or metrics["ua"] > best[2]:  # strictly better: a tie keeps the earlier one
                    best = (candidate, params, metrics["ua"], converged)
            estimator, params, _, converged = best
            report.update(params, selection="validation_ua", converged=converged, grid=grid)
        if not converged:
            logger.warning(
                "%s (%s) stopped at its iteration limit before converging; results may be slightly off.",
                type(estimator).__name__,
                params,
            )
        report.update(self._load(scaler, estimator))

        report.update(self._scores("train", x_train, y_train, label_names))
        if val_features is not None:
            report.update(self._scores("val", x_val, y_val, label_names))
        return report

    # -- what a family defines -------------------------------------------------------------------------------

    def _grid(self, x_scaled: np.ndarray) -> list[dict[str, Any]]:
        """The candidates tried on validation, in tie-breaking order (the earlier wins a tie)."""
        raise NotImplementedError

    def _fixed(self, x_scaled: np.ndarray) -> dict[str, Any]:
        """The hyperparameters used without a validation set."""
        raise NotImplementedError

    def _fit_estimator(self, x: np.ndarray, y: np.ndarray, params: dict[str, Any], seed: int) -> Any:
        """A fitted scikit-learn classifier for one candidate."""
        raise NotImplementedError

    def _load(self, scaler: Any, estimator: Any) -> dict[str, Any]:
        """Copy the fitted scaler and estimator into this module's tensors; returns additions to the report."""
        raise NotImplementedError

    # -- shared helpers --------------------------------------------------------------------------------------

    def _fit_quietly(
        self, x: np.ndarray, y: np.ndarray, params: dict[str, Any], seed: int
    ) -> tuple[Any, bool]:
        """:meth:`_fit_estimator`, and whether it converged (no ``ConvergenceWarning``)."""
        from sklearn.exceptions import ConvergenceWarning

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            estimator = self._fit_estimator(x, y, params, seed)
        return estimator, not any(issubclass(w.category, ConvergenceWarning) for w in caught)

    @torch.no_grad()
    def _load_scaler(self, scaler: Any) -> None:
        self.mean.copy_(torch.as_tensor(scaler.mean_))
        self.scale.copy_(torch.as_tensor(scaler.scale_))  # sklearn already maps zero-variance features to 1

    @torch.no_grad()
    def _scores(self, part: str, x: np.ndarray, y: np.ndarray, label_names: list[str]) -> dict[str, float]:
        """Loss and metrics of the torch model on utterance vectors, keyed like the training loop's history."""
        from serkit.evaluation.metrics import classification_metrics

        features = torch.as_tensor(x, dtype=self.mean.dtype).unsqueeze(1)  # (batch, 1 frame, num_features)
        logits = self(features, torch.ones(len(x), dtype=torch.long))
        loss = torch.nn.functional.cross_entropy(logits, torch.as_tensor(y)).item()
        metrics = classification_metrics(y, logits.argmax(1).numpy(), label_names)
        scores = {f"{part}_loss": loss, f"{part}_wa": metrics["wa"], f"{part}_ua": metrics["ua"]}
        if part == "val":
            scores["val_macro_f1"] = metrics["macro_f1"]
        return scores

    def _check_data(self, part: str, features: Any, targets: Any) -> tuple[np.ndarray, np.ndarray]:
        x, y = feature_matrix(part, features, self.num_features), np.asarray(targets)
        if y.shape != (len(x),) or y.dtype.kind not in "iu":
            raise ValueError(
                f"{part} targets must be {len(x)} integer class indices, got {y.dtype} of shape {y.shape}."
            )
        if ((y < 0) | (y >= self.num_classes)).any():
            raise ValueError(
                f"{part} targets must be in [0, {self.num_classes}), got values "
                f"{sorted(set(y[(y < 0) | (y >= self.num_classes)].tolist()))[:5]} (unlabelled "
                "utterances cannot be fitted)."
            )
        if not np.isfinite(x).all():
            raise ValueError(f"{part} features contain NaN or infinity; check the feature extraction.")
        return x, y.astype(np.int64)


class LinearSVMClassifier(ClosedFormClassifier):
    """Standardisation + linear SVM (one-vs-rest ``LinearSVC``), fitted by :meth:`fit`, evaluated in torch.

    ``forward`` averages the valid frames of each chunk (one frame for functionals), standardises with the
    training mean and scale, and applies the hyperplanes: ``logits = ((x - mean) / scale) @ weight.T + bias``,
    i.e. ``LinearSVC.decision_function``. With two classes LinearSVC has one hyperplane ``d``; the logits are then
    ``[0, d]`` so that the argmax is its ``predict``. An unfitted model outputs zeros.

    Args:
        num_classes: outputs.
        num_features: size of the input vector (88 for eGeMAPSv02 functionals).
        c_grid: SVM regularisation values tried when a validation set is given (the best validation UA wins;
            ties go to the smaller C, i.e. the stronger regularisation).
        c: the value used when there is no validation set.
        class_weight: a key of :data:`CLASS_WEIGHTS`.
    """

    fixed_selection = "fixed_c"

    def __init__(
        self, *, num_classes: int, num_features: int, c_grid: Sequence[float], c: float, class_weight: str
    ) -> None:
        super().__init__(num_classes=num_classes, num_features=num_features, class_weight=class_weight)
        self.c_grid = positive_floats("c_grid", c_grid)
        self.c = positive_floats("c", [c])[0]
        self.head = nn.Linear(num_features, num_classes)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward_head(self, embedding: torch.Tensor) -> torch.Tensor:
        """embedding (batch, num_features) -> logits (batch, num_classes), the SVM decision values."""
        return self.head(embedding)

    def _grid(self, x_scaled: np.ndarray) -> list[dict[str, Any]]:
        return [{"c": c} for c in sorted(set(self.c_grid))]  # ascending: a tie keeps the smaller C

    def _fixed(self, x_scaled: np.ndarray) -> dict[str, Any]:
        return {"c": self.c}

    def _fit_estimator(self, x: np.ndarray, y: np.ndarray, params: dict[str, Any], seed: int) -> Any:
        from sklearn.svm import LinearSVC

        svm = LinearSVC(
            C=params["c"],
            class_weight=CLASS_WEIGHTS[self.class_weight],
            dual="auto",
            max_iter=MAX_ITER,
            random_state=seed,  # liblinear shuffles only when solving the dual problem
        )
        return svm.fit(x, y)

    @torch.no_grad()
    def _load(self, scaler: Any, estimator: Any) -> dict[str, Any]:
        """Copy a fitted StandardScaler and LinearSVC into ``mean``, ``scale`` and ``head``."""
        classes = estimator.classes_.astype(np.int64)
        coef = torch.as_tensor(
            estimator.coef_, dtype=self.head.weight.dtype
        )  # (num_hyperplanes, num_features)
        intercept = torch.as_tensor(estimator.intercept_, dtype=self.head.bias.dtype)  # (num_hyperplanes,)
        weight = torch.zeros_like(self.head.weight)  # (num_classes, num_features)
        bias = torch.full_like(self.head.bias, ABSENT_CLASS_BIAS)
        if len(classes) == 2:  # one hyperplane: positive side = classes[1]
            weight[classes[1]], bias[classes[1]] = coef[0], intercept[0]
            bias[classes[0]] = 0.0
        else:
            weight[classes], bias[classes] = coef, intercept
        self.head.weight.copy_(weight)
        self.head.bias.copy_(bias)
        self._load_scaler(scaler)
        return {}


def positive_floats(name: str, values: Sequence[Any]) -> tuple[float, ...]:
    """Values (numbers, or strings from ``--set model.args.c_grid=0.01,0.1``) as positive floats."""
    try:
        result = tuple(float(value) for value in values)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must hold positive numbers, got {values!r}.") from None
    if not result or any(not value > 0 for value in result):
        raise ValueError(f"{name} must hold at least one number and all must be > 0, got {values!r}.")
    return result


@register_model()
def linear_svm(
    *,
    num_classes: int,
    num_features: int = 88,
    c_grid: tuple[float, ...] = (0.001, 0.01, 0.1, 1.0),
    c: float = 0.01,
    class_weight: str = "balanced",
) -> LinearSVMClassifier:
    """Linear SVM on utterance functionals (eGeMAPS + linear SVM, the classical SER reference)."""
    return LinearSVMClassifier(
        num_classes=num_classes, num_features=num_features, c_grid=c_grid, c=c, class_weight=class_weight
    )
