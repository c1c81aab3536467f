"""Classical regressors of emotion dimensions fitted in closed form by scikit-learn, served as torch models.

The reference of the dimensional challenges (AVEC, MSP-Podcast) is a linear regressor on utterance functionals
(eGeMAPS or ComParE, :mod:`serkit.features.opensmile`). :class:`ClosedFormRegressor` fits one scikit-learn
regressor per dimension (``linear_svr``: ``LinearSVR``; ``ridge``: ``Ridge``) on standardised functionals,
chooses its hyperparameter per dimension on the validation CCC, and copies the linear maps into a torch
``nn.Linear``, so checkpoints, :class:`~serkit.inference.recognizer.Recognizer` and ``predict_dimensions`` work with
it as with a network trained with ``task: regression``: ``forward`` gives the ``(batch, num_classes)`` values,
one column per dimension of the recipe's ``targets`` (``num_classes`` is the number of dimensions).

Each dimension is fitted on the training utterances rated on it (NaN = not rated, left out) with its own
standardisation, i.e. dimension ``d`` is ``make_pipeline(StandardScaler(), LinearSVR(...))`` fitted on the rated
rows; the model's ``mean`` and ``scale`` buffers are the statistics of the rows rated on any dimension and the
per-dimension maps are rewritten onto them (exact: the maps are linear). The targets are centred before fitting
(liblinear penalises the intercept; with a small C an uncentred fit would pull every prediction towards 0) and
their mean added back to the intercept. Like ``linear_svm``, the model is trained by the closed-form strategy
(:mod:`serkit.training.strategies`) and declares ``predicts_dimensions = True``, which that strategy requires of a
closed-form model under ``task: regression``. A recipe::

    task: regression
    targets: [arousal, valence, dominance]
    features: {name: egemaps}
    input: {mode: utterance}
    model: {name: linear_svr, args: {c_grid: [0.0001, 0.001, 0.01, 0.1]}}
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from serkit.models import register_model
from serkit.models.base import ChunkData, InputSpec, SERModel
from serkit.models.classical import MAX_ITER, feature_matrix, positive_floats, utterance_vectors
from serkit.models.layers import masked_mean

__all__ = ["ClosedFormRegressor", "LinearSVRRegressor", "RidgeRegressor", "linear_svr", "ridge"]

logger = logging.getLogger(__name__)


class ClosedFormRegressor(SERModel):
    """Standardisation + one linear scikit-learn regressor per dimension, fitted by :meth:`fit` (shared base).

    ``forward`` averages the valid frames of each chunk (one frame for functionals), standardises with the
    training ``mean`` and ``scale`` and applies ``head``: ``values = ((x - mean) / scale) @ weight.T + bias``, the
    regressors' ``predict``, in float64 (under bf16 autocast too: the values are not rounded to 3 digits). An
    unfitted model outputs zeros. A subclass names its hyperparameter (:attr:`param`),
    orders the grid (:meth:`_grid`) and fits one candidate (:meth:`_fit_estimator`).

    Args:
        num_classes: outputs, one per dimension.
        num_features: size of the input vector (88 for eGeMAPSv02 functionals).
        grid: hyperparameter values tried per dimension when a validation set is given.
        value: the hyperparameter used without a validation set.
    """

    input_spec = InputSpec(kind="frames", feature="egemaps")
    fits_in_closed_form = True
    predicts_dimensions = True
    #: The hyperparameter's name in the factory arguments (``<param>``, ``<param>_grid``) and in the fit report.
    param: ClassVar[str] = ""

    def __init__(self, *, num_classes: int, num_features: int, grid: Sequence[float], value: float) -> None:
        super().__init__()
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(
                f"num_classes (the number of dimensions) must be an integer >= 1, got {num_classes!r}."
            )
        if not isinstance(num_features, int) or num_features < 1:
            raise ValueError(f"num_features must be a positive integer, got {num_features!r}.")
        self.num_classes = num_classes
        self.num_features = num_features
        self.hidden_dim = num_features  # the "embedding" is the standardised input vector
        self.grid = positive_floats(f"{self.param}_grid", grid)
        self.value = positive_floats(self.param, [value])[0]
        # float64, as rbf_svm: autocast leaves float64 alone, so a run in bf16 precision evaluates the exact maps
        self.register_buffer("mean", torch.zeros(num_features, dtype=torch.float64))
        self.register_buffer("scale", torch.ones(num_features, dtype=torch.float64))
        self.head = nn.Linear(num_features, num_classes, dtype=torch.float64)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    # -- the model contract --------------------------------------------------------------------------------

    def forward_features(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """features (batch, frames, num_features), lengths (batch,) -> standardised mean frame (batch, num_features)."""
        return (masked_mean(features.to(self.mean.dtype), lengths) - self.mean) / self.scale

    def forward_head(self, embedding: torch.Tensor) -> torch.Tensor:
        """embedding (batch, num_features) -> dimension values (batch, num_classes) float64."""
        return self.head(embedding)

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """features (batch, frames, num_features), lengths (batch,) -> dimension values (batch, num_classes)."""
        return self.forward_head(self.forward_features(features, lengths))

    # -- fitting ---------------------------------------------------------------------------------------------

    def fit_chunks(
        self, train_set: ChunkData, val_set: ChunkData | None = None, *, seed: int = 0
    ) -> dict[str, Any]:
        """Fit on the utterances of chunk sets (:func:`~serkit.models.classical.utterance_vectors`), the dimensions
        named after the set's task; returns :meth:`fit`'s report."""
        has_val = val_set is not None and val_set.num_utterances > 0
        return self.fit(
            utterance_vectors(train_set),
            train_set.targets,
            utterance_vectors(val_set) if has_val else None,
            val_set.targets if has_val else None,
            seed=seed,
            names=train_set.task.dimensions or None,  # a ChunkSet's TaskSpec
        )

    def fit(
        self,
        train_features: np.ndarray,
        train_targets: np.ndarray,
        val_features: np.ndarray | None = None,
        val_targets: np.ndarray | None = None,
        *,
        seed: int = 0,
        names: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """Fit one regressor per dimension, choose each one's hyperparameter, copy the maps into tensors.

        With a validation set every value of the grid (:meth:`_grid`) is fitted on the training rows rated on the
        dimension and the one with the best validation CCC on the rows rated there is kept, the first in grid
        order on a tie (the validation data is never trained on); where that CCC is undefined for every value (no
        rated or only constant validation ratings) and without a validation set, the fixed value is used.

        Args:
            train_features: (num_utterances, num_features).
            train_targets: (num_utterances, num_classes) dimension values, NaN = not rated (a 1-D array when
                num_classes is 1).
            val_features: (num_val_utterances, num_features) or None.
            val_targets: (num_val_utterances, num_classes) or None.
            seed: ``random_state`` of the scikit-learn estimator.
            names: the dimension names, for the report (default ``dim0``, ``dim1``, ...).

        Returns:
            A JSON-serialisable report: ``num_train``, ``selection`` (``validation_ccc``, ``fixed_<param>``, or
            ``mixed`` when only some dimensions had a defined validation CCC), ``converged``, per dimension
            ``<param>_<name>`` and ``dimensions`` (``{name: {<param>, selection, num_train, converged, val_ccc,
            grid}}``: ``val_ccc`` of the chosen value, None when fixed; with validation ``grid``, one entry per
            value: ``<param>``, ``val_ccc`` (NaN where undefined), ``converged``), and the scores of the
            torch model named like the gradient loop's history: ``train_loss`` (1 - mean CCC), ``train_ccc``,
            ``train_ccc_<name>``, with validation also ``val_loss``, ``val_ccc``, ``val_ccc_<name>``.
        """
        from sklearn.preprocessing import StandardScaler

        names = self._names(names)
        x_train, y_train = self._check_data("train", train_features, train_targets)
        if (val_features is None) != (val_targets is None):
            raise ValueError("give both val_features and val_targets, or neither.")
        has_val = val_features is not None
        if has_val:
            x_val, y_val = self._check_data("val", val_features, val_targets)
        rated_any = np.isfinite(y_train).any(axis=1)
        overall = StandardScaler().fit(x_train[rated_any])
        weight = np.zeros((self.num_classes, self.num_features))
        bias = np.zeros(self.num_classes)
        dimensions: dict[str, Any] = {}
        for d, name in enumerate(names):
            rated = np.isfinite(y_train[:, d])
            if rated.sum() < 2:
                raise ValueError(
                    f"dimension {name!r} has {int(rated.sum())} rated training utterance(s); a regressor needs at "
                    "least 2 (check the targets and the fold)."
                )
            scaler = StandardScaler().fit(x_train[rated])
            x_scaled, y_rated = scaler.transform(x_train[rated]), y_train[rated, d]
            offset = float(y_rated.mean())
            grid: list[dict[str, Any]] = []
            best = None
            val_rated = np.isfinite(y_val[:, d]) if has_val else np.zeros(0, dtype=bool)
            if val_rated.any():  # else no validation rating: the fixed value, an empty grid
                x_val_scaled = scaler.transform(x_val[val_rated])
                for value in self._grid():
                    estimator, converged = self._fit_quietly(x_scaled, y_rated - offset, value, seed)
                    ccc = _ccc(y_val[val_rated, d], estimator.predict(x_val_scaled) + offset, name)
                    grid.append({self.param: value, "val_ccc": ccc, "converged": converged})
                    if not math.isnan(ccc) and (best is None or ccc > best[2]):  # a tie keeps the earlier
                        best = (estimator, value, ccc, converged)
            selection = "validation_ccc"
            if best is None:
                estimator, converged = self._fit_quietly(x_scaled, y_rated - offset, self.value, seed)
                best = (estimator, self.value, None, converged)  # no validation CCC measured
                selection = f"fixed_{self.param}"
            estimator, value, ccc, converged = best
            if not converged:
                logger.warning(
                    "%s (%s=%s) for %s stopped at its iteration limit before converging; results may be "
                    "slightly off.",
                    type(estimator).__name__,
                    self.param,
                    value,
                    name,
                )
            # rewrite the map on this dimension's standardisation onto the overall one: both are affine
            coef = np.ravel(estimator.coef_) / scaler.scale_  # on the raw features
            weight[d] = coef * overall.scale_
            bias[d] = (
                float(np.ravel(estimator.intercept_)[0]) + offset + coef @ (overall.mean_ - scaler.mean_)
            )
            dimensions[name] = {
                self.param: value,
                "selection": selection,
                "num_train": int(rated.sum()),
                "converged": converged,
                "val_ccc": ccc,
                **({"grid": grid} if has_val else {}),
            }
        selections = {entry["selection"] for entry in dimensions.values()}
        report: dict[str, Any] = {
            "num_train": int(rated_any.sum()),
            "selection": selections.pop() if len(selections) == 1 else "mixed",
            "converged": all(entry["converged"] for entry in dimensions.values()),
            **{f"{self.param}_{name}": entry[self.param] for name, entry in dimensions.items()},
            "dimensions": dimensions,
        }
        self._load(overall, weight, bias)
        report.update(self._scores("train", x_train, y_train, names))
        if has_val:
            report.update(self._scores("val", x_val, y_val, names))
        return report

    # -- what a family defines -------------------------------------------------------------------------------

    def _grid(self) -> list[float]:
        """The values tried on validation, in tie-breaking order (the earlier wins a tie)."""
        raise NotImplementedError

    def _fit_estimator(self, x: np.ndarray, y: np.ndarray, value: float, seed: int) -> Any:
        """A fitted scikit-learn linear regressor (``coef_``, ``intercept_``) for one value on centred targets."""
        raise NotImplementedError

    # -- helpers ---------------------------------------------------------------------------------------------

    def _names(self, names: Sequence[str] | None) -> list[str]:
        if names is None:
            return [f"dim{d}" for d in range(self.num_classes)]
        if len(names) != self.num_classes:
            raise ValueError(
                f"names has {len(names)} entries ({list(names)}); the model has {self.num_classes}."
            )
        return list(names)

    def _fit_quietly(self, x: np.ndarray, y: np.ndarray, value: float, seed: int) -> tuple[Any, bool]:
        """:meth:`_fit_estimator`, and whether it converged (no ``ConvergenceWarning``)."""
        from sklearn.exceptions import ConvergenceWarning

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            estimator = self._fit_estimator(x, y, value, seed)
        return estimator, not any(issubclass(w.category, ConvergenceWarning) for w in caught)

    @torch.no_grad()
    def _load(self, scaler: Any, weight: np.ndarray, bias: np.ndarray) -> None:
        self.mean.copy_(torch.as_tensor(scaler.mean_))
        self.scale.copy_(torch.as_tensor(scaler.scale_))  # sklearn already maps zero-variance features to 1
        self.head.weight.copy_(torch.as_tensor(weight))
        self.head.bias.copy_(torch.as_tensor(bias))

    @torch.no_grad()
    def _scores(self, part: str, x: np.ndarray, y: np.ndarray, names: list[str]) -> dict[str, float]:
        """CCC of the torch model on utterance vectors, keyed like the training loop's history."""
        from serkit.evaluation.regression import regression_metrics

        features = torch.as_tensor(x, dtype=self.mean.dtype).unsqueeze(1)  # (batch, 1 frame, num_features)
        values = self(features, torch.ones(len(x), dtype=torch.long)).numpy()
        metrics = regression_metrics(y, values, names)
        scores = {f"{part}_loss": 1.0 - metrics["ccc"], f"{part}_ccc": metrics["ccc"]}
        scores.update({f"{part}_ccc_{name}": metrics[f"ccc_{name}"] for name in names})
        return scores

    def _check_data(self, part: str, features: Any, targets: Any) -> tuple[np.ndarray, np.ndarray]:
        x, y = feature_matrix(part, features, self.num_features), np.asarray(targets)
        if y.ndim == 1 and self.num_classes == 1 and y.dtype.kind == "f":
            y = y[:, None]
        if y.shape != (len(x), self.num_classes) or y.dtype.kind != "f":
            raise ValueError(
                f"{part} targets must be dimension values of shape ({len(x)}, {self.num_classes}) (NaN = not "
                f"rated), got {y.dtype} of shape {y.shape}; {type(self).__name__} regresses emotion dimensions "
                "(task: regression), for classes use linear_svm or rbf_svm."
            )
        y = y.astype(np.float64)
        if np.isinf(y).any():
            raise ValueError(f"{part} targets contain infinity; not-rated values must be NaN.")
        if not np.isfinite(x).all():
            raise ValueError(f"{part} features contain NaN or infinity; check the feature extraction.")
        return x, y


def _ccc(truth: np.ndarray, prediction: np.ndarray, name: str) -> float:
    """The CCC of one dimension's rated utterances (NaN where undefined, see :mod:`serkit.evaluation.regression`)."""
    from serkit.evaluation.regression import regression_metrics  # audmetric: only when fitting

    return regression_metrics(truth[:, None], prediction[:, None], [name])["ccc"]


class LinearSVRRegressor(ClosedFormRegressor):
    """Standardisation + one ``LinearSVR`` (epsilon-insensitive loss, liblinear) per dimension.

    Args:
        num_classes: outputs, one per dimension.
        num_features: size of the input vector.
        c_grid: regularisation values tried per dimension on validation, from the smallest (the strongest
            regularisation wins a tie).
        c: the value used without a validation set.
        epsilon: half-width of the insensitive tube, on the [0, 1] target scale.
    """

    param = "c"

    def __init__(
        self, *, num_classes: int, num_features: int, c_grid: Sequence[float], c: float, epsilon: float
    ) -> None:
        super().__init__(num_classes=num_classes, num_features=num_features, grid=c_grid, value=c)
        if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not 0 <= epsilon < 1:
            raise ValueError(f"epsilon must be a number in [0, 1) (the target scale), got {epsilon!r}.")
        self.epsilon = float(epsilon)

    def _grid(self) -> list[float]:
        return sorted(set(self.grid))  # ascending C: a tie keeps the stronger regularisation

    def _fit_estimator(self, x: np.ndarray, y: np.ndarray, value: float, seed: int) -> Any:
        from sklearn.svm import LinearSVR

        svr = LinearSVR(C=value, epsilon=self.epsilon, dual="auto", max_iter=MAX_ITER, random_state=seed)
        return svr.fit(x, y)


class RidgeRegressor(ClosedFormRegressor):
    """Standardisation + one ``Ridge`` (least squares with an L2 penalty, solved exactly) per dimension.

    Args:
        num_classes: outputs, one per dimension.
        num_features: size of the input vector.
        alpha_grid: penalties tried per dimension on validation, from the largest (the strongest regularisation
            wins a tie).
        alpha: the penalty used without a validation set.
    """

    param = "alpha"

    def __init__(
        self, *, num_classes: int, num_features: int, alpha_grid: Sequence[float], alpha: float
    ) -> None:
        super().__init__(num_classes=num_classes, num_features=num_features, grid=alpha_grid, value=alpha)

    def _grid(self) -> list[float]:
        return sorted(
            set(self.grid), reverse=True
        )  # descending alpha: a tie keeps the stronger regularisation

    def _fit_estimator(self, x: np.ndarray, y: np.ndarray, value: float, seed: int) -> Any:
        from sklearn.linear_model import Ridge

        return Ridge(alpha=value).fit(x, y)


@register_model()
def linear_svr(
    *,
    num_classes: int,
    num_features: int = 88,
    c_grid: tuple[float, ...] = (0.0001, 0.001, 0.01, 0.1, 1.0),
    c: float = 0.01,
    epsilon: float = 0.0,
) -> LinearSVRRegressor:
    """Linear SVR per dimension on utterance functionals (the AVEC / MSP-Podcast baseline)."""
    return LinearSVRRegressor(
        num_classes=num_classes, num_features=num_features, c_grid=c_grid, c=c, epsilon=epsilon
    )


@register_model()
def ridge(
    *,
    num_classes: int,
    num_features: int = 88,
    alpha_grid: tuple[float, ...] = (1.0, 10.0, 100.0, 1000.0, 10000.0),
    alpha: float = 10.0,
) -> RidgeRegressor:
    """Ridge regression per dimension on utterance functionals."""
    return RidgeRegressor(
        num_classes=num_classes, num_features=num_features, alpha_grid=alpha_grid, alpha=alpha
    )
