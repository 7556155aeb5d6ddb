"""``filter_cnn``: the miniature zoo's 4-layer 3x3 CNN for channels-last images (card, "Setup")."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit.interfaces import Model
from forwardkit_cnn_filter_db.config import FilterCNNConfig

__all__ = ["FilterCNN"]


class FilterCNN(Model):
    """``(B, H, W, C_in)`` -> logits ``(B, num_classes)``.

    ``depth`` stages of ``conv3x3 -> BatchNorm2d -> ReLU`` with ``width * 2**s`` channels (stride 2 from
    stage ``downsample_from`` on), global average pooling and a Linear head. Every conv is a plain
    ``nn.Conv2d``, so all its kernels are 3x3 filters for the analyzers.
    """

    Config = FilterCNNConfig
    config: FilterCNNConfig

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        cfg = self.config
        layers: list[nn.Module] = []
        in_ch = cfg.in_channels
        for s in range(cfg.depth):
            out_ch = cfg.width * 2**s
            stride = 2 if s >= cfg.downsample_from else 1
            layers.append(nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=not cfg.batch_norm))
            layers.append(nn.BatchNorm2d(out_ch) if cfg.batch_norm else nn.Identity())
            layers.append(nn.ReLU())
            in_ch = out_ch
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(in_ch, cfg.num_classes)

    def forward(self, x: Tensor) -> Tensor:
        h = self.features(x.permute(0, 3, 1, 2))  # (B, C_last, H', W')
        return self.head(F.adaptive_avg_pool2d(h, 1).flatten(1))

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """16x16 images and integer labels."""
        x = torch.randn(batch_size, 16, 16, self.config.in_channels, generator=generator)
        y = torch.randint(0, self.config.num_classes, (batch_size,), generator=generator)
        return {"x": x, "y": y}
