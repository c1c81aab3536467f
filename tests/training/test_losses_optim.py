from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from serkit.models.losses import balanced_class_weights, focal_loss, mixup
from serkit.training.optim import build_optimizer, build_scheduler


def test_mixup_matches_its_formula():
    features = torch.randn(6, 5, 3)
    targets = torch.tensor([0, 1, 2, 3, 0, 1])
    mixed = mixup(features, targets, alpha=0.5, generator=torch.Generator().manual_seed(3))
    assert 0.0 <= mixed.lam <= 1.0
    # recover the permutation from targets_b and check x~ = lam x + (1 - lam) x[perm] row by row
    again = mixup(features, targets, alpha=0.5, generator=torch.Generator().manual_seed(3))
    assert again.lam == mixed.lam and torch.equal(again.features, mixed.features)
    for row in range(6):
        candidates = [j for j in range(6) if targets[j] == mixed.targets_b[row]]
        assert any(
            torch.allclose(mixed.features[row], mixed.lam * features[row] + (1 - mixed.lam) * features[j])
            for j in candidates
        )
    logits = torch.randn(6, 4)
    expected = mixed.lam * F.cross_entropy(logits, targets) + (1 - mixed.lam) * F.cross_entropy(
        logits, mixed.targets_b
    )
    assert torch.allclose(mixed.loss(lambda lo, t, **_: F.cross_entropy(lo, t), logits), expected)


def test_mixup_rejects_nonpositive_alpha():
    with pytest.raises(ValueError, match="alpha"):
        mixup(torch.zeros(2, 1, 1), torch.zeros(2, dtype=torch.long), 0.0, torch.Generator())


def test_focal_loss_reduces_to_cross_entropy_at_gamma_zero_and_downweights_easy():
    logits, targets = torch.randn(8, 4), torch.randint(0, 4, (8,))
    assert torch.allclose(focal_loss(logits, targets, gamma=0.0), F.cross_entropy(logits, targets), atol=1e-6)
    assert focal_loss(logits, targets, gamma=2.0) < F.cross_entropy(logits, targets)


def test_balanced_class_weights_zero_for_absent_class():
    weights = balanced_class_weights(np.array([0, 0, 0, 1]), 3)
    assert weights.tolist() == pytest.approx([4 / 6, 2.0, 0.0])


@pytest.mark.parametrize(
    "name, expected_after_two_epochs", [("exponential", 1e-3 * 0.5**2), ("step", 1e-3 * 0.5), ("none", 1e-3)]
)
def test_epoch_schedules(name, expected_after_two_epochs):
    model = torch.nn.Linear(2, 2)
    optimizer = build_optimizer("adam", model.parameters(), lr=1e-3)
    schedule = build_scheduler(name, optimizer, epochs=10, steps_per_epoch=3, gamma=0.5, step_size=2)
    for _ in range(2):
        optimizer.step()
        schedule.step("step")  # epoch schedules ignore per-step calls
        schedule.step("epoch")
    assert optimizer.param_groups[0]["lr"] == pytest.approx(expected_after_two_epochs)


def test_linear_warmup_then_decay_per_step():
    model = torch.nn.Linear(2, 2)
    optimizer = build_optimizer("adamw", model.parameters(), lr=1.0)
    schedule = build_scheduler("linear_warmup", optimizer, epochs=1, steps_per_epoch=10, warmup=0.2)
    rates = []
    for _ in range(10):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step("step")
    assert rates[0] == pytest.approx(0.5) and rates[1] == pytest.approx(1.0)
    assert rates[2] > rates[5] > rates[9] > 0


def test_min_lr_freezes_the_schedule():
    optimizer = build_optimizer("sgd_nesterov", torch.nn.Linear(2, 2).parameters(), lr=1e-3)
    schedule = build_scheduler("exponential", optimizer, epochs=5, steps_per_epoch=1, gamma=0.1, min_lr=1e-4)
    for _ in range(5):
        optimizer.step()
        schedule.step("epoch")
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-5)  # stepped once more at 1e-4, then frozen
