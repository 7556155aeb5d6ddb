"""RLinear (Li et al. 2023, "Revisiting Long-term Time Series Forecasting"): RevIN and one linear map of the
lookback, shared by every variate. The card's "does not reproduce" rule compares TSM2 with it."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from forwardkit.errors import ForwardkitError
from forwardkit.interfaces import Model
from forwardkit_mambamixer.config import RLinearConfig
from forwardkit_mambamixer.forecasting import (
    EXAMPLE_VARIATES,
    example_windows,
    forecaster_fields,
    revin_denormalize,
    revin_normalize,
    select_targets,
)

__all__ = ["RLinear"]


class RLinear(Model):
    """``x`` ``(B, L, M)`` -> ``(B, H, M)``: ``Linear(L -> H)`` on each normalised variate; any M."""

    Config = RLinearConfig
    config: RLinearConfig

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.linear = nn.Linear(self.config.lookback, self.config.horizon)

    @classmethod
    def fields_from_metadata(cls, metadata: Any) -> dict[str, Any]:
        return forecaster_fields(cls.Config, metadata)

    def forward(self, x: Tensor) -> Tensor:
        c = self.config
        if x.dim() != 3 or x.shape[1] != c.lookback:
            raise ForwardkitError(f"revin_linear expects x of shape (B, {c.lookback}, M), got {tuple(x.shape)}")
        mu = sigma = None
        if c.revin:
            x, mu, sigma = revin_normalize(x)
        y = self.linear(x.transpose(1, 2)).transpose(1, 2)
        if mu is not None and sigma is not None:
            y = revin_denormalize(y, mu, sigma)
        return select_targets(y, c.targets)

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        c = self.config
        return example_windows(c.lookback, c.horizon, EXAMPLE_VARIATES, c.targets, batch_size, generator)
