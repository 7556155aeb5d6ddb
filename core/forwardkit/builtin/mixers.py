"""Builtin token mixers on channels-last tokens ``(B, *spatial, C)``: identity and self-attention."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit.builtin.config import AttentionConfig, IdentityConfig
from forwardkit.interfaces import TokenMixer


class Identity(TokenMixer):
    """Returns its input ``(B, *spatial, C)`` unchanged: the no-mixing floor of a MetaFormer
    (IdentityFormer, Yu et al. 2022). Trivially causal."""

    Config = IdentityConfig
    causal = True

    def forward(self, x: Tensor) -> Tensor:
        return x


def split_heads(
    x: Tensor, qkv_weight: Tensor, qkv_bias: Tensor | None, num_heads: int
) -> tuple[Tensor, Tensor, Tensor]:
    """q, k, v of the flattened tokens of ``x`` ``(B, *spatial, C)``, each ``(B, h, N, head_dim)``."""
    inner = qkv_weight.shape[0] // 3
    if inner % num_heads:
        raise ValueError(f"inner dim {inner} is not divisible by num_heads={num_heads}")
    tokens = x.reshape(x.shape[0], -1, x.shape[-1])  # (B, N, C)
    batch, n = tokens.shape[:2]
    qkv = F.linear(tokens, qkv_weight, qkv_bias)  # (B, N, 3D)
    q, k, v = qkv.reshape(batch, n, 3, num_heads, inner // num_heads).permute(2, 0, 3, 1, 4)  # 3 x (B, h, N, d)
    return q, k, v


def attention(
    x: Tensor,
    qkv_weight: Tensor,
    proj_weight: Tensor,
    *,
    num_heads: int,
    qkv_bias: Tensor | None = None,
    proj_bias: Tensor | None = None,
    causal: bool = False,
    dropout_p: float = 0.0,
) -> Tensor:
    """Multi-head self-attention over the flattened tokens of ``x`` (Vaswani et al. 2017, eq. 1-2).

    Shapes: ``x`` is ``(B, *spatial, C)``; ``qkv_weight`` is ``(3 * D, C)`` with inner dim
    ``D = num_heads * head_dim`` (D may differ from C); ``proj_weight`` is ``(C, D)``. The
    ``N = prod(spatial)`` tokens are flattened in row-major order; each head computes
    ``softmax(q k^T / sqrt(head_dim)) v`` (eq. 1), heads are concatenated and projected back to C
    (eq. 2). ``causal`` lets token i attend only to tokens ``<= i``. ``dropout_p`` drops attention
    weights (pass 0 in evaluation). Returns ``(B, *spatial, C)``.
    """
    q, k, v = split_heads(x, qkv_weight, qkv_bias, num_heads)
    out = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=causal)  # (B, h, N, d)
    out = out.transpose(1, 2).reshape(x.shape[0], q.shape[2], -1)  # (B, N, D)
    return F.linear(out, proj_weight, proj_bias).reshape(x.shape)


def attention_scores(
    x: Tensor, qkv_weight: Tensor, *, num_heads: int, qkv_bias: Tensor | None = None, causal: bool = False
) -> Tensor:
    """The pre-softmax scores ``q k^T / sqrt(head_dim)`` of :func:`attention` (eq. 1), ``(B, h, N, N)``;
    with ``causal`` the scores of future tokens are ``-inf``. ``softmax(-1)`` of it gives the weights."""
    q, k, _ = split_heads(x, qkv_weight, qkv_bias, num_heads)
    scores = q @ k.transpose(-2, -1) * q.shape[-1] ** -0.5
    if causal:
        n = scores.shape[-1]
        future = torch.ones(n, n, dtype=torch.bool, device=scores.device).triu(1)
        scores = scores.masked_fill(future, float("-inf"))
    return scores


class Attention(TokenMixer):
    """Multi-head self-attention on ``(B, *spatial, C)`` for spatial ranks 1, 2 and 3.

    ``heads = num_heads or max(dim // head_dim, 1)``; ``qkv``: Linear(C, 3 * heads * head_dim),
    ``proj``: Linear(heads * head_dim, C). No positional term, so the mixer is equivariant to token
    permutations. ``causal`` masks future tokens of the flattened order. See :func:`attention`.
    """

    Config = AttentionConfig
    config: AttentionConfig

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        cfg = self.config
        self.num_heads = cfg.num_heads or max(cfg.dim // cfg.head_dim, 1)
        self.head_dim = cfg.head_dim
        inner = self.num_heads * self.head_dim
        self.causal = cfg.causal
        self.qkv = nn.Linear(cfg.dim, 3 * inner, bias=cfg.qkv_bias)
        self.proj = nn.Linear(inner, cfg.dim, bias=cfg.proj_bias)
        self.proj_drop = nn.Dropout(cfg.proj_drop)

    def forward(self, x: Tensor) -> Tensor:
        out = attention(
            x,
            self.qkv.weight,
            self.proj.weight,
            num_heads=self.num_heads,
            qkv_bias=self.qkv.bias,
            proj_bias=self.proj.bias,
            causal=self.causal,
            dropout_p=self.config.attn_drop if self.training else 0.0,
        )
        return self.proj_drop(out)

    def attention_scores(self, x: Tensor) -> Tensor:
        """Pre-softmax attention scores of ``x`` ``(B, *spatial, C)``: ``(B, heads, N, N)`` over the
        flattened tokens (for inspection; ``.softmax(-1)`` gives the attention weights)."""
        return attention_scores(x, self.qkv.weight, num_heads=self.num_heads, qkv_bias=self.qkv.bias,
                                causal=self.causal)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, num_heads={self.num_heads}, head_dim={self.head_dim}, causal={self.causal}"
