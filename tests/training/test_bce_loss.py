"""The bce loss of multi-label targets (MOSEI emotions: a label is present where its logit is > 0)."""

from __future__ import annotations

import pytest
import torch

from serkit.models.losses import LOSSES


def test_bce_loss_on_multi_hot_targets():
    bce = LOSSES.get("bce")
    logits = torch.tensor([[2.0, -1.0], [0.0, 3.0]])
    targets = torch.tensor([[1, 0], [0, 1]])
    expected = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets.float())
    torch.testing.assert_close(bce(logits, targets), expected)
    weighted = bce(logits, targets, weight=torch.tensor([1.0, 0.0]))  # second label switched off
    torch.testing.assert_close(
        weighted,
        torch.nn.functional.binary_cross_entropy_with_logits(
            logits, targets.float(), weight=torch.tensor([1.0, 0.0])
        ),
    )
    with pytest.raises(ValueError, match="multi-hot"):
        bce(logits, torch.tensor([0, 1]))
