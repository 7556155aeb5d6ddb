"""Attention pooling and factorised position embeddings (paper's method: attention pooling).

Attention pooling A: a small Transformer over ``[u_0, h_j1, ..., h_jk]`` with a learned vector ``u_0``; the output
at ``u_0``'s position is the summary ``u`` of the visible patches (the other outputs are discarded). Pre-norm layers
(our choice: the depth and norm placement were not in the text we read).

Factorised positions: ``pos(r, c) = row[r] + col[c]``, so a G x G grid learns 2 G vectors instead of G^2.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from forwardkit.nn import FeedForward, MultiHeadAttention


class PreNormLayer(nn.Module):
    """``x + attn(LN(x))`` then ``x + ffn(LN(x))`` on tokens ``(B, N, d)``."""

    def __init__(self, *, dim: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = MultiHeadAttention(dim=dim, num_heads=heads, head_dim=dim // heads, qkv_bias=True)
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = FeedForward(dim=dim, mlp_ratio=mlp_ratio)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))


class AttentionPooling(nn.Module):
    """A: ``(B, k, d)`` visible-patch embeddings -> ``u`` ``(B, d)``, the output at the learned ``u_0``'s position."""

    def __init__(self, *, dim: int, layers: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.u0 = nn.Parameter(torch.zeros(dim))
        nn.init.trunc_normal_(self.u0, std=0.02)
        self.layers = nn.ModuleList(PreNormLayer(dim=dim, heads=heads, mlp_ratio=mlp_ratio) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)

    def forward(self, h: Tensor) -> Tensor:
        """``(B, k, d) -> (B, d)``; without a position term the result does not depend on the order of ``h``."""
        x = torch.cat([self.u0.expand(h.shape[0], 1, -1), h], dim=1)
        for layer in self.layers:
            x = layer(x)
        return self.norm(x[:, 0])


class FactorisedPosition(nn.Module):
    """``pos(k) = row[k // G] + col[k % G]`` for patch indices ``k`` of a G x G grid; ``2 G d`` parameters."""

    def __init__(self, *, grid: int, dim: int, init_std: float) -> None:
        super().__init__()
        self.grid = grid
        self.row = nn.Parameter(torch.randn(grid, dim) * init_std)
        self.col = nn.Parameter(torch.randn(grid, dim) * init_std)

    def forward(self, index: Tensor) -> Tensor:
        """Long ``(...)`` patch indices in ``[0, G^2)`` -> ``(..., d)`` embeddings."""
        return self.row[index // self.grid] + self.col[index % self.grid]
