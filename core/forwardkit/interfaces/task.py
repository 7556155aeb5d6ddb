"""Task: the loss and metrics of a kind of problem (classification, regression, forecasting, ...).

The trainer picks the task named by the dataset's ``metadata.task`` unless the experiment's
``trainer.task`` overrides it. A plugin adds a task by registering a component of kind ``task``
(e.g. link prediction for graphs), through the same hook as every other component.

Contract: ``loss(output, batch) -> scalar tensor`` for training; ``metrics(output, batch)`` returns
*sums* and *counts* per metric so that evaluation can average exactly over batches of any size;
``primary_metric`` and ``mode`` say which metric ranks runs and whether higher is better. Like a
model, a task may fill config fields from the dataset's metadata (``fields_from_metadata``), e.g. the
names of the domains it reports per-domain metrics for.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor

from forwardkit.interfaces.base import Component


class Task(Component):
    """Base class of tasks."""

    primary_metric: ClassVar[str] = "loss"
    mode: ClassVar[Literal["max", "min"]] = "min"
    #: batch keys that hold targets: removed from the batches a test-time rule sees
    target_keys: ClassVar[tuple[str, ...]] = ("y",)

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        self._init_config(config, overrides)

    @classmethod
    def fields_from_metadata(cls, metadata: Any) -> dict[str, Any]:
        """Config fields the trainer fills from the dataset's metadata unless the experiment sets them
        (default: none)."""
        return {}

    def loss(self, output: Any, batch: Mapping[str, Tensor]) -> Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def example(
        self, batch_size: int = 8, *, generator: torch.Generator | None = None
    ) -> tuple[Any, dict[str, Tensor]]:
        """A random ``(output, batch)`` pair of this task's shapes (for the conformance kit)."""
        raise NotImplementedError(f"{type(self).__name__} does not define example()")

    def metrics(self, output: Any, batch: Mapping[str, Tensor]) -> dict[str, tuple[float, int]]:
        """``{name: (sum over the batch, count)}``; the default reports the mean loss only."""
        n = len(next(iter(batch.values())))
        return {"loss": (float(self.loss(output, batch).detach()) * n, n)}


def accumulate(totals: dict[str, list[float]], batch_metrics: Mapping[str, tuple[float, int]]) -> None:
    """Add one batch's ``{name: (sum, count)}`` into running ``totals``."""
    for name, (value, count) in batch_metrics.items():
        acc = totals.setdefault(name, [0.0, 0])
        acc[0] += value
        acc[1] += count


def averages(totals: Mapping[str, list[float]]) -> dict[str, float]:
    """The running means of :func:`accumulate`'s totals: ``{name: sum / count}``."""
    return {name: value / max(count, 1) for name, (value, count) in totals.items()}
