"""MobileNetV2 inverted residual (official ``InvertedResidual``) as a channel-mixer-slot module on channels-last
tokens ``(B, H, W, C)``: 1x1 conv (C -> round8(e C)) + BN + act, 3x3 depthwise + BN + act, 1x1 + BN, + x."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from forwardkit.interfaces import ChannelMixer

from .config import MV2FFNConfig


def make_divisible(v: float, divisor: int = 8) -> int:
    """Round ``v`` to a multiple of ``divisor`` as MobileNetV2 does (never below 90% of ``v``)."""
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * v else new


def mv2_block(cin: int, cout: int, *, stride: int, expand: float, act: str) -> nn.Sequential:
    """NCHW inverted-residual body (no skip): ``(B, cin, H, W)`` -> ``(B, cout, H/stride, W/stride)``."""
    hid = make_divisible(cin * expand)
    a = nn.SiLU if act == "silu" else nn.ReLU
    layers: list[nn.Module] = []
    if expand != 1:
        layers += [nn.Conv2d(cin, hid, 1, bias=False), nn.BatchNorm2d(hid), a()]
    else:
        hid = cin
    layers += [nn.Conv2d(hid, hid, 3, stride, 1, groups=hid, bias=False), nn.BatchNorm2d(hid), a(),
               nn.Conv2d(hid, cout, 1, bias=False), nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers)


class MV2FFN(ChannelMixer):
    """Inverted residual on ``(B, H, W, C)`` images (rank 2 only); not pointwise (3x3 depthwise conv)."""

    Config = MV2FFNConfig
    config: MV2FFNConfig
    pointwise = False
    ranks = frozenset({2})

    def __init__(self, config: MV2FFNConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.body = mv2_block(self.dim, self.dim, stride=1, expand=self.config.expand, act=self.config.act)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[-1] != self.dim:
            raise ValueError(f"mv2_ffn expects (B, H, W, {self.dim}), got {tuple(x.shape)}")
        y = self.body(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        return x + y if self.config.skip else y
