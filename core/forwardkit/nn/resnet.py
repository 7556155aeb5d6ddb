"""ResNet residual blocks (He et al. 2016, "Deep Residual Learning for Image Recognition", sec. 3-4).

These blocks work on **channels-first** feature maps ``(B, C, H, W)`` with plain ``nn.Conv2d`` /
``nn.BatchNorm2d`` children named ``conv1``, ``bn1``, ... and ``shortcut``, so that tools looking for
them (norm surgery such as IBN-Net's) find them; a model built from them takes channels-last images
and permutes once at its input (see the builtin ``resnet``).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["BasicBlock", "Bottleneck", "make_norm2d"]


def make_norm2d(name: str, channels: int, groups: int = 8) -> nn.Module:
    """A norm on NCHW maps: ``batchnorm`` (BatchNorm2d), ``groupnorm`` (GroupNorm with the largest
    divisor of ``channels`` that is at most ``groups``), ``layernorm`` (GroupNorm with 1 group: over
    C, H, W jointly), ``identity``."""
    if name == "batchnorm":
        return nn.BatchNorm2d(channels)
    if name == "groupnorm":
        g = max(d for d in range(1, min(groups, channels) + 1) if channels % d == 0)
        return nn.GroupNorm(g, channels)
    if name == "layernorm":
        return nn.GroupNorm(1, channels)
    if name == "identity":
        return nn.Identity()
    raise ValueError(f"unknown norm {name!r}; allowed: batchnorm, groupnorm, layernorm, identity")


def _shortcut(in_channels: int, out_channels: int, stride: int, norm: str, groups: int, bias: bool) -> nn.Module:
    """Identity, or option B (sec. 3.3): a strided 1x1 conv + norm where the shape changes."""
    if stride == 1 and in_channels == out_channels:
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=bias),
                         make_norm2d(norm, out_channels, groups))


class BasicBlock(nn.Module):
    """``relu(norm(conv3x3(relu(norm(conv3x3(x))))) + shortcut(x))`` on ``(B, in_channels, H, W)`` ->
    ``(B, out_channels, H / stride, W / stride)`` (He et al. 2016, fig. 2 and eq. 1-2). Convs have a bias
    only without a norm (``norm="identity"``); see :func:`make_norm2d` for ``norm`` and ``groups``."""

    def __init__(
        self, *, in_channels: int, out_channels: int, stride: int = 1, norm: str = "batchnorm", groups: int = 8
    ) -> None:
        super().__init__()
        bias = norm == "identity"
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=bias)
        self.bn1 = make_norm2d(norm, out_channels, groups)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride=1, padding=1, bias=bias)
        self.bn2 = make_norm2d(norm, out_channels, groups)
        self.shortcut = _shortcut(in_channels, out_channels, stride, norm, groups, bias)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class Bottleneck(nn.Module):
    """The bottleneck block (He et al. 2016, fig. 5 right): 1x1 conv to ``width``, 3x3 conv, 1x1 conv to
    ``width * expansion`` channels, each followed by a norm (ReLU after the first two), plus the shortcut,
    then ReLU. ``(B, in_channels, H, W) -> (B, width * expansion, H / stride, W / stride)``.

    The stride sits on the 3x3 conv (``stride_on_3x3=True``, as most reimplementations since
    torchvision's "ResNet v1.5"); ``stride_on_3x3=False`` puts it on the first 1x1 conv, as the paper's
    models do.
    """

    def __init__(
        self,
        *,
        in_channels: int,
        width: int,
        stride: int = 1,
        expansion: int = 4,
        norm: str = "batchnorm",
        groups: int = 8,
        stride_on_3x3: bool = True,
    ) -> None:
        super().__init__()
        bias = norm == "identity"
        out_channels = width * expansion
        s1, s3 = (1, stride) if stride_on_3x3 else (stride, 1)
        self.conv1 = nn.Conv2d(in_channels, width, 1, stride=s1, bias=bias)
        self.bn1 = make_norm2d(norm, width, groups)
        self.conv2 = nn.Conv2d(width, width, 3, stride=s3, padding=1, bias=bias)
        self.bn2 = make_norm2d(norm, width, groups)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=bias)
        self.bn3 = make_norm2d(norm, out_channels, groups)
        self.shortcut = _shortcut(in_channels, out_channels, stride, norm, groups, bias)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + self.shortcut(x))
