"""Depthwise convolutions of rank 1-3 with an optional RepVGG small branch, and their exact fusion.

Training form (paper sec. 4 / official ``models/ffnet.py``): ``BN(DW_k(x)) + BN(DW_s(x))``; inference
form: one ``DW_k`` with bias, obtained by folding each BN into its conv and zero-padding the small
kernel to ``k`` (centred, or aligned to the last tap of every axis for a causal conv: output i then sees
inputs <= i on every axis, hence <= i in flattened order). All tensors here are
channels-first ``(B, C, *spatial)``; the channels-last mixers permute around them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
_BN = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}
_FCONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def fold_bn(weight: Tensor, bias: Tensor | None, bn: nn.modules.batchnorm._BatchNorm) -> tuple[Tensor, Tensor]:
    """``BN(conv(x; W, b)) = conv(x; W * s, (b - mu) * s + beta)`` with ``s = gamma / sqrt(var + eps)``."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    b = torch.zeros_like(bn.running_mean) if bias is None else bias
    w = weight * scale.reshape(-1, *([1] * (weight.dim() - 1)))
    return w, (b - bn.running_mean) * scale + bn.bias


class RepDWConv(nn.Module):
    """``y = [BN](DW_k(x)) + [BN](DW_s(x))`` on ``(B, C_in, *spatial)`` -> ``(B, C_out, *spatial')``.

    ``groups = C_in`` (depthwise; ``C_out`` a multiple of ``C_in`` for PatchMerging's channel multiplier);
    the small branch exists only when ``small`` is set and ``k >= 5`` (official rule). With ``bn`` each
    branch is conv (no bias) + BatchNorm, otherwise each conv carries a bias. ``fuse()`` returns the
    single equivalent conv (eval-mode BN statistics).
    """

    def __init__(self, *, rank: int, channels: int, kernel: int, small: int | None = 3, bn: bool = False,
                 bias: bool = True, out_channels: int | None = None, stride: int = 1, causal: bool = False) -> None:
        super().__init__()
        conv, norm = _CONV[rank], _BN[rank]
        self.rank, self.kernel, self.stride, self.causal = rank, kernel, stride, causal
        self.small = small if (small is not None and kernel >= 5 and small < kernel) else None
        out = out_channels or channels
        self.groups = channels
        self.conv = conv(channels, out, kernel, stride=stride, groups=channels, bias=bias and not bn)
        self.bn = norm(out) if bn else None
        self.conv_small = (conv(channels, out, self.small, stride=stride, groups=channels, bias=bias and not bn)
                           if self.small else None)
        self.bn_small = norm(out) if (bn and self.small) else None

    def _pad(self, x: Tensor, k: int) -> Tensor:
        if self.causal:
            return F.pad(x, (k - 1, 0) * self.rank)
        return F.pad(x, (k // 2, k // 2) * self.rank)

    def forward(self, x: Tensor) -> Tensor:
        y = self.conv(self._pad(x, self.kernel))
        if self.bn is not None:
            y = self.bn(y)
        if self.conv_small is not None:
            z = self.conv_small(self._pad(x, self.small))
            if self.bn_small is not None:
                z = self.bn_small(z)
            y = y + z
        return y

    @torch.no_grad()
    def fused_weight(self) -> tuple[Tensor, Tensor]:
        """The ``(C_out, 1, k, ...)`` weight and ``(C_out,)`` bias of the single equivalent conv."""
        w, b = self.conv.weight, self.conv.bias
        if self.bn is not None:
            w, b = fold_bn(w, b, self.bn)
        elif b is None:
            b = torch.zeros(w.shape[0], dtype=w.dtype, device=w.device)
        if self.conv_small is not None:
            ws, bs = self.conv_small.weight, self.conv_small.bias
            if self.bn_small is not None:
                ws, bs = fold_bn(ws, bs, self.bn_small)
            elif bs is None:
                bs = torch.zeros_like(b)
            d = self.kernel - self.small
            pad = (d, 0) * self.rank if self.causal else (d // 2, d // 2) * self.rank
            w, b = w + F.pad(ws, pad), b + bs
        return w.clone(), b.clone()

    def fuse(self) -> FusedDWConv:
        w, b = self.fused_weight()
        return FusedDWConv(weight=w, bias=b, rank=self.rank, groups=self.groups, stride=self.stride,
                           causal=self.causal)


class FusedDWConv(nn.Module):
    """The inference form of :class:`RepDWConv`: one padded depthwise conv with bias."""

    def __init__(self, *, weight: Tensor, bias: Tensor, rank: int, groups: int, stride: int = 1,
                 causal: bool = False) -> None:
        super().__init__()
        self.weight, self.bias = nn.Parameter(weight), nn.Parameter(bias)
        self.rank, self.groups, self.stride, self.causal = rank, groups, stride, causal
        self.kernel = weight.shape[-1]

    def forward(self, x: Tensor) -> Tensor:
        k = self.kernel
        x = F.pad(x, (k - 1, 0) * self.rank) if self.causal else F.pad(x, (k // 2, k // 2) * self.rank)
        return _FCONV[self.rank](x, self.weight, self.bias, stride=self.stride, groups=self.groups)


def conv_bn(rank: int, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    """``BN(Conv(x))`` with 'same'-style padding ``k // 2`` and no conv bias (foldable)."""
    return nn.Sequential(_CONV[rank](cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
                         _BN[rank](cout))


def to_first(x: Tensor) -> Tensor:
    """``(B, *spatial, C)`` -> ``(B, C, *spatial)``."""
    return x.movedim(-1, 1)


def to_last(x: Tensor) -> Tensor:
    """``(B, C, *spatial)`` -> ``(B, *spatial, C)``."""
    return x.movedim(1, -1)
