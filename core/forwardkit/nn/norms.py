"""Normalisations of channels-last tokens ``(B, *spatial, C)``, chosen by name with :func:`make_norm`.

LayerNorm over the channels of channels-last tokens is :class:`torch.nn.LayerNorm` ``(C,)`` itself
(Ba et al. 2016, eq. 4 over the C features of each token); ``make_norm("layernorm", C)`` builds it, and
``"layernorm_nobias"`` the scale-only variant MetaFormer uses. The other norms here keep a per-channel
scale and no bias.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

__all__ = ["NORMS", "ChannelsLastBatchNorm", "GroupNorm1", "NormArg", "RMSNorm", "group_norm1", "group_norm1_reference",
           "make_norm"]

#: the names :func:`make_norm` builds (the ``Norm`` literal of the builtin configs)
NORMS = ("layernorm", "layernorm_nobias", "groupnorm1", "batchnorm", "rmsnorm", "identity")

#: a norm name of :data:`NORMS`, or a factory ``dim -> module``
NormArg = str | Callable[[int], nn.Module]


class _ScaleOnlyNorm(nn.Module):
    """A norm over channels-last tokens with a learnable per-channel scale ``weight`` ``(C,)`` and no bias."""

    def __init__(self, *, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.dim = dim
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def extra_repr(self) -> str:
        return f"{self.dim}, eps={self.eps}"


def group_norm1_reference(x: Tensor, weight: Tensor, eps: float = 1e-6) -> Tensor:
    """MetaFormer's modified LayerNorm written out (Wu & He 2018, eq. 1 with one set S_i per sample): mean and
    variance jointly over every position and channel of each sample of ``x`` ``(B, *spatial, C)``, then the
    per-channel scale ``weight`` ``(C,)``: ``y = (x - mean) / sqrt(var + eps) * weight``."""
    reduce = tuple(range(1, x.dim()))
    var, mean = torch.var_mean(x, dim=reduce, unbiased=False, keepdim=True)
    return (x - mean) * torch.rsqrt(var + eps) * weight


def group_norm1(x: Tensor, weight: Tensor, eps: float = 1e-6) -> Tensor:
    """:func:`group_norm1_reference` by torch's fused ``group_norm`` kernel (one group) on a channels-last view
    of ``x`` ``(B, *spatial, C)``: ``(B, C, H, W)`` for images, ``(B, C, 1, N)`` for any other rank, whose
    strides are channels-last, so nothing is copied in or out. Forward+backward it takes a fifth to a
    seventh of the composed formula's time (``benchmarks/results/cpu_kernels.json``, piece ``groupnorm1``:
    one pass for the statistics and one for the output instead of five autograd ops, and a fused backward).
    Returns ``(B, *spatial, C)``."""
    if x.dim() == 4:  # permute both ways: views only (a trailing reshape alone cost 6-12% at 7x7 and 14x14)
        # channels-last in, channels-last out: the permuted output is contiguous already (no copy)
        return _group_norm(x.permute(0, 3, 1, 2), weight, eps).permute(0, 2, 3, 1).contiguous()
    view = x.reshape(x.shape[0], 1, -1, x.shape[-1]).permute(0, 3, 1, 2)
    return _group_norm(view, weight, eps).permute(0, 2, 3, 1).reshape(x.shape)


def _group_norm(x: Tensor, weight: Tensor, eps: float) -> Tensor:
    """One-group ``torch.group_norm`` without ``F.group_norm``'s Python checks (5-10% of a sub-ms call on
    7x7 and 14x14 stages; the shapes are valid by construction here)."""
    return torch.group_norm(x, 1, weight, None, eps, torch.backends.cudnn.enabled)


class GroupNorm1(_ScaleOnlyNorm):
    """MetaFormer's "modified LayerNorm" on ``(B, *spatial, C)``.

    Mean and variance are taken jointly over every position and channel of a sample, as GroupNorm
    with one group (Wu & He 2018, eq. 1 with one set S_i per sample); then a per-channel scale,
    no bias: ``y = (x - mean) / sqrt(var + eps) * weight``. Computed by :func:`group_norm1` (torch's fused
    kernel); :func:`group_norm1_reference` is the formula written out.
    """

    def forward(self, x: Tensor) -> Tensor:
        return group_norm1(x, self.weight, self.eps)


class RMSNorm(_ScaleOnlyNorm):
    """Root-mean-square norm over C of ``(B, *spatial, C)`` (Zhang & Sennrich 2019, eq. 4):
    ``y = x / sqrt(mean_c(x^2) + eps) * weight``."""

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class ChannelsLastBatchNorm(nn.BatchNorm1d):
    """BatchNorm (Ioffe & Szegedy 2015, alg. 1) on ``(B, *spatial, C)``: statistics over B and every
    position, per channel. A :class:`torch.nn.BatchNorm1d` applied to the tokens seen as ``(B*N, C)``."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.reshape(-1, x.shape[-1])).reshape(x.shape)


def make_norm(name: NormArg, dim: int, eps: float = 1e-6) -> nn.Module:
    """A norm on channels-last tokens ``(B, *spatial, C)`` with ``C = dim``.

    ``name`` is one of :data:`NORMS`: ``layernorm`` (:class:`torch.nn.LayerNorm` over C, scale and
    bias), ``layernorm_nobias`` (scale only), ``groupnorm1`` (:class:`GroupNorm1`), ``batchnorm``
    (:class:`ChannelsLastBatchNorm`), ``rmsnorm`` (:class:`RMSNorm`), ``identity``; or a factory
    ``dim -> module``, which is called with ``dim`` (``eps`` is then the factory's business).
    """
    if callable(name):
        return name(dim)
    if name == "layernorm":
        return nn.LayerNorm(dim, eps=eps)
    if name == "layernorm_nobias":
        return nn.LayerNorm(dim, eps=eps, bias=False)
    if name == "groupnorm1":
        return GroupNorm1(dim=dim, eps=eps)
    if name == "batchnorm":
        return ChannelsLastBatchNorm(dim, eps=eps)
    if name == "rmsnorm":
        return RMSNorm(dim=dim, eps=eps)
    if name == "identity":
        return nn.Identity()
    raise ValueError(f"unknown norm {name!r}; allowed: {', '.join(NORMS)}")
