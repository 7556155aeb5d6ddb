"""Convolutional layers of the HaloNet ResNet, channels-first ``(B, C, H, W)`` inside the model.

The module names and parameter shapes follow timm's ``ConvNormAct`` / ``BatchNormAct2d`` / ``SEModule`` /
``EcaModule`` (``conv``, ``bn``, ``fc1``, ``fc2``), so that parameter counts match timm's presets one for one
and a timm state dict maps onto this model by name (:mod:`forwardkit_halonet.timm_compat`).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from forwardkit.nn import make_activation
from forwardkit_halonet.attention import make_divisible

__all__ = ["BatchNormAct", "ConvNormAct", "EfficientChannelAttention", "SqueezeExcite", "Stem", "channel_attention"]


class BatchNormAct(nn.BatchNorm2d):
    """BatchNorm2d followed by an activation (``act=None``: none) on ``(B, C, H, W)``; its state-dict keys are
    the BatchNorm's own."""

    def __init__(self, channels: int, *, act: str | None = "relu") -> None:
        super().__init__(channels)
        self.act = make_activation(act) if act else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(super().forward(x))


class ConvNormAct(nn.Module):
    """``act(bn(conv(x)))``: a bias-free k x k conv with 'same'-style padding ``((s - 1) + (k - 1)) // 2``,
    BatchNorm and an activation; ``(B, C_in, H, W) -> (B, C_out, H / s, W / s)``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1, *, stride: int = 1,
                 groups: int = 1, act: str | None = "relu") -> None:
        super().__init__()
        padding = ((stride - 1) + (kernel_size - 1)) // 2
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                              groups=groups, bias=False)
        self.bn = BatchNormAct(out_channels, act=act)

    def forward(self, x: Tensor) -> Tensor:
        return self.bn(self.conv(x))


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation (Hu et al. 2018): ``x * sigmoid(fc2(relu(fc1(mean_hw(x)))))``, reduction
    ``make_divisible(C / 16, 8)`` channels (timm's ``SEModule`` defaults, ReLU inside whatever the net uses)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        reduced = make_divisible(channels / 16, 8, round_limit=0.0)
        self.fc1 = nn.Conv2d(channels, reduced, 1)
        self.act = nn.ReLU()
        self.fc2 = nn.Conv2d(reduced, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.sigmoid(self.fc2(self.act(self.fc1(x.mean((2, 3), keepdim=True)))))


class EfficientChannelAttention(nn.Module):
    """ECA (Wang et al. 2020): ``x * sigmoid(conv1d_k(mean_hw(x)))`` over the channel axis, with the odd
    kernel ``k = max(t or t + 1, 3)``, ``t = int(|log2(C) + 1| / 2)`` (timm's ``EcaModule`` defaults)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        t = int(abs(math.log(channels, 2) + 1) / 2)
        k = max(t if t % 2 else t + 1, 3)
        self.conv = nn.Conv1d(1, 1, k, padding=(k - 1) // 2, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        y = self.conv(x.mean((2, 3)).unsqueeze(1))                # (B, 1, C)
        return x * torch.sigmoid(y).view(x.shape[0], -1, 1, 1)


def channel_attention(kind: str | None, channels: int) -> nn.Module:
    """``'se'``, ``'eca'`` or None (identity) on ``channels``."""
    if kind is None:
        return nn.Identity()
    return {"se": SqueezeExcite, "eca": EfficientChannelAttention}[kind](channels)


class Stem(nn.Sequential):
    """The network's stem on ``(B, C_in, H, W)``: ``'tiered'`` (timm's ResNet-T: 3x3 convs to 3c/8, c/2, c,
    the first with stride 2) or ``'7x7'`` (one 7x7/2 conv), then a 3x3/2 max pool (``pool``); at stride 4
    without the pool, the last tiered conv strides instead. Output ``(B, c, H / stride, W / stride)``."""

    def __init__(self, in_channels: int, channels: int, *, kind: str = "tiered", pool: bool = True,
                 stride: int = 4, act: str = "relu") -> None:
        super().__init__()
        if stride not in (2, 4) or (stride == 2 and pool) or (kind == "7x7" and stride == 4 and not pool):
            raise ValueError(f"stem: stride {stride} with pool={pool} and kind={kind!r} is not supported")
        widths = [3 * channels // 8, channels // 2, channels] if kind == "tiered" else [channels]
        strides = [2] + [1] * (len(widths) - 1)
        if stride == 4 and not pool:
            strides[-1] = 2
        kernel = 3 if kind == "tiered" else 7
        prev = in_channels
        for i, (width, s) in enumerate(zip(widths, strides, strict=True)):
            self.add_module(f"conv{i + 1}", ConvNormAct(prev, width, kernel, stride=s, act=act))
            prev = width
        if pool:
            self.add_module("pool", nn.MaxPool2d(3, 2, 1))
