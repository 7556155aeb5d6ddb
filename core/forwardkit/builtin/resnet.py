"""CIFAR-style ResNet (He et al. 2016, "Deep Residual Learning for Image Recognition", sec. 4.2).

A 3x3 conv to ``width`` channels, three stages of ``n = (depth - 2) / 6`` basic blocks with widths
``width, 2*width, 4*width`` (the first block of stages 2 and 3 has stride 2), global average pooling
and a Linear classifier: ``6n + 2`` weighted layers. Shortcuts are identities, or a 1x1 conv + norm
where the shape changes (option B). The blocks are :class:`forwardkit.nn.BasicBlock`: plain ``nn.Conv2d`` /
``nn.BatchNorm2d`` modules on NCHW tensors, so that tools looking for them (e.g. IBN-Net surgery) find them;
the input is channels-last. ``BasicBlock`` and ``make_norm2d`` stay importable from here until the plugins
have moved to :mod:`forwardkit.nn`.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit.builtin.config import ResNetConfig
from forwardkit.interfaces import Model
from forwardkit.nn import resnet as _resnet
from forwardkit.nn.resnet import make_norm2d

__all__ = ["BasicBlock", "ResNet", "make_norm2d"]


class BasicBlock(_resnet.BasicBlock):
    """Deprecated positional form of :class:`forwardkit.nn.BasicBlock`:
    ``BasicBlock(in_ch, out_ch, stride=1, norm="batchnorm", groups=8)``. Same module, same state_dict."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, norm: str = "batchnorm", groups: int = 8) -> None:
        super().__init__(in_channels=in_ch, out_channels=out_ch, stride=stride, norm=norm, groups=groups)


class ResNet(Model):
    """CIFAR ResNet-(6n+2) on ``(B, H, W, C_in)`` channels-last images -> logits ``(B, num_classes)``."""

    Config = ResNetConfig
    config: ResNetConfig

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        cfg = self.config
        n = (cfg.depth - 2) // 6
        self.blocks_per_stage = n
        widths = [cfg.width, 2 * cfg.width, 4 * cfg.width]
        self.conv1 = nn.Conv2d(cfg.in_channels, cfg.width, 3, padding=1, bias=cfg.norm == "identity")
        self.bn1 = make_norm2d(cfg.norm, cfg.width, cfg.groups)
        stages, in_ch = [], cfg.width
        for i, out_ch in enumerate(widths):
            blocks = []
            for j in range(n):
                stride = 2 if i > 0 and j == 0 else 1
                blocks.append(_resnet.BasicBlock(in_channels=in_ch, out_channels=out_ch, stride=stride, norm=cfg.norm,
                                                 groups=cfg.groups))
                in_ch = out_ch
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.fc = nn.Linear(widths[-1], cfg.num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[-1] != self.config.in_channels:
            raise ValueError(f"resnet expects (B, H, W, {self.config.in_channels}) channels-last, got {tuple(x.shape)}")
        x = F.relu(self.bn1(self.conv1(x.permute(0, 3, 1, 2))))  # (B, width, H, W)
        x = self.layer3(self.layer2(self.layer1(x)))  # (B, 4*width, H/4, W/4)
        return self.fc(x.mean(dim=(2, 3)))

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """32x32 CIFAR-sized images and integer labels."""
        x = torch.randn(batch_size, 32, 32, self.config.in_channels, generator=generator)
        y = torch.randint(0, self.config.num_classes, (batch_size,), generator=generator)
        return {"x": x, "y": y}
