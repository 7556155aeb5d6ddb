"""Builtin token mixers on channels-last tokens ``(B, *spatial, C)``: identity and self-attention.

The attention itself is :mod:`forwardkit.nn.attention`; :func:`attention` (the functional form of the
``attention`` mixer) is :func:`forwardkit.nn.multi_head_attention`.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from forwardkit.builtin.config import AttentionConfig, IdentityConfig
from forwardkit.interfaces import TokenMixer
from forwardkit.nn.attention import MultiHeadAttention, attention_scores, multi_head_attention, project_qkv

__all__ = ["Attention", "Identity", "attention", "attention_scores", "split_heads"]

#: the functional form of the ``attention`` token mixer
attention = multi_head_attention


def split_heads(
    x: Tensor, qkv_weight: Tensor, qkv_bias: Tensor | None, num_heads: int
) -> tuple[Tensor, Tensor, Tensor]:
    """Deprecated: :func:`forwardkit.nn.project_qkv` (q, k, v of ``(B, *spatial, C)``, each ``(B, h, N, d)``).
    ``forwardkit.nn.split_heads`` is the reshape ``(B, N, h * d) -> (B, h, N, d)``."""
    return project_qkv(x, qkv_weight, qkv_bias, num_heads=num_heads)


class Identity(TokenMixer):
    """Returns its input ``(B, *spatial, C)`` unchanged: the no-mixing floor of a MetaFormer
    (IdentityFormer, Yu et al. 2022). Trivially causal."""

    Config = IdentityConfig
    causal = True

    def forward(self, x: Tensor) -> Tensor:
        return x


class Attention(TokenMixer, MultiHeadAttention):
    """Multi-head self-attention on ``(B, *spatial, C)`` for spatial ranks 1, 2 and 3: a
    :class:`forwardkit.nn.MultiHeadAttention` configured by :class:`~forwardkit.builtin.config.AttentionConfig`.

    ``heads = num_heads or max(dim // head_dim, 1)``; ``qkv``: Linear(C, 3 * heads * head_dim),
    ``proj``: Linear(heads * head_dim, C). No positional term, so the mixer is equivariant to token
    permutations. ``causal`` (from the config) masks future tokens of the flattened order. See
    :func:`forwardkit.nn.multi_head_attention`.
    """

    Config = AttentionConfig
    config: AttentionConfig

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        TokenMixer.__init__(self, config, **overrides)
        cfg = self.config
        self._init_layers(dim=cfg.dim, num_heads=cfg.num_heads, head_dim=cfg.head_dim, qkv_bias=cfg.qkv_bias,
                          proj_bias=cfg.proj_bias, attn_drop=cfg.attn_drop, proj_drop=cfg.proj_drop, causal=cfg.causal)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """``(B, *spatial, C) -> (B, *spatial, C)``; ``mask`` is an optional extra attention mask (holders that
        know only the token-mixer interface call ``mixer(x)``)."""
        return MultiHeadAttention.forward(self, x, mask)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, num_heads={self.num_heads}, head_dim={self.head_dim}, causal={self.causal}"
