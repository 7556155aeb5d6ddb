"""RLinear-style channel-independent linear baseline (paper §4.1 compares with RLinear and DLinear)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from forwardkit.errors import ForwardkitError
from forwardkit.interfaces import Model
from forwardkit_itransformer.common import EXAMPLE_VARIATES, example_windows, forecaster_fields, select_targets
from forwardkit_itransformer.config import LinearBaselineConfig
from forwardkit_itransformer.norm import denormalize, normalize

__all__ = ["LinearBaseline"]


class LinearBaseline(Model):
    """One Linear(T -> S) shared by every variate, on per-variate normalised windows:
    ``x`` ``(B, T, N)`` -> ``(B, S, N)``; any N."""

    Config = LinearBaselineConfig
    config: LinearBaselineConfig

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.linear = nn.Linear(self.config.lookback, self.config.horizon)

    @classmethod
    def fields_from_metadata(cls, metadata: Any) -> dict[str, Any]:
        return forecaster_fields(cls.Config, metadata)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 3 or x.shape[1] != self.config.lookback:
            raise ForwardkitError(f"expected x of shape (B, {self.config.lookback}, N), got {tuple(x.shape)}")
        mu = sigma = None
        if self.config.use_norm:
            x, mu, sigma = normalize(x)
        y = self.linear(x.transpose(1, 2)).transpose(1, 2)  # (B, S, N)
        if mu is not None and sigma is not None:
            y = denormalize(y, mu, sigma)
        return select_targets(y, self.config.targets)

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        cfg = self.config
        return example_windows(cfg.lookback, cfg.horizon, EXAMPLE_VARIATES, cfg.targets, batch_size, generator)
