"""Builtin token mixers on channels-last tokens ``(B, *spatial, C)``: identity and self-attention."""

from __future__ import annotations

from typing import Any

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
    shape = x.shape
    inner = qkv_weight.shape[0] // 3
    if inner % num_heads:
        raise ValueError(f"inner dim {inner} is not divisible by num_heads={num_heads}")
    tokens = x.reshape(shape[0], -1, shape[-1])  # (B, N, C)
    batch, n = tokens.shape[:2]
    qkv = F.linear(tokens, qkv_weight, qkv_bias)  # (B, N, 3D)
    qkv = qkv.reshape(batch, n, 3, num_heads, inner // num_heads).permute(2, 0, 3, 1, 4)  # (3, B, h, N, d)
    out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], dropout_p=dropout_p, is_causal=causal)
    out = out.transpose(1, 2).reshape(batch, n, inner)  # (B, N, D)
    return F.linear(out, proj_weight, proj_bias).reshape(shape)


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

    def extra_repr(self) -> str:
        return f"dim={self.dim}, num_heads={self.num_heads}, head_dim={self.head_dim}, causal={self.causal}"
