"""The loss (card tests 4 and 5): log(num_masked) for equal logits, near 0 for a dominant correct candidate,
invariant to the order of the masked patches, and the batched form equals the card's loop."""

from __future__ import annotations

import math

import torch
from forwardkit_selfie.loss import selfie_logits, selfie_loss, selfie_loss_reference


def test_equal_logits_give_log_m():
    for m in (2, 4, 7):
        loss, _ = selfie_loss(torch.zeros(3, m, m))
        assert math.isclose(float(loss), math.log(m), rel_tol=1e-6)


def test_a_dominant_correct_candidate_gives_zero():
    logits = torch.eye(4).expand(2, 4, 4) * 50.0
    loss, top1 = selfie_loss(logits)
    assert float(loss) < 1e-10 and float(top1) == 1.0
    loss_wrong, top1_wrong = selfie_loss(torch.eye(4).flip(1).expand(2, 4, 4) * 50.0)
    assert float(loss_wrong) > 40 and float(top1_wrong) == 0.0


def test_shuffling_the_masked_patches_with_their_targets_keeps_the_loss():
    torch.manual_seed(0)
    q, h = torch.randn(3, 5, 8), torch.randn(3, 5, 8)
    perm = torch.randperm(5)
    a, _ = selfie_loss(selfie_logits(q, h))
    b, _ = selfie_loss(selfie_logits(q[:, perm], h[:, perm]))
    assert torch.allclose(a, b, atol=1e-6)
    c, _ = selfie_loss(selfie_logits(q, h[:, perm]))  # moving only the candidates changes the task
    assert not torch.allclose(a, c)


def test_the_batched_loss_equals_the_cards_loop():
    torch.manual_seed(1)
    q, h = torch.randn(3, 4, 6, dtype=torch.float64), torch.randn(3, 4, 6, dtype=torch.float64)
    for t in (1.0, 0.3):
        fast, _ = selfie_loss(selfie_logits(q, h), t)
        assert math.isclose(float(fast), float(selfie_loss_reference(q, h, t)), rel_tol=1e-9)
