"""The task checks, kept at their first import path: they live in :mod:`forwardkit.testing.checks.tasks`."""

from __future__ import annotations

from forwardkit.testing.checks.tasks import check_task_loss, check_task_metrics

__all__ = ["check_task_loss", "check_task_metrics"]
