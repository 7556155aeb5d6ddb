"""Forecasting with metrics per horizon step (paper Tables 1-3 report MSE and MAE per horizon)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from forwardkit.interfaces import Task
from forwardkit_itransformer.config import HorizonForecastingConfig

__all__ = ["HorizonForecasting", "horizon_errors"]


def horizon_errors(pred: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Summed squared and absolute errors per horizon step for ``pred``, ``y`` ``(B, S, N)``: two ``(S,)``."""
    diff = pred - y
    return diff.pow(2).sum(dim=(0, 2)), diff.abs().sum(dim=(0, 2))


class HorizonForecasting(Task):
    """MSE loss on outputs reshaped to ``y`` ``(B, S, N)``; metrics ``mse``, ``mae``, ``loss`` over every
    element, ``mse@step<k>``/``mae@step<k>`` at step k (1-based) and ``mse@h<h>``/``mae@h<h>`` over the
    first h steps (the paper's horizon settings), each as an exact (sum, count) pair."""

    Config = HorizonForecastingConfig
    config: HorizonForecastingConfig
    primary_metric = "mse"
    mode = "min"

    def example(self, batch_size: int = 8, *, generator: torch.Generator | None = None) -> tuple[Tensor, dict]:
        y = torch.randn(batch_size, 4, 3, generator=generator)
        return torch.randn(batch_size, 4, 3, generator=generator), {"y": y}

    @staticmethod
    def _aligned(output: Any, batch: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
        y = batch["y"].float()
        if y.dim() == 2:  # (B, S): a single variate
            y = y[:, :, None]
        return output.reshape(y.shape).float(), y

    def loss(self, output: Tensor, batch: Mapping[str, Tensor]) -> Tensor:
        pred, y = self._aligned(output, batch)
        return F.mse_loss(pred, y)

    def metrics(self, output: Tensor, batch: Mapping[str, Tensor]) -> dict[str, tuple[float, int]]:
        pred, y = self._aligned(output.detach(), batch)
        b, steps, n = y.shape
        sq, ab = horizon_errors(pred, y)
        total = int(y.numel())
        out = {"mse": (float(sq.sum()), total), "mae": (float(ab.sum()), total), "loss": (float(sq.sum()), total)}
        if self.config.per_step:
            for k in range(steps):
                out[f"mse@step{k + 1}"] = (float(sq[k]), b * n)
                out[f"mae@step{k + 1}"] = (float(ab[k]), b * n)
        for h in self.config.horizons:
            if h <= steps:
                out[f"mse@h{h}"] = (float(sq[:h].sum()), b * n * h)
                out[f"mae@h{h}"] = (float(ab[:h].sum()), b * n * h)
        return out
