"""Multi-head self-attention that exposes the class token's attention row (EViT sec. 3.1, the "attentiveness"
of each patch token).

Tokens are ``(B, N, C)`` with the class token at index 0 and ``N - 1`` patch tokens after it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from torch import Tensor, nn

from forwardkit.interfaces import TokenMixer
from forwardkit.nn import multi_head_attention
from forwardkit_evit.config import ClsAttentionConfig


def cls_attention(
    x: Tensor,
    qkv_weight: Tensor,
    proj_weight: Tensor,
    *,
    num_heads: int,
    qkv_bias: Tensor | None = None,
    proj_bias: Tensor | None = None,
    dropout_p: float = 0.0,
    need_cls_attn: bool = True,
) -> tuple[Tensor, Tensor | None]:
    """MHSA on ``x`` ``(B, N, C)`` (token 0 = class token) and the head-averaged class-token attention.

    ``A_h = softmax(Q_h K_h^T / sqrt(d_h))`` (Vaswani et al. eq. 1); the output is
    ``proj(concat_h A_h V_h)``, ``(B, N, C)``, computed by ``scaled_dot_product_attention``. With
    ``need_cls_attn`` the class row is recomputed from the same q and k, ``a = mean_h A_h[0, 1:]`` of shape
    ``(B, N - 1)`` (EViT sec. 3.1: the attentiveness of each patch token); otherwise ``None``. Only the class
    query's row is formed (``O(N C)`` extra), so the output is bitwise that of plain attention. The row is
    taken before attention dropout (the official code takes it after; identical for the default 0). Both
    come from :func:`forwardkit.nn.multi_head_attention` (``return_class_attention``).
    """
    if not need_cls_attn:
        return multi_head_attention(x, qkv_weight, proj_weight, num_heads=num_heads, qkv_bias=qkv_bias,
                                    proj_bias=proj_bias, dropout_p=dropout_p), None
    return multi_head_attention(x, qkv_weight, proj_weight, num_heads=num_heads, qkv_bias=qkv_bias,
                                proj_bias=proj_bias, dropout_p=dropout_p, return_class_attention=True)


class ClsAttentionMHSA(TokenMixer):
    """Standard MHSA (DeiT) on ``(B, N, C)`` rank-1 tokens with the class token at index 0; keeps the
    head-averaged class-token attention of its last forward in ``last_cls_attn`` ``(B, N - 1)`` (detached).

    Shape preserving and not causal; see :func:`cls_attention`. :meth:`attend` returns the row with its
    graph for the reorganisation of the same block (EViT fuses with these weights, so gradients flow).
    """

    Config = ClsAttentionConfig
    config: ClsAttentionConfig
    ranks: ClassVar[frozenset[int]] = frozenset({1})
    causal = False

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        cfg = self.config
        self.num_heads = cfg.num_heads
        self.qkv = nn.Linear(cfg.dim, 3 * cfg.dim, bias=cfg.qkv_bias)
        self.proj = nn.Linear(cfg.dim, cfg.dim)
        self.last_cls_attn: Tensor | None = None

    def attend(self, x: Tensor, *, need_cls_attn: bool = True) -> tuple[Tensor, Tensor | None]:
        """``x`` ``(B, N, C)`` -> (output ``(B, N, C)``, class attention ``(B, N - 1)`` or None)."""
        out, cls_attn = cls_attention(
            x,
            self.qkv.weight,
            self.proj.weight,
            num_heads=self.num_heads,
            qkv_bias=self.qkv.bias,
            proj_bias=self.proj.bias,
            dropout_p=self.config.attn_drop if self.training else 0.0,
            need_cls_attn=need_cls_attn,
        )
        if cls_attn is not None:
            self.last_cls_attn = cls_attn.detach()
        return out, cls_attn

    def forward(self, x: Tensor) -> Tensor:
        return self.attend(x, need_cls_attn=True)[0]

    def extra_repr(self) -> str:
        return f"dim={self.dim}, num_heads={self.num_heads}"
