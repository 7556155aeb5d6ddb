"""GuidanceCNN: the card's small guide network ``conv16-conv32-pool-conv64-pool-fc`` (reference config).

Channels-last ``(B, H, W, C)`` images in (permuted to channels-first for the convolutions), ``(B, num_classes)``
logits out. Its taps under the default :class:`~forwardkit_guidance.config.LayerTapsConfig` are the three
Conv2d outputs (pre-activation), the AdaptiveAvgPool2d output, and the classifier (dropped as the logits):
``G = 4`` layers for guidance.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from forwardkit.interfaces import Model
from forwardkit_guidance.config import GuidanceCNNConfig

__all__ = ["GuidanceCNN"]


class GuidanceCNN(Model):
    """conv(C -> w1) ReLU, conv(w1 -> w2) ReLU, maxpool 2, conv(w2 -> w3) ReLU, adaptive avgpool to
    ``pool_size`` x ``pool_size``, flatten, Linear(w3 pool_size^2 -> num_classes). ``(B, H, W, C) -> (B, K)``;
    H and W at least 2."""

    Config = GuidanceCNNConfig
    config: GuidanceCNNConfig

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        cfg = self.config
        w1, w2, w3 = cfg.widths
        k, pad = cfg.kernel_size, cfg.kernel_size // 2
        self.conv1 = nn.Conv2d(cfg.in_channels, w1, k, padding=pad)
        self.conv2 = nn.Conv2d(w1, w2, k, padding=pad)
        self.pool1 = nn.MaxPool2d(2)
        self.conv3 = nn.Conv2d(w2, w3, k, padding=pad)
        self.pool2 = nn.AdaptiveAvgPool2d(cfg.pool_size)
        self.act = nn.ReLU()
        self.fc = nn.Linear(w3 * cfg.pool_size * cfg.pool_size, cfg.num_classes)

    def forward(self, x: Tensor) -> Tensor:
        h = x.permute(0, 3, 1, 2)
        h = self.pool1(self.act(self.conv2(self.act(self.conv1(h)))))
        h = self.pool2(self.act(self.conv3(h)))
        return self.fc(h.flatten(1))

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """Random ``(B, 8, 8, C)`` images and integer labels."""
        x = torch.randn(batch_size, 8, 8, self.config.in_channels, generator=generator)
        y = torch.randint(0, self.config.num_classes, (batch_size,), generator=generator)
        return {"x": x, "y": y}
