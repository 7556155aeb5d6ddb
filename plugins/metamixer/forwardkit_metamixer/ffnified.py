"""FFNified attention (paper sec. 3.2; official ``Token_Mixer``) as a channels-last TokenMixer.

``q = W_q x`` (eq. "Q"), ``a = DW_k1(q)`` (query-key interaction: the kernel is the keys over a
neighbourhood), ``g = act(a)`` (softmax -> GELU), ``y = DW_k2(g)`` (coefficient-value interaction: the
kernel is the values). No output projection. Cost ``O(N C (1 + k1^2 + k2^2))``, memory linear in N.
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit.interfaces import TokenMixer
from forwardkit_metamixer.config import FFNifiedAttentionConfig
from forwardkit_metamixer.layers import _BN, RepDWConv, to_first, to_last


def apply_act(x: Tensor, act: str, dim: int = 1) -> Tensor:
    """The MetaMixer normaliser on channels-first ``x``; ``softmax_channel`` normalises over channels."""
    if act == "gelu":
        return F.gelu(x)
    if act == "relu":
        return F.relu(x)
    if act == "softmax_channel":
        return x.softmax(dim=dim)
    return x


class FFNifiedAttention(TokenMixer):
    """``y = DW_k2(act(DW_k1(W_q x)))`` on ``(B, *spatial, C)`` -> ``(B, *spatial, C)``, rank 1-3."""

    Config = FFNifiedAttentionConfig
    config: FFNifiedAttentionConfig

    @classmethod
    def fields_for_input(cls, spatial: tuple[int | None, ...]) -> dict[str, Any]:
        return {"spatial_rank": len(spatial)}

    def __init__(self, config: FFNifiedAttentionConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        c, r = self.config, self.config.spatial_rank
        self.causal = c.causal
        self.query = nn.Linear(self.dim, self.dim, bias=c.bias and not c.use_bn)
        self.query_bn = _BN[r](self.dim) if c.use_bn else None
        self.key = RepDWConv(rank=r, channels=self.dim, kernel=c.k1, small=c.rep_small_kernel, bn=c.use_bn,
                             bias=c.bias, causal=c.causal)
        self.value = RepDWConv(rank=r, channels=self.dim, kernel=c.k2, small=c.rep_small_kernel, bn=c.use_bn,
                               bias=c.bias, causal=c.causal)

    def supports(self, spatial: tuple[int, ...]) -> bool:
        return len(spatial) == self.config.spatial_rank

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() - 2 != self.config.spatial_rank:
            raise ValueError(f"ffnified_attention built for spatial_rank={self.config.spatial_rank}, "
                             f"got tokens of shape {tuple(x.shape)}")
        q = to_first(self.query(x))                       # Q: (B, C, *spatial)
        if self.query_bn is not None:
            q = self.query_bn(q)
        a = self.key(q)                                   # K: query-key interaction
        g = apply_act(a, self.config.act)                 # normaliser: GELU instead of softmax
        return to_last(self.value(g))                     # V: coefficient-value interaction


def ffnified_attention(x: Tensor, w_q: Tensor, b_q: Tensor | None, w_k: Tensor, b_k: Tensor | None,
                       w_v: Tensor, b_v: Tensor | None) -> Tensor:
    """Functional form, rank 2: ``x (B, H, W, C)``, ``w_q (C, C)``, ``w_k (C, 1, k1, k1)``, ``w_v (C, 1, k2, k2)``."""
    q = to_first(F.linear(x, w_q, b_q))
    a = F.conv2d(q, w_k, b_k, padding=w_k.shape[-1] // 2, groups=q.shape[1])
    return to_last(F.conv2d(F.gelu(a), w_v, b_v, padding=w_v.shape[-1] // 2, groups=q.shape[1]))
