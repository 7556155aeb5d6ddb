"""Prefix channel masks and the masked LayerNorm of the super-network (paper: weight-sharing NAS; official
``nets/channel_drop.py`` and ``nets/masked_layer_norm.py``).

A sub-network of width k keeps channels ``0 .. k-1``: its mask ``m`` is 1 on them and 0 elsewhere. Different
samples of one batch may have different masks (multi-architectural sampling), so masks are ``(B, 1, C)`` and
broadcast over the tokens. The masked LayerNorm normalises each token over its *active* channels only,
``mu = sum_c m_c x_c / k``, ``var = sum_c m_c (x_c - mu)^2 / k``, ``y = m * (w (x - mu) / sqrt(var + eps) + b)``:
on the active part it is exactly ``LayerNorm`` of the first k channels (with the first k entries of w and b),
and it is 0 on the inactive channels, so the next layer sees what the extracted narrow network sees.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def prefix_mask(widths: Tensor, size: int) -> Tensor:
    """``(n,)`` integer widths -> ``(n, 1, size)`` float masks, 1 on channels ``< width`` (``ChannelDrop``)."""
    return (torch.arange(size, device=widths.device) < widths[:, None]).to(torch.get_default_dtype()).unsqueeze(1)


def masked_layer_norm(x: Tensor, mask: Tensor, weight: Tensor, bias: Tensor, eps: float = 1e-6) -> Tensor:
    """LayerNorm of ``x`` ``(B, N, C)`` over the channels where ``mask`` ``(B or 1, 1, C)`` is 1, zero where it
    is 0 (see the module docstring). Inactive inputs do not matter."""
    k = mask.sum(-1, keepdim=True)  # (B, 1, 1) active channels
    xm = x * mask
    mu = xm.sum(-1, keepdim=True) / k
    var = ((xm - mu * mask) ** 2).sum(-1, keepdim=True) / k
    return mask * ((x - mu) * torch.rsqrt(var + eps) * weight + bias)


def masked_layer_norm_reference(x: Tensor, mask: Tensor, weight: Tensor, bias: Tensor, eps: float = 1e-6) -> Tensor:
    """The official ``MaskedLayerNormFunc`` forward, written as it is there: with the inactive inputs zeroed,
    ``mu = mean_C(x) * C / k`` and ``var = mean_C(x^2) * C / k - mu^2``, then the affine step; the official
    ``MaskedLayerNorm.forward`` multiplies by the mask afterwards (``x = x * mask``), as this does."""
    x = x * mask
    inv_share = 1.0 / mask.mean(-1, keepdim=True)
    mu = x.mean(-1, keepdim=True) * inv_share
    var = (x ** 2).mean(-1, keepdim=True) * inv_share - mu ** 2
    z = (x - mu) / torch.sqrt(var + eps)
    return (weight * z + bias) * mask


class MaskedLayerNorm(nn.Module):
    """LayerNorm over the last axis of ``(B, N, C)``; with a ``mask`` ``(B or 1, 1, C)`` over its active channels
    only (:func:`masked_layer_norm`). Parameters ``weight``, ``bias`` as ``nn.LayerNorm``'s (same state_dict)."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))
        self.eps = eps

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        if mask is None:
            return F.layer_norm(x, (x.shape[-1],), self.weight, self.bias, self.eps)
        return masked_layer_norm(x, mask, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.weight.shape[0]}, eps={self.eps}"
