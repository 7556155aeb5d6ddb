"""The IBN layer: Instance Normalization on part of the channels, Batch Normalization on the rest.

Pan et al. 2018, sec. 3.2 and fig. 3(b): in IBN-a the first normalisation of a residual branch is
split channel-wise, ``h = int(C * r)`` channels go through ``InstanceNorm2d(h, affine=True)`` (statistics
of each image, eq. 2 of Ulyanov et al.: ``(x - mu_{n,c}) / sigma_{n,c}`` over H, W) and the other ``C - h``
through ``BatchNorm2d`` (statistics of the batch, running statistics in eval mode).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from forwardkit.interfaces.base import Component
from forwardkit_ibn_net.config import IBNConfig

__all__ = ["IBN", "ibn", "ibn_from_bn", "in_channel_slice"]


def in_channel_slice(channels: int, ratio: float, in_first: bool) -> tuple[slice, slice]:
    """``(in_part, bn_part)``: the channel ranges of the IN and BN halves for ``channels`` and ``ratio``.

    ``h = int(channels * ratio)``; with ``in_first`` IN takes ``[0, h)`` (official ``resnet_ibn``),
    otherwise ``[C - h, C)`` (old ResNet and DenseNet code)."""
    h = int(channels * ratio)
    if in_first:
        return slice(0, h), slice(h, channels)
    return slice(channels - h, channels), slice(0, channels - h)


def ibn(x: Tensor, instance_norm: nn.Module | None, batch_norm: nn.Module | None, in_part: slice,
        bn_part: slice) -> Tensor:
    """IBN (paper fig. 3b): ``x`` ``(B, C, H, W)``; IN over ``x[:, in_part]``, BN over ``x[:, bn_part]``,
    concatenated back in channel order; returns ``(B, C, H, W)``."""
    pieces = []
    for part, norm in sorted(((in_part, instance_norm), (bn_part, batch_norm)), key=lambda p: p[0].start):
        if part.stop > part.start:
            assert norm is not None
            pieces.append(norm(x[:, part]))
    return pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=1)


class IBN(Component, nn.Module):
    """IBN layer on ``(B, C, H, W)`` maps (a drop-in replacement for ``BatchNorm2d(C)``).

    ``self.IN`` is ``InstanceNorm2d(h, affine=True)`` (no running statistics: the same in train and
    eval mode), ``self.BN`` is ``BatchNorm2d(C - h)``; either is ``None`` when it gets no channel.
    """

    Config = IBNConfig
    config: IBNConfig

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        nn.Module.__init__(self)
        self._init_config(config, overrides)
        c = self.config
        self.in_part, self.bn_part = in_channel_slice(c.channels, c.ratio, c.in_first)
        h = self.in_part.stop - self.in_part.start
        self.IN = nn.InstanceNorm2d(h, eps=c.eps, affine=True) if h > 0 else None
        self.BN = nn.BatchNorm2d(c.channels - h, eps=c.eps, momentum=c.momentum) if h < c.channels else None

    @property
    def half(self) -> int:
        """Number of IN channels, ``int(C * r)``."""
        return self.in_part.stop - self.in_part.start

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.config.channels:
            raise ValueError(f"IBN expects (B, {self.config.channels}, H, W), got {tuple(x.shape)}")
        return ibn(x, self.IN, self.BN, self.in_part, self.bn_part)

    def extra_repr(self) -> str:
        return f"channels={self.config.channels}, in_channels={self.in_part.start}:{self.in_part.stop}"


@torch.no_grad()
def ibn_from_bn(bn: nn.BatchNorm2d, ratio: float = 0.5, *, in_first: bool = True, copy_stats: bool = True) -> IBN:
    """An :class:`IBN` replacing ``bn``: the BN half keeps ``bn``'s running statistics and affine of its
    channels, the IN half starts its affine from ``bn``'s affine of its channels (with ``copy_stats``)."""
    layer = IBN(channels=bn.num_features, ratio=ratio, in_first=in_first, eps=bn.eps,
                momentum=bn.momentum if bn.momentum is not None else 0.1)
    ref = bn.weight if bn.weight is not None else bn.running_mean
    layer.to(device=ref.device if ref is not None else None, dtype=ref.dtype if ref is not None else None)
    if copy_stats:
        if layer.BN is not None:
            part = layer.bn_part
            if bn.affine:
                layer.BN.weight.copy_(bn.weight[part])
                layer.BN.bias.copy_(bn.bias[part])
            if bn.track_running_stats and bn.running_mean is not None:
                layer.BN.running_mean.copy_(bn.running_mean[part])
                layer.BN.running_var.copy_(bn.running_var[part])
                layer.BN.num_batches_tracked.copy_(bn.num_batches_tracked)
        if layer.IN is not None and bn.affine:
            layer.IN.weight.copy_(bn.weight[layer.in_part])
            layer.IN.bias.copy_(bn.bias[layer.in_part])
    layer.train(bn.training)
    return layer
