"""ResNetIBN: the small reference ResNet of the miniature, plain or rewritten into IBN-a / IBN-b.

A 3x3 stem conv + BN + ReLU, ``len(widths)`` stages of ``blocks`` BasicBlocks (He et al. 2016; the
first block of every stage but the first has stride 2; projection shortcuts on shape change), global
average pooling and a Linear head. ``variant='a'`` / ``'b'`` applies :func:`~forwardkit_ibn_net.adapter.apply_ibn`
to the plain network (Pan et al. 2018, fig. 3), so the IBN models differ from the plain one only by
their norms.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit.interfaces import Model
from forwardkit.nn import BasicBlock
from forwardkit_ibn_net.adapter import apply_ibn
from forwardkit_ibn_net.config import ResNetIBNConfig

__all__ = ["ResNetIBN"]


class ResNetIBN(Model):
    """ResNet(-IBN) on ``(B, H, W, C_in)`` channels-last images -> logits ``(B, num_classes)``."""

    Config = ResNetIBNConfig
    config: ResNetIBNConfig
    conformance_configs = ({"variant": "none", "widths": [8, 16], "blocks": 1},
                           {"variant": "a", "widths": [8, 16, 16], "blocks": 1},
                           {"variant": "b", "widths": [8, 16], "blocks": 2, "ratio": 0.25})

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        cfg = self.config
        w0 = cfg.widths[0]
        self.conv1 = nn.Conv2d(cfg.in_channels, w0, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(w0)
        in_ch = w0
        for i, out_ch in enumerate(cfg.widths):
            blocks = []
            for j in range(cfg.blocks):
                blocks.append(BasicBlock(in_channels=in_ch, out_channels=out_ch, stride=2 if i > 0 and j == 0 else 1))
                in_ch = out_ch
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
        self.fc = nn.Linear(in_ch, cfg.num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        if cfg.variant != "none":
            apply_ibn(self, cfg.variant, **({"ratio": cfg.ratio} if cfg.variant == "a" else {}))

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[-1] != self.config.in_channels:
            raise ValueError(f"resnet_ibn expects (B, H, W, {self.config.in_channels}), got {tuple(x.shape)}")
        h = F.relu(self.bn1(self.conv1(x.permute(0, 3, 1, 2))))  # (B, widths[0], H, W)
        for i in range(len(self.config.widths)):
            h = getattr(self, f"layer{i + 1}")(h)
        return self.fc(h.mean(dim=(2, 3)))

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """28x28 digit-sized RGB images and integer labels."""
        x = torch.randn(batch_size, 28, 28, self.config.in_channels, generator=generator)
        y = torch.randint(0, self.config.num_classes, (batch_size,), generator=generator)
        return {"x": x, "y": y}
