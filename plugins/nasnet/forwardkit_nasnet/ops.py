"""The 13 operations of the NASNet search space (paper sec. 3) and the cell's plumbing (the authors'
``nasnet_utils.py``), on **channels-first** maps ``(B, C, H, W)`` (a network permutes once at its input).

Every operation maps ``C_in`` channels to ``F`` and applies its stride to H and W (``ceil(H / stride)`` with the
explicit padding ``k // 2`` used throughout, the size TF's "SAME" gives). As in the TF code:

* ``sep_conv_KxK``: two repeats of (ReLU, depthwise KxK conv, pointwise 1x1 conv, BN), the stride only in the
  first repeat, which also maps C_in -> F (``_stacked_separable_conv``);
* pooling (TF "SAME": average without the padded zeros, max with -inf padding), followed by 1x1 conv + BN only
  where C_in != F;
* ``identity`` ("none"): the input itself, or ReLU-1x1 conv (stride)-BN where the stride or the width differ;
* factorized reduction: two stride-2 1x1 "avg-pools" (subsamplings), the second shifted by one pixel, each a 1x1
  conv to F/2, concatenated, BN (``factorized_reduction``).

The ops the released cells do not use (1x3-3x1, 1x7-7x1, dilated 3x3, 1x1, 3x3 convs) follow the same
ReLU-conv-BN pattern; the paper does not give their inner layout (README.md, deviations).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit_nasnet.genotypes import OPS


def batch_norm(channels: int, *, momentum: float = 0.1, eps: float = 1e-5) -> nn.BatchNorm2d:
    """BatchNorm with scale and shift (the authors' ``scale=True``); TF decay d is PyTorch momentum 1 - d."""
    return nn.BatchNorm2d(channels, eps=eps, momentum=momentum)


class ReLUConvBN(nn.Sequential):
    """``BN(conv_KxK(ReLU(x)))``, no conv bias: ``(B, C_in, H, W) -> (B, C_out, H/s, W/s)``."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, dilation: int = 1, *,
                 momentum: float = 0.1, eps: float = 1e-5) -> None:
        pad = dilation * (kernel // 2)
        super().__init__(nn.ReLU(), nn.Conv2d(c_in, c_out, kernel, stride, pad, dilation=dilation, bias=False),
                         batch_norm(c_out, momentum=momentum, eps=eps))


class ConvPair(nn.Sequential):
    """"1xK then Kx1 convolution": ``BN(conv_Kx1(conv_1xK(ReLU(x))))``, strides (1, s) then (s, 1)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, *, momentum: float = 0.1,
                 eps: float = 1e-5) -> None:
        p = kernel // 2
        super().__init__(nn.ReLU(),
                         nn.Conv2d(c_in, c_out, (1, kernel), (1, stride), (0, p), bias=False),
                         nn.Conv2d(c_out, c_out, (kernel, 1), (stride, 1), (p, 0), bias=False),
                         batch_norm(c_out, momentum=momentum, eps=eps))


class SepConvStack(nn.Module):
    """``sep_conv_KxK`` (the TF ``separable_KxK_2``): two repeats of ReLU, depthwise KxK, pointwise 1x1, BN;
    ``(B, C_in, H, W) -> (B, F, H/s, W/s)``, the stride in the first depthwise conv only."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, *, repeats: int = 2,
                 momentum: float = 0.1, eps: float = 1e-5) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = c_in
        for r in range(repeats):
            layers += [nn.ReLU(),
                       nn.Conv2d(c, c, kernel, stride if r == 0 else 1, kernel // 2, groups=c, bias=False),
                       nn.Conv2d(c, c_out, 1, bias=False),
                       batch_norm(c_out, momentum=momentum, eps=eps)]
            c = c_out
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


class Pool(nn.Module):
    """``avg_pool_KxK`` / ``max_pool_KxK`` with padding K // 2 (average over the real pixels only, TF "SAME"),
    then 1x1 conv + BN when ``c_in != c_out`` (no ReLU, as the TF code)."""

    def __init__(self, kind: str, c_in: int, c_out: int, kernel: int, stride: int = 1, *, momentum: float = 0.1,
                 eps: float = 1e-5) -> None:
        super().__init__()
        pad = kernel // 2
        self.pool: nn.Module = (nn.AvgPool2d(kernel, stride, pad, count_include_pad=False) if kind == "avg"
                                else nn.MaxPool2d(kernel, stride, pad))
        self.proj: nn.Module = (nn.Sequential(nn.Conv2d(c_in, c_out, 1, bias=False),
                                              batch_norm(c_out, momentum=momentum, eps=eps))
                                if c_in != c_out else nn.Identity())

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(self.pool(x))


def shifted_subsample(x: Tensor, stride: int = 2) -> tuple[Tensor, Tensor]:
    """The two sampling grids of the factorized reduction on ``(B, C, H, W)``: path 1 takes pixels
    ``(stride*i, stride*j)`` (a 1x1 stride-2 "VALID" avg-pool), path 2 pads one zero row and column at the bottom
    and right and takes ``(stride*i + 1, stride*j + 1)``; both ``(B, C, ceil(H/s), ceil(W/s))``."""
    path1 = x[:, :, ::stride, ::stride]
    path2 = F.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:][:, :, ::stride, ::stride]
    return path1, path2


class FactorizedReduction(nn.Module):
    """``factorized_reduction`` (TF): stride 1: 1x1 conv + BN; stride 2: ``BN(concat(conv1(path1), conv2(path2)))``
    with the paths of :func:`shifted_subsample`, each conv to half of ``c_out`` (the second takes the odd
    remainder). ``(B, C_in, H, W) -> (B, C_out, ceil(H/s), ceil(W/s))``; no ReLU (callers add it)."""

    def __init__(self, c_in: int, c_out: int, stride: int = 2, *, momentum: float = 0.1, eps: float = 1e-5) -> None:
        super().__init__()
        self.stride = stride
        if stride == 1:
            self.conv = nn.Conv2d(c_in, c_out, 1, bias=False)
        else:
            self.path1 = nn.Conv2d(c_in, c_out // 2, 1, bias=False)
            self.path2 = nn.Conv2d(c_in, c_out - c_out // 2, 1, bias=False)
        self.bn = batch_norm(c_out, momentum=momentum, eps=eps)

    def paths(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """The two convolved paths before the concat and BN (stride 2 only)."""
        p1, p2 = shifted_subsample(x, self.stride)
        return self.path1(p1), self.path2(p2)

    def forward(self, x: Tensor) -> Tensor:
        if self.stride == 1:
            return self.bn(self.conv(x))
        return self.bn(torch.cat(self.paths(x), dim=1))


def make_op(name: str, c_in: int, c_out: int, stride: int = 1, *, momentum: float = 0.1,
            eps: float = 1e-5) -> nn.Module:
    """The module of operation ``name`` (one of :data:`~forwardkit_nasnet.genotypes.OPS`) from ``c_in`` to
    ``c_out`` channels with ``stride`` (TF ``_apply_conv_operation``)."""
    bn: dict[str, float] = {"momentum": momentum, "eps": eps}
    if name == "identity":
        if stride == 1 and c_in == c_out:
            return nn.Identity()
        return ReLUConvBN(c_in, c_out, 1, stride, momentum=momentum, eps=eps)
    if name.startswith("sep_conv_"):
        return SepConvStack(c_in, c_out, int(name[-1]), stride, momentum=momentum, eps=eps)
    if name.endswith("pool_3x3") or name.endswith("pool_5x5") or name.endswith("pool_7x7"):
        return Pool(name[:3], c_in, c_out, int(name[-1]), stride, **bn)
    if name == "conv_1x3_3x1":
        return ConvPair(c_in, c_out, 3, stride, **bn)
    if name == "conv_1x7_7x1":
        return ConvPair(c_in, c_out, 7, stride, **bn)
    if name == "dil_conv_3x3":
        return ReLUConvBN(c_in, c_out, 3, stride, dilation=2, momentum=momentum, eps=eps)
    if name == "conv_1x1":
        return ReLUConvBN(c_in, c_out, 1, stride, momentum=momentum, eps=eps)
    if name == "conv_3x3":
        return ReLUConvBN(c_in, c_out, 3, stride, momentum=momentum, eps=eps)
    raise ValueError(f"unknown operation {name!r}; the NASNet search space has {', '.join(OPS)}")
