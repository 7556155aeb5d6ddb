"""AFFNet (official ``affnet/models/classification/affnet.py``): a MobileViT-like network whose global blocks
use the AFF token mixer. Input images ``(B, H, W, C_in)`` channels-last; logits ``(B, num_classes)``.

Layout: Conv3x3 s2 (-> 16) + BN + act; layer1 MV2 x1; layer2 MV2 x3 (first stride 2); layers 3-5: MV2 stride 2
then an AFF stage; 1x1 conv to min(4 C5, 960) + BN + act; global average pool; Linear.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from forwardkit.interfaces import Model

from .config import AFFNetConfig
from .mixer import AFF
from .mv2 import mv2_block

#: (channels of layers 1-5, MV2 expansion, AFF blocks in layers 3-5); ffn_dim = 2 x dim in every AFF block
PRESETS: dict[str, tuple[tuple[int, ...], float, tuple[int, ...]]] = {
    "affnet": ((32, 64, 128, 256, 320), 4.0, (2, 4, 3)),      # official "small"
    "affnet_t": ((32, 48, 96, 160, 192), 4.0, (2, 4, 3)),     # official "x_small"
    "affnet_et": ((32, 48, 64, 104, 144), 2.0, (2, 4, 3)),    # official "xx_small"
    "tiny": ((16, 16, 24, 32, 48), 2.0, (1, 1, 1)),           # CPU-test size (not in the paper)
}


class MV2(nn.Module):
    """Inverted residual on NCHW, with the identity skip when shapes allow (stride 1, cin == cout)."""

    def __init__(self, cin: int, cout: int, stride: int, expand: float) -> None:
        super().__init__()
        self.body = mv2_block(cin, cout, stride=stride, expand=expand, act="silu")
        self.skip = stride == 1 and cin == cout

    def forward(self, x: Tensor) -> Tensor:
        y = self.body(x)
        return x + y if self.skip else y


class AFFBlockUnit(nn.Module):
    """Official ``Block`` (double_skip=False) on NCHW: out = x + AFF(GN2(MV2(GN1(x)))); three identity paths."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(1, dim, eps=1e-5)
        self.ffn = MV2(dim, dim, 1, 2.0)
        self.norm2 = nn.GroupNorm(1, dim, eps=1e-5)
        self.filter = AFF(dim=dim, inner_skip=True)

    def forward(self, x: Tensor) -> Tensor:
        y = self.norm2(self.ffn(self.norm1(x)))
        y = self.filter(y.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return x + y


class AFFStage(nn.Module):
    """Official ``AFFBlock``: n units, GN, 1x1 conv + BN, fusion concat(input, out) -> 1x1 conv + BN + act."""

    def __init__(self, dim: int, depth: int) -> None:
        super().__init__()
        self.units = nn.Sequential(*[AFFBlockUnit(dim) for _ in range(depth)])
        self.norm = nn.GroupNorm(1, dim, eps=1e-5)
        self.proj = nn.Sequential(nn.Conv2d(dim, dim, 1, bias=False), nn.BatchNorm2d(dim))
        self.fuse = nn.Sequential(nn.Conv2d(2 * dim, dim, 1, bias=False), nn.BatchNorm2d(dim), nn.SiLU())

    def forward(self, x: Tensor) -> Tensor:
        y = self.proj(self.norm(self.units(x)))
        return self.fuse(torch.cat([x, y], dim=1))


class AFFNet(Model):
    """AFFNet classifier on ``(B, H, W, C_in)`` images -> ``(B, num_classes)`` logits (presets in PRESETS)."""

    Config = AFFNetConfig
    config: AFFNetConfig
    #: the kit checks the tiny preset (the paper presets build and are counted in the tests; too slow to export)
    conformance_configs = [{"preset": "tiny", "num_classes": 10, "input_size": [32, 32]}]

    def __init__(self, config: AFFNetConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        cfg = self.config
        ch, e, blocks = PRESETS[cfg.preset]
        self.stem = nn.Sequential(nn.Conv2d(cfg.in_channels, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.SiLU())
        layers: list[nn.Module] = [MV2(16, ch[0], 1, e)]
        layers += [MV2(ch[0], ch[1], 2, e), MV2(ch[1], ch[1], 1, e), MV2(ch[1], ch[1], 1, e)]
        for i, n in zip((2, 3, 4), blocks, strict=True):
            layers += [MV2(ch[i - 1], ch[i], 2, e), AFFStage(ch[i], n)]
        self.layers = nn.Sequential(*layers)
        exp = min(4 * ch[4], 960)
        self.expand = nn.Sequential(nn.Conv2d(ch[4], exp, 1, bias=False), nn.BatchNorm2d(exp), nn.SiLU())
        self.head = nn.Linear(exp, cfg.num_classes)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[-1] != self.config.in_channels:
            raise ValueError(f"affnet expects (B, H, W, {self.config.in_channels}) images, got {tuple(x.shape)}")
        h = self.expand(self.layers(self.stem(x.permute(0, 3, 1, 2))))
        return self.head(h.mean(dim=(2, 3)))

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        side = (self.config.input_size or [64, 64])
        x = torch.randn(batch_size, side[0], side[1], self.config.in_channels, generator=generator)
        return {"x": x, "y": torch.randint(0, self.config.num_classes, (batch_size,), generator=generator)}
