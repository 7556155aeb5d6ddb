"""Autoregressive density estimation: teacher-forced NLL of every token, reported in bits per dimension.

The paper's image metric (Tables 1-2): ``bits/dim = -(1 / D) sum_t log2 p(x_t | x_<t)`` averaged over the test
images, D = the number of sub-pixels (here one grey value per pixel).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

from forwardkit.interfaces import Task
from forwardkit_combiner.config import AutoregressiveNLLConfig

__all__ = ["AutoregressiveNLL", "bits_per_dim"]

LN2 = math.log(2.0)


def _flat(output: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Logits ``(B, *grid, V)`` and targets ``(B, *grid)`` -> ``(N, V)`` and ``(N,)``."""
    return output.reshape(-1, output.shape[-1]).float(), y.reshape(-1).long()


def bits_per_dim(output: Tensor, y: Tensor) -> Tensor:
    """Mean ``-log2 p(y_t | y_<t)`` over every token of every sample: logits ``(B, *grid, V)``, ``y (B, *grid)``."""
    logits, target = _flat(output, y)
    return F.cross_entropy(logits, target) / LN2


class AutoregressiveNLL(Task):
    """Loss: mean cross-entropy (nats per dimension). Metrics (exact over batches): ``loss`` (nats/dim),
    ``bits_per_dim`` and next-token ``accuracy``; the primary metric is ``bits_per_dim`` (lower is better)."""

    Config = AutoregressiveNLLConfig
    config: AutoregressiveNLLConfig
    primary_metric = "bits_per_dim"
    mode = "min"

    def example(self, batch_size: int = 8, *, generator: torch.Generator | None = None) -> tuple[Tensor, dict]:
        y = torch.randint(0, 5, (batch_size, 3, 4), generator=generator)
        return torch.randn(batch_size, 3, 4, 5, generator=generator), {"x": y.clone(), "y": y}

    def loss(self, output: Tensor, batch: Mapping[str, Tensor]) -> Tensor:
        logits, target = _flat(output, batch["y"])
        return F.cross_entropy(logits, target, label_smoothing=self.config.label_smoothing)

    def metrics(self, output: Tensor, batch: Mapping[str, Tensor]) -> dict[str, tuple[float, int]]:
        logits, target = _flat(output.detach(), batch["y"])
        n = int(target.numel())
        nats = float(F.cross_entropy(logits, target, reduction="sum"))
        correct = float((logits.argmax(-1) == target).sum())
        return {"loss": (nats, n), "bits_per_dim": (nats / LN2, n), "accuracy": (correct, n)}
