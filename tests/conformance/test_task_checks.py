"""The task checks flag a task whose metrics cannot be averaged exactly or whose loss has no gradient."""

from __future__ import annotations

import pytest
import torch

from forwardkit.builtin.tasks import Classification
from forwardkit.testing.task_checks import check_task_loss, check_task_metrics


class MeanMetrics(Classification):
    """Reports batch means as if they were sums: averaging over batches of different sizes is wrong."""

    def metrics(self, output, batch):
        acc = float((output.argmax(-1) == batch["y"]).float().mean())
        return {"accuracy": (acc, 1)}


class DetachedLoss(Classification):
    def loss(self, output, batch):
        return super().loss(output.detach(), batch) + 0 * torch.zeros(())


def test_builtin_classification_passes():
    check_task_loss(Classification)
    check_task_metrics(Classification)


def test_mean_metrics_fail():
    with pytest.raises(AssertionError, match="halves sum"):
        check_task_metrics(MeanMetrics)


def test_a_loss_without_gradient_fails():
    with pytest.raises(AssertionError, match="differentiabl"):
        check_task_loss(DetachedLoss)
