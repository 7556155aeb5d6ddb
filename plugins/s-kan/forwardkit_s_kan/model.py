"""The S-KAN models: a [d, h, out] KAN for function fitting and the S-ConvKAN image classifier."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit.interfaces import Model
from forwardkit_s_kan.config import SConvKANNetConfig, SKANRegressorConfig
from forwardkit_s_kan.conv import SConvKAN2d
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


class SConvKANNet(Model):
    """S-ConvKAN classifier ``x (B, H, W, C_in) -> logits (B, num_classes)`` (channels-last images): one
    :class:`~forwardkit_s_kan.conv.SConvKAN2d` per entry of ``channels`` (the card: two), each followed by a 2x2
    ``downsample`` pooling, then global average pooling and a linear head. No extra activation between layers
    (KANConv2d: the KAN functions are the non-linearity). With ``space='select'`` every layer is S-KAN over
    ``pool`` with selection per output channel, so ``skan_phase_schedule`` and ``skan_prune`` apply to it."""

    Config = SConvKANNetConfig
    config: SConvKANNetConfig
    conformance_configs = ({}, {"channels": [3, 4], "space": "rbf", "stride": 2, "padding": 1, "downsample": "avg"})

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        c = self.config
        sel = dict(space=c.space, pool=c.pool, weight_norm=c.weight_norm, temperature=c.temperature)
        chans = [c.in_channels, *c.channels]
        self.layers = nn.ModuleList(
            SConvKAN2d(i, o, kernel_size=c.kernel_size, stride=c.stride, padding=c.padding, **sel, **space_kwargs(c))
            for i, o in pairwise(chans))
        self.head = nn.Linear(chans[-1], c.num_classes)

    def _downsample(self, x: Tensor) -> Tensor:
        """2x2 pooling of ``(B, H, W, C)`` (floor; an axis already of length 1 is kept)."""
        mode = self.config.downsample
        if mode == "none" or min(x.shape[1], x.shape[2]) < 2:
            return x
        pool = F.max_pool2d if mode == "max" else F.avg_pool2d
        return pool(x.permute(0, 3, 1, 2), 2).permute(0, 2, 3, 1)

    def features(self, x: Tensor) -> Tensor:
        """``(B, H, W, C_in) -> (B, h, w, channels[-1])``: the S-ConvKAN layers and their pooling."""
        if x.dim() != 4 or x.shape[-1] != self.config.in_channels:
            raise ValueError(f"s_convkan_net expects (B, H, W, {self.config.in_channels}), got {tuple(x.shape)}")
        for layer in self.layers:
            x = self._downsample(layer(x))
        return x

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x).mean(dim=(1, 2)))

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """8x8 digit-sized images (standard normal, so every spline interval is reached) and integer labels."""
        x = torch.randn(batch_size, 8, 8, self.config.in_channels, generator=generator)
        return {"x": x, "y": torch.randint(0, self.config.num_classes, (batch_size,), generator=generator)}
