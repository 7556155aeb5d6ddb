"""Checks for ``task`` components: a differentiable finite loss, and metrics that average exactly."""

from __future__ import annotations

import math
from typing import Any

import torch

from forwardkit.testing.checks.common import SkipCheck, Subject, conformance_check, fail

__all__ = ["check_task_loss", "check_task_metrics"]


def _example(task: Any, batch_size: int, seed: int) -> tuple[Any, dict[str, torch.Tensor]]:
    try:
        return task.example(batch_size, generator=torch.Generator().manual_seed(seed))
    except NotImplementedError as exc:
        raise SkipCheck(f"{exc}: the task gives no example output to check") from None


def _loss_case(task: Any) -> None:
    output, batch = _example(task, 8, 0)
    output = output.detach().requires_grad_(True)
    loss = task.loss(output, batch)
    if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
        fail(f"loss() must return a scalar tensor, got {getattr(loss, 'shape', type(loss))}")
    if not torch.isfinite(loss):
        fail(f"loss() is not finite: {loss}")
    if not loss.requires_grad:
        fail("the loss does not depend differentiably on the model output (no grad_fn)")
    loss.backward()
    if output.grad is None or not torch.isfinite(output.grad).all() or not output.grad.abs().sum() > 0:
        fail("the loss gives no finite, non-zero gradient on the model output")


@conformance_check("task")
def check_task_loss(subject: Subject, *, configs: Any = None) -> int:
    """``loss(output, batch)`` is a finite scalar whose gradient reaches the output."""
    chosen = subject.configs(configs)
    for config in chosen:
        _loss_case(subject.build(config))
    return len(chosen)


def _check_pair(name: str, pair: Any, parts: list[Any]) -> None:
    """A (sum, count) pair, finite with a positive count, that the pairs of the parts add up to."""
    if not (isinstance(pair, tuple) and len(pair) == 2):
        fail(f"metric {name!r} must be a (sum, count) pair, got {pair!r}")
    value, count = pair
    if not math.isfinite(value) or count <= 0:
        fail(f"metric {name!r} = {pair!r}: sums must be finite and counts positive")
    if any(p is None for p in parts):
        fail(f"metric {name!r} is missing for a part of the batch")
    total, counted = sum(p[0] for p in parts), sum(p[1] for p in parts)
    if not math.isclose(total, value, rel_tol=1e-5, abs_tol=1e-6) or counted != count:
        fail(f"metric {name!r}: halves sum to ({total}, {counted}), the whole batch gives {pair}")


@conformance_check("task")
def check_task_metrics(subject: Subject, *, configs: Any = None) -> int:
    """``metrics`` returns (sum, count) pairs whose sums over two halves equal the whole batch's, so
    evaluation averages exactly whatever the batch size."""
    compared = 0
    for config in subject.configs(configs):
        task = subject.build(config)
        output, batch = _example(task, 10, 1)
        whole = task.metrics(output, batch)
        halves = [task.metrics(output[s], {k: v[s] for k, v in batch.items()}) for s in (slice(0, 4), slice(4, 10))]
        for name, pair in whole.items():
            _check_pair(name, pair, [h.get(name) for h in halves])
            compared += 1
    return compared
