"""The spec card's reference CNN (``nhl_cnn``): a small conv net whose first convolution is the Hebbian layer."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from forwardkit.interfaces import Model
from forwardkit_neuro_hebbian.config import NHLCNNConfig

__all__ = ["NHLCNN"]


class NHLCNN(Model):
    """``(B, H, W, C)`` channels-last images -> ``(B, num_classes)`` logits.

    Per stage ``i``: ``conv3x3(channels[i]) -> BatchNorm2d -> ReLU -> MaxPool2d(2)`` (``stages.<i>.conv``,
    ``.norm``); then ``AdaptiveAvgPool2d(pool_size)``, flatten and ``Linear`` (``head``). ``stages.0.conv`` is
    the early layer the soft Hebbian rule adapts; ``stages.0.norm`` the layer the neuro-modulator follows.
    """

    Config = NHLCNNConfig
    config: NHLCNNConfig
    conformance_configs = ({"channels": [4, 8], "image_size": 8, "pool_size": 2},)

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        cfg = self.config
        stages = []
        width = cfg.in_channels
        for out in cfg.channels:
            stage = nn.Sequential()
            stage.add_module("conv", nn.Conv2d(width, out, 3, padding=1))
            stage.add_module("norm", nn.BatchNorm2d(out))
            stage.add_module("act", nn.ReLU())
            stage.add_module("pool", nn.MaxPool2d(2))
            stages.append(stage)
            width = out
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(cfg.pool_size)
        self.head = nn.Linear(width * cfg.pool_size**2, cfg.num_classes)

    @classmethod
    def fields_from_metadata(cls, metadata: Any) -> dict[str, Any]:
        """``in_channels``, ``num_classes`` and ``image_size`` (the input's height) from the data."""
        out = super().fields_from_metadata(metadata)
        shape = tuple(metadata.input_shape)
        if len(shape) == 3:
            out["image_size"] = int(shape[0])
        return out

    def forward(self, x: Tensor) -> Tensor:
        h = self.stages(x.permute(0, 3, 1, 2))          # (B, C_last, H / 2^S, W / 2^S)
        return self.head(self.pool(h).flatten(1))       # (B, num_classes)

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        cfg = self.config
        x = torch.rand(batch_size, cfg.image_size, cfg.image_size, cfg.in_channels, generator=generator)
        y = torch.randint(0, cfg.num_classes, (batch_size,), generator=generator)
        return {"x": x, "y": y}
