"""The standard tasks: classification, regression, forecasting (losses and exact batch metrics).

Public so that a plugin's task can extend one (a classification that also reports per-domain accuracy
subclasses :class:`Classification`); the builtin plugin registers them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from forwardkit.interfaces.task import Task
from forwardkit.tasks.config import ClassificationConfig, ForecastingConfig, RegressionConfig


class Classification(Task):
    """Logits ``(B, K)`` vs labels ``(B,)``: cross-entropy; accuracy and top-k accuracy."""

    Config = ClassificationConfig
    primary_metric = "accuracy"
    mode = "max"

    def example(self, batch_size: int = 8, *, generator: torch.Generator | None = None) -> tuple[Tensor, dict]:
        classes = self.config.top_k + 3
        logits = torch.randn(batch_size, classes, generator=generator)
        return logits, {"y": torch.randint(0, classes, (batch_size,), generator=generator)}

    def loss(self, output: Tensor, batch: Mapping[str, Tensor]) -> Tensor:
        return F.cross_entropy(output, batch["y"], label_smoothing=self.config.label_smoothing)

    def metrics(self, output: Tensor, batch: Mapping[str, Tensor]) -> dict[str, tuple[float, int]]:
        y = batch["y"]
        n = int(y.shape[0])
        out = {
            "loss": (float(F.cross_entropy(output, y, reduction="sum")), n),
            "accuracy": (float((output.argmax(dim=-1) == y).sum()), n),
        }
        k = self.config.top_k
        if output.shape[-1] > k:
            top = output.topk(k, dim=-1).indices
            out[f"top{k}"] = (float((top == y[:, None]).any(dim=-1).sum()), n)
        return out


class _Squared(Task):
    """Outputs reshaped to the target shape; MSE loss, MSE and MAE metrics (per element)."""

    primary_metric = "mse"
    mode = "min"

    def example(self, batch_size: int = 8, *, generator: torch.Generator | None = None) -> tuple[Tensor, dict]:
        y = torch.randn(batch_size, 3, 2, generator=generator)
        return torch.randn(batch_size, 6, generator=generator), {"y": y}

    @staticmethod
    def _aligned(output: Any, batch: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
        y = batch["y"].float()
        return output.reshape(y.shape), y

    def loss(self, output: Tensor, batch: Mapping[str, Tensor]) -> Tensor:
        pred, y = self._aligned(output, batch)
        return F.mse_loss(pred, y)

    def metrics(self, output: Tensor, batch: Mapping[str, Tensor]) -> dict[str, tuple[float, int]]:
        pred, y = self._aligned(output, batch)
        n = int(y.numel())
        diff = pred - y
        return {"mse": (float(diff.pow(2).sum()), n), "mae": (float(diff.abs().sum()), n),
                "loss": (float(diff.pow(2).sum()), n)}


class Regression(_Squared):
    Config = RegressionConfig


class Forecasting(_Squared):
    Config = ForecastingConfig


