"""Losses of the training strategies: cross-entropy (optionally class-weighted), focal loss, mixup, multi-label
BCE and the contrastive terms; registered by name so that a recipe is checked (serkit.recipe) before any work.

Every registered loss takes the same keywords (``weight``, ``gamma``, ``label_smoothing``) and uses those it has, so
the loop and mixup pass one set. ``label_smoothing`` eps replaces the one-hot target by ``(1 - eps) * one_hot +
eps / num_classes`` (torch's definition); multi-label BCE moves each 0/1 label eps / 2 towards 0.5."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils.class_weight import compute_class_weight

from serkit.core.registry import Registry
from serkit.data.task import TaskSpec

__all__ = [
    "CONTRASTIVE_LOSSES",
    "DIMENSION_LOSSES",
    "LOSSES",
    "MixedBatch",
    "balanced_class_weights",
    "ccc_loss",
    "focal_loss",
    "mixup",
    "multilabel_bce",
    "pairwise_contrastive",
    "supervised_contrastive",
    "task_objective",
]

LOSSES: Registry = Registry("loss")
#: Contrastive terms for ``train.contrastive`` (used when ``train.contrastive_weight`` > 0).
CONTRASTIVE_LOSSES: Registry = Registry("contrastive loss")
#: Losses of emotion dimensions (``train.dimension_loss``, tasks regression and multitask): ``fn(values, targets)``
#: with both (batch, num_dimensions), targets on [0, 1] and NaN where an utterance was not rated on a dimension.
DIMENSION_LOSSES: Registry = Registry("dimension loss")


@LOSSES.register("cross_entropy")
def cross_entropy(
    logits: torch.Tensor,
    targets: torch.Tensor,
    *,
    weight: torch.Tensor | None = None,
    gamma: float = 0.0,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """logits (batch, num_classes), targets (batch,) int -> scalar mean loss."""
    return F.cross_entropy(logits, targets, weight=weight, label_smoothing=label_smoothing)


@LOSSES.register("bce")
def multilabel_bce(
    logits: torch.Tensor,
    targets: torch.Tensor,
    *,
    weight: torch.Tensor | None = None,
    gamma: float = 0.0,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """Multi-label binary cross-entropy on logits (MOSEI emotions; a label is predicted where its logit > 0).

    logits (batch, num_labels), targets (batch, num_labels) 0/1 -> scalar mean over examples and labels;
    ``weight`` (num_labels,) scales each label's term. The original summed (``reduction='sum'``), which only
    rescales the gradient (Adam is invariant to that scale). ``label_smoothing`` eps trains towards
    ``1 - eps / 2`` and ``eps / 2`` (two classes per label, as in the single-label definition).
    """
    if targets.shape != logits.shape:
        raise ValueError(
            f"bce loss: targets {tuple(targets.shape)} must be multi-hot like the logits "
            f"{tuple(logits.shape)}; use a multi-label label source (one 0/1 column per label)."
        )
    smoothed = targets.to(logits.dtype) * (1.0 - label_smoothing) + label_smoothing / 2
    return F.binary_cross_entropy_with_logits(logits, smoothed, weight=weight)


@LOSSES.register("focal")
def focal_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    *,
    weight: torch.Tensor | None = None,
    gamma: float = 2.0,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """Focal loss (Lin et al. 2017): ``-(1 - p_t)^gamma * log p_t``, optionally class-weighted; gamma 0 = CE.

    With ``label_smoothing`` eps: ``-sum_k q_k (1 - p_k)^gamma log p_k`` over the smoothed target ``q``, which at
    gamma 0 without weights is cross-entropy with the same smoothing; ``weight`` weighs an example by its class.
    """
    log_probs = F.log_softmax(logits, dim=-1)
    log_p_true = log_probs.gather(1, targets.unsqueeze(1)).squeeze(1)  # (batch,)
    loss = -((1.0 - log_p_true.exp()) ** gamma) * log_p_true
    if label_smoothing:
        # eps spread evenly over all classes (the true one included): q = (1 - eps) one_hot + eps / num_classes
        every_class = -((1.0 - log_probs.exp()) ** gamma) * log_probs  # (batch, num_classes)
        loss = (1.0 - label_smoothing) * loss + label_smoothing * every_class.mean(dim=-1)
    if weight is not None:
        w = weight[targets]
        return (loss * w).sum() / w.sum()
    return loss.mean()


@CONTRASTIVE_LOSSES.register("supervised")
def supervised_contrastive(
    embeddings: torch.Tensor, targets: torch.Tensor, *, temperature: float = 0.1
) -> torch.Tensor:
    """Supervised contrastive loss (Khosla et al. 2020, "L_out") on L2-normalised embeddings.

    For each anchor, ``-mean over positives p of log(exp(z_a.z_p / t) / sum over others k of exp(z_a.z_k / t))``;
    anchors without a positive in the batch are left out (0 if none has one). Gradients flow into ``embeddings``
    (CASE's original detached them, so the term never trained anything).

    Args:
        embeddings: (batch, hidden_dim). targets: (batch,) class indices.
    """
    z = F.normalize(embeddings.float(), dim=1)
    similarity = z @ z.T / temperature  # (batch, batch)
    self_mask = torch.eye(len(z), dtype=torch.bool, device=z.device)
    similarity = similarity.masked_fill(self_mask, float("-inf"))
    log_prob = similarity - torch.logsumexp(similarity, dim=1, keepdim=True)
    positives = (targets[:, None] == targets[None, :]) & ~self_mask
    has_positive = positives.any(dim=1)
    if not bool(has_positive.any()):
        return embeddings.sum() * 0.0  # keeps the graph (and the device) without changing the loss
    per_anchor = -(log_prob.masked_fill(~positives, 0.0).sum(dim=1)) / positives.sum(dim=1).clamp_min(1)
    return per_anchor[has_positive].mean()


@CONTRASTIVE_LOSSES.register("case_pairwise")
def pairwise_contrastive(
    embeddings: torch.Tensor, targets: torch.Tensor, *, temperature: float = 0.05
) -> torch.Tensor:
    """CASE's contrastive term (``utils/contrastive.py``), with its gradient: for every ordered pair i != j,
    ``BCEWithLogits(cos(z_i, z_j) / temperature, same label)``, averaged over pairs. The original collected the
    pair logits with ``torch.tensor(list)``, which detached them; here they stay in the graph.

    Args:
        embeddings: (batch, hidden_dim). targets: (batch,) class indices.
    """
    z = F.normalize(embeddings.float(), dim=1)
    off_diagonal = ~torch.eye(len(z), dtype=torch.bool, device=z.device)
    if not bool(off_diagonal.any()):
        return embeddings.sum() * 0.0  # a batch of one has no pair
    logits = (z @ z.T / temperature)[off_diagonal]  # (batch * (batch - 1),)
    same = (targets[:, None] == targets[None, :])[off_diagonal].float()
    return F.binary_cross_entropy_with_logits(logits, same)


def balanced_class_weights(targets: np.ndarray, num_classes: int) -> torch.Tensor:
    """scikit-learn's 'balanced' weights ``n / (k * count_c)``; classes absent from ``targets`` get weight 0."""
    present = np.unique(targets)
    weights = np.zeros(num_classes, dtype=np.float32)
    weights[present] = compute_class_weight("balanced", classes=present, y=targets)
    return torch.from_numpy(weights)


class MixedBatch:
    """A mixup batch: ``features = lam * x + (1 - lam) * x[perm]``; the loss mixes the two targets the same way."""

    def __init__(self, features: torch.Tensor, targets_a: torch.Tensor, targets_b: torch.Tensor, lam: float):
        self.features, self.targets_a, self.targets_b, self.lam = features, targets_a, targets_b, lam

    def loss(self, loss_fn, logits: torch.Tensor, **kwargs) -> torch.Tensor:
        return self.lam * loss_fn(logits, self.targets_a, **kwargs) + (1 - self.lam) * loss_fn(
            logits, self.targets_b, **kwargs
        )


def mixup(
    features: torch.Tensor, targets: torch.Tensor, alpha: float, generator: torch.Generator
) -> MixedBatch:
    """Mixup (Zhang et al. 2018) as GLAM uses it: one ``lam ~ Beta(alpha, alpha)`` per batch, a random pairing.

    Args:
        features: (batch, frames, num_features). targets: (batch,).
        alpha: Beta parameter (> 0).
        generator: seeded torch generator (keeps runs reproducible and resumable).
    """
    if alpha <= 0:
        raise ValueError(f"mixup alpha={alpha} must be > 0 (use 0 in the recipe to switch mixup off).")
    lam = _beta_sample(alpha, generator)
    perm = torch.randperm(features.shape[0], generator=generator).to(features.device)
    mixed = lam * features + (1.0 - lam) * features[perm]
    return MixedBatch(mixed, targets, targets[perm], lam)


def _beta_sample(alpha: float, generator: torch.Generator) -> float:
    """One Beta(alpha, alpha) draw from a seeded generator (numpy Generator seeded from it)."""
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
    return float(np.random.default_rng(seed).beta(alpha, alpha))


def _rated_columns(values: torch.Tensor, targets: torch.Tensor):
    """(column values, column targets) of each dimension over its rated rows (targets not NaN)."""
    for column in range(targets.shape[1]):
        rated = ~torch.isnan(targets[:, column])
        yield values[rated, column].float(), targets[rated, column].float()


@DIMENSION_LOSSES.register("ccc")
def ccc_loss(values: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``1 - CCC`` averaged over the dimensions, CCC computed over the batch (the usual loss of dimensional SER:
    it rewards matching the spread and the mean, not only the ranking).

    ``CCC = 2 cov(x, y) / (var x + var y + (mean x - mean y)^2)`` with population moments, per dimension on the
    rows rated on it; a dimension with fewer than two rated rows in the batch is left out (0 loss if none has two).
    The metric of the reports is audmetric's (:mod:`serkit.evaluation.regression`); this is the same formula in
    torch because a loss needs gradients.

    Args:
        values: (batch, num_dimensions) predictions. targets: (batch, num_dimensions), NaN = not rated.
    """
    terms = []
    for x, y in _rated_columns(values, targets):
        if len(x) < 2:
            continue
        x_mean, y_mean = x.mean(), y.mean()
        covariance = ((x - x_mean) * (y - y_mean)).mean()
        denominator = x.var(unbiased=False) + y.var(unbiased=False) + (x_mean - y_mean) ** 2
        terms.append(1.0 - 2.0 * covariance / denominator.clamp_min(1e-8))
    return torch.stack(terms).mean() if terms else values.sum() * 0.0


@DIMENSION_LOSSES.register("mse")
def dimension_mse(values: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the rated entries (NaN targets left out). values, targets: (batch, dims)."""
    rated = ~torch.isnan(targets)
    if not bool(rated.any()):
        return values.sum() * 0.0
    return F.mse_loss(values.float()[rated], targets.float()[rated])


def task_objective(task: TaskSpec, loss_fn, dimension_fn, **loss_kwargs):
    """The training loss of a task (:mod:`serkit.data.task`) as ``objective(outputs, targets) -> scalar``.

    Classification: ``loss_fn`` on the logits. Regression: ``dimension_fn`` on the values. Multitask: the class
    loss on the first ``C`` outputs plus ``task.dimension_weight`` times the dimension loss on the rest (targets
    ``(batch, 1 + D)``: the class index, then the values).
    """
    if task.kind == "classification":
        return lambda outputs, targets: loss_fn(outputs, targets, **loss_kwargs)
    if task.kind == "regression":
        return dimension_fn
    classes = len(task.classes)

    def multitask(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        class_loss = loss_fn(outputs[:, :classes], targets[:, 0].long(), **loss_kwargs)
        return class_loss + task.dimension_weight * dimension_fn(outputs[:, classes:], targets[:, 1:])

    return multitask
