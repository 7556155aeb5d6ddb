"""The S-KAN regressor: a [d, h, out] KAN for function fitting (single-space or selectable)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from forwardkit.interfaces import Model
from forwardkit_s_kan.config import SKANRegressorConfig
from forwardkit_s_kan.layers import KANLayer, SKANLayer
from forwardkit_s_kan.mixers import space_kwargs


class SKANRegressor(Model):
    """``x (B, d) -> (B, out)``: two KAN layers d -> h -> out. ``space='select'`` uses :class:`SKANLayer` over
    ``pool`` (S-KAN); any other space is the single-space KAN baseline of the same shape."""

    Config = SKANRegressorConfig
    config: SKANRegressorConfig

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        c = self.config
        kw = space_kwargs(c)
        dims = [(c.in_features, c.hidden), (c.hidden, c.num_classes)]
        if c.space == "select":
            sel = dict(pool=c.pool, weight_norm=c.weight_norm, temperature=c.temperature)
            self.layers = nn.ModuleList(SKANLayer(i, o, **sel, **kw) for i, o in dims)
        else:
            self.layers = nn.ModuleList(KANLayer(c.space, i, o, **kw) for i, o in dims)

    def forward(self, x: Tensor) -> Tensor:
        x = x.reshape(x.shape[0], -1)
        for layer in self.layers:
            x = layer(x)
        return x

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        x = torch.rand(batch_size, self.config.in_features, generator=generator) * 2 - 1
        return {"x": x, "y": torch.randn(batch_size, self.config.num_classes, generator=generator)}
