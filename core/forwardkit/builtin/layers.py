"""Shared layers of the builtin components, all on channels-last tokens ``(B, *spatial, C)``.

- :func:`make_norm` builds a normalisation over C (or over every position and channel) by name.
- :func:`make_activation` builds an activation by name.
- :class:`DropPath` is stochastic depth (Huang et al. 2016): a residual branch dropped per sample.
- :class:`Scale` is a learnable per-channel vector: LayerScale (Touvron et al. 2021, CaiT eq. 4) on a
  branch, ResScale (Yu et al. 2022, MetaFormer baselines) on a shortcut.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

NORMS = ("layernorm", "layernorm_nobias", "groupnorm1", "batchnorm", "rmsnorm", "identity")
ACTIVATIONS = ("gelu", "relu", "silu", "tanh", "sigmoid", "squaredrelu", "identity")


class _ScaleOnlyNorm(nn.Module):
    """A norm over channels-last tokens with a learnable per-channel scale and no bias."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.dim = dim
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def extra_repr(self) -> str:
        return f"{self.dim}, eps={self.eps}"


class GroupNorm1(_ScaleOnlyNorm):
    """MetaFormer's "modified LayerNorm" on ``(B, *spatial, C)``.

    Mean and variance are taken jointly over every position and channel of a sample, as GroupNorm
    with one group (Wu & He 2018, eq. 1 with one set S_i per sample); then a per-channel scale,
    no bias: ``y = (x - mean) / sqrt(var + eps) * weight``.
    """

    def forward(self, x: Tensor) -> Tensor:
        reduce = tuple(range(1, x.dim()))
        var, mean = torch.var_mean(x, dim=reduce, unbiased=False, keepdim=True)
        return (x - mean) * torch.rsqrt(var + self.eps) * self.weight


class RMSNorm(_ScaleOnlyNorm):
    """Root-mean-square norm over C (Zhang & Sennrich 2019, eq. 4): ``x / sqrt(mean(x^2) + eps) * weight``."""

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class ChannelsLastBatchNorm(nn.BatchNorm1d):
    """BatchNorm (Ioffe & Szegedy 2015, alg. 1) on ``(B, *spatial, C)``: statistics over B and every
    position, per channel. A :class:`torch.nn.BatchNorm1d` applied to the tokens seen as ``(B*N, C)``."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.reshape(-1, x.shape[-1])).reshape(x.shape)


def make_norm(name: str, dim: int, eps: float = 1e-6) -> nn.Module:
    """A norm on channels-last tokens ``(B, *spatial, C)`` with ``C = dim``, chosen by name.

    ``layernorm`` (LN over C with scale and bias), ``layernorm_nobias`` (scale only),
    ``groupnorm1`` (:class:`GroupNorm1`), ``batchnorm`` (:class:`ChannelsLastBatchNorm`),
    ``rmsnorm`` (:class:`RMSNorm`), ``identity``.
    """
    if name == "layernorm":
        return nn.LayerNorm(dim, eps=eps)
    if name == "layernorm_nobias":
        return nn.LayerNorm(dim, eps=eps, bias=False)
    if name == "groupnorm1":
        return GroupNorm1(dim, eps=eps)
    if name == "batchnorm":
        return ChannelsLastBatchNorm(dim, eps=eps)
    if name == "rmsnorm":
        return RMSNorm(dim, eps=eps)
    if name == "identity":
        return nn.Identity()
    raise ValueError(f"unknown norm {name!r}; allowed: {', '.join(NORMS)}")


class SquaredReLU(nn.Module):
    """``relu(x)^2`` (So et al. 2021, Primer), the activation of MetaFormer's MLP head."""

    def forward(self, x: Tensor) -> Tensor:
        return torch.square(F.relu(x))


def make_activation(name: str) -> nn.Module:
    """An activation module by name: gelu, relu, silu, tanh, sigmoid, squaredrelu, identity."""
    table: dict[str, type[nn.Module]] = {
        "gelu": nn.GELU,
        "relu": nn.ReLU,
        "silu": nn.SiLU,
        "tanh": nn.Tanh,
        "sigmoid": nn.Sigmoid,
        "squaredrelu": SquaredReLU,
        "identity": nn.Identity,
    }
    if name not in table:
        raise ValueError(f"unknown activation {name!r}; allowed: {', '.join(ACTIVATIONS)}")
    return table[name]()


def drop_path(x: Tensor, p: float, training: bool) -> Tensor:
    """Stochastic depth on a residual branch ``x`` of shape ``(B, ...)``: in training, each sample's
    branch is zeroed with probability ``p`` and the kept ones scaled by ``1 / (1 - p)`` (so the
    expectation is unchanged); in evaluation, ``x`` itself."""
    if p == 0.0 or not training:
        return x
    keep = 1.0 - p
    mask = torch.empty((x.shape[0],) + (1,) * (x.dim() - 1), dtype=x.dtype, device=x.device).bernoulli_(keep)
    return x * mask / keep


class DropPath(nn.Module):
    """Module form of :func:`drop_path` with drop probability ``p``."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"drop path probability must be in [0, 1), got {p}")
        self.p = float(p)

    def forward(self, x: Tensor) -> Tensor:
        return drop_path(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Scale(nn.Module):
    """A per-channel vector ``s`` (shape ``(C,)``, initialised to ``init_value``) multiplying
    ``(B, *spatial, C)`` tokens: LayerScale when it scales a branch, ResScale when it scales a shortcut."""

    def __init__(self, dim: int, init_value: float = 1.0, trainable: bool = True) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.full((dim,), float(init_value)), requires_grad=trainable)

    def forward(self, x: Tensor) -> Tensor:
        return x * self.scale

    def extra_repr(self) -> str:
        return f"{self.scale.shape[0]}"
