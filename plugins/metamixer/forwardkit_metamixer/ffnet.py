"""FFNet (official ``models/ffnet.py``): stem, 4 stages of FFBlocks, PatchMerging, BN + GAP + Linear.

NCHW inside (BN-based ConvNet, no pre-norm: normalisation is the BN inside each branch); the model
takes channels-last images ``(B, H, W, C)`` and returns logits ``(B, num_classes)``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit.interfaces import Model
from forwardkit.nn import DropPath
from forwardkit_metamixer.config import FFNetConfig
from forwardkit_metamixer.layers import RepDWConv, conv_bn

PRESETS: dict[str, dict[str, Any]] = {
    "ffnet_1": {"depths": [2, 2, 8, 2], "dims": [80, 160, 320, 640], "channel_kernel": 3, "drop_path": 0.1},
    "ffnet_2": {"depths": [3, 3, 15, 3], "dims": [88, 176, 352, 704], "channel_kernel": 7, "drop_path": 0.15},
    "ffnet_3": {"depths": [4, 4, 22, 5], "dims": [96, 192, 384, 768], "channel_kernel": 7, "drop_path": 0.35,
                "layer_scale_init": 1e-6},
    "ffnet_4": {"depths": [4, 4, 27, 3], "dims": [128, 256, 512, 1024], "channel_kernel": 7, "drop_path": 0.4,
                "layer_scale_init": 1e-6},
    "tiny": {"depths": [1, 1, 2, 1], "dims": [16, 32, 64, 64], "channel_kernel": 3, "drop_path": 0.0,
             "stem_dim": 16},
}


def _dw(c: int, k: int) -> nn.Module:
    """Stage-1/2 3x3: plain depthwise conv with bias; size >= 5: BN(DW_k) + BN(DW_3) (RepVGG)."""
    if k >= 5:
        return RepDWConv(rank=2, channels=c, kernel=k, small=3, bn=True)
    return nn.Conv2d(c, c, k, padding=k // 2, groups=c)


class TokenMixerNCHW(nn.Module):
    """Official ``Token_Mixer``: ``DW_k2(GELU(DW_k1(BN(Conv1x1(x)))))`` on ``(B, C, H, W)``."""

    def __init__(self, c: int, k: int) -> None:
        super().__init__()
        self.q = conv_bn(2, c, c, 1)
        self.k, self.v = _dw(c, k), _dw(c, k)

    def forward(self, x: Tensor) -> Tensor:
        return self.v(F.gelu(self.k(self.q(x))))


class ChannelMixerNCHW(nn.Module):
    """Official ``Channel_Mixer``: ``Conv1x1(GELU(Conv1x1(DW_k(x))))``, expansion 3, on ``(B, C, H, W)``."""

    def __init__(self, c: int, k: int, ratio: float) -> None:
        super().__init__()
        self.dw = RepDWConv(rank=2, channels=c, kernel=k, small=3, bn=True) if k >= 5 else conv_bn(2, c, c, k, groups=c)
        h = round(c * ratio)
        self.fc1, self.fc2 = nn.Conv2d(c, h, 1), nn.Conv2d(h, c, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(self.dw(x))))


class FFBlock(nn.Module):
    """``x + DropPath(ls1 * TM(x))``, then ``x + DropPath(ls2 * CM(x))``; no separate pre-norm."""

    def __init__(self, c: int, k: int, ck: int, ratio: float, dp: float, ls: float | None) -> None:
        super().__init__()
        self.tm, self.cm = TokenMixerNCHW(c, k), ChannelMixerNCHW(c, ck, ratio)
        self.ls1 = nn.Parameter(torch.full((c, 1, 1), ls)) if ls else None
        self.ls2 = nn.Parameter(torch.full((c, 1, 1), ls)) if ls else None
        self.drop = DropPath(p=dp) if dp > 0 else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        t = self.tm(x)
        x = x + self.drop(t * self.ls1 if self.ls1 is not None else t)
        m = self.cm(x)
        return x + self.drop(m * self.ls2 if self.ls2 is not None else m)


class PatchMerging(nn.Module):
    """Grouped 7x7 stride-2 RepVGG-DW (groups = C_in, C_in -> C_out), then ``x + Conv1x1(BN(x))``."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.down = RepDWConv(rank=2, channels=cin, out_channels=cout, kernel=7, small=3, bn=True, stride=2)
        self.bn = nn.BatchNorm2d(cout)
        self.proj = nn.Conv2d(cout, cout, 1)

    def forward(self, x: Tensor) -> Tensor:
        x = self.down(x)
        return x + self.proj(self.bn(x))


class FFNet(Model):
    """FFNet on channels-last images ``(B, H, W, C)`` -> logits ``(B, num_classes)``."""

    Config = FFNetConfig
    config: FFNetConfig
    ranks = frozenset({2})

    def __init__(self, config: FFNetConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        c = self.config
        p = dict(PRESETS.get(c.preset, {}))
        for f in ("depths", "dims", "channel_kernel", "drop_path", "layer_scale_init", "stem_dim"):
            if getattr(c, f) is not None:
                p[f] = getattr(c, f)
        depths, dims = p["depths"], p["dims"]
        stem = p.get("stem_dim", 64)
        self.stem = nn.Sequential(conv_bn(2, c.in_channels, stem, 3, 2), nn.GELU(), conv_bn(2, stem, dims[0], 3, 2))
        total = sum(depths)
        rates = [p.get("drop_path", 0.0) * i / max(total - 1, 1) for i in range(total)]  # linear, as timm
        stages, i = [], 0
        for s, (d, dim) in enumerate(zip(depths, dims, strict=True)):
            layers: list[nn.Module] = [PatchMerging(dims[s - 1], dim)] if s > 0 else []
            for _ in range(d):
                layers.append(FFBlock(dim, c.mixer_kernels[s], p.get("channel_kernel", 7), c.ratio, rates[i],
                                      p.get("layer_scale_init")))
                i += 1
            stages.append(nn.Sequential(*layers))
        self.stages = nn.Sequential(*stages)
        self.norm = nn.BatchNorm2d(dims[-1])
        self.head = nn.Linear(dims[-1], c.num_classes)
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stages(self.stem(x.movedim(-1, 1)))
        return self.head(self.norm(x).mean(dim=(2, 3)))

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        s = self.config.image_size
        return {"x": torch.randn(batch_size, s, s, self.config.in_channels, generator=generator)}
