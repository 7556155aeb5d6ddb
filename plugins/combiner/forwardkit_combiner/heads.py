"""The multi-head frame every attention of this plugin shares: projections in, heads, projection out.

Official code (``get_qkv`` and the final ``DenseGeneral`` of ``combiner/jax/model/layer.py``): per head
``q = x W_q / sqrt(d)``, ``k = x W_k``, ``v = x W_v`` with no bias, and the concatenated heads projected back by
``W_o`` with no bias. Only the mixing of the heads' values differs between Combiner and its baselines.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from forwardkit.interfaces import TokenMixer
from forwardkit.nn import merge_heads, split_heads

__all__ = ["HeadsAttention"]


class HeadsAttention(TokenMixer):
    """Base of the plugin's mixers on ``(B, *spatial, C)``: ``attend(q, k, v, spatial, tokens)`` mixes the heads
    ``(B, h, L, d)`` (q pre-scaled by ``1 / sqrt(d)``) of the ``L = prod(spatial)`` flattened tokens."""

    ranks: ClassVar[frozenset[int]] = frozenset({1, 2, 3})

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        c = self.config
        self.causal = bool(c.causal)
        self.num_heads = int(c.num_heads)
        self.head_dim = self.dim // self.num_heads
        self.qkv = nn.Linear(self.dim, 3 * self.dim, bias=c.qkv_bias)
        self.proj = nn.Linear(self.dim, self.dim, bias=False)

    def heads(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``x (B, *spatial, C)`` -> ``q, k, v`` each ``(B, h, L, d)``; ``q`` is divided by ``sqrt(d)``."""
        tokens = x.reshape(x.shape[0], -1, x.shape[-1])
        q, k, v = self.qkv(tokens).chunk(3, dim=-1)
        scale = 1.0 / math.sqrt(self.head_dim)
        return split_heads(q, self.num_heads) * scale, split_heads(k, self.num_heads), split_heads(v, self.num_heads)

    def attend(self, q: Tensor, k: Tensor, v: Tensor, spatial: tuple[int, ...], tokens: Tensor) -> Tensor:
        """Mix the heads: ``(B, h, L, d_v)`` from q, k ``(B, h, L, d)``, v ``(B, h, L, d_v)``; ``tokens`` is the
        mixer's input ``(B, L, C)`` (for abstractions that read it)."""
        raise NotImplementedError  # pragma: no cover - every subclass

    def check_input(self, x: Tensor) -> tuple[int, ...]:
        spatial = tuple(int(s) for s in x.shape[1:-1])
        if len(spatial) not in self.ranks or x.shape[-1] != self.dim:
            raise ValueError(f"{type(self).__name__} takes (B, *spatial, {self.dim}) tokens of rank "
                             f"{sorted(self.ranks)}, got {tuple(x.shape)}")
        if not self.supports(spatial):
            raise ValueError(self.unsupported_reason(spatial))
        return spatial

    def unsupported_reason(self, spatial: tuple[int, ...]) -> str:
        return f"{type(self).__name__} does not support the grid {spatial}"

    def forward(self, x: Tensor) -> Tensor:
        """``(B, *spatial, C) -> (B, *spatial, C)``."""
        spatial = self.check_input(x)
        q, k, v = self.heads(x)
        out = self.attend(q, k, v, spatial, x.reshape(x.shape[0], -1, x.shape[-1]))
        return self.proj(merge_heads(out)).reshape(x.shape)

    @torch.no_grad()
    def effective_attention(self, x: Tensor) -> Tensor:
        """The effective attention ``q(j | i)`` of eq. 8, ``(B, h, L, L)``, of ``x (B, *spatial, C)``, without
        dropout. Every head's output is linear in its values with weights that do not depend on them, so
        mixing the identity ``I_L`` (appended to the values as ``L`` extra channels) returns the weights."""
        spatial = self.check_input(x)
        q, k, v = self.heads(x)
        b, h, n, _ = v.shape
        eye = torch.eye(n, dtype=v.dtype, device=v.device).expand(b, h, n, n)
        was = self.training
        self.eval()
        try:
            out = self.attend(q, k, torch.cat([v, eye], dim=-1), spatial, x.reshape(b, -1, x.shape[-1]))
        finally:
            self.train(was)
        return out[..., v.shape[-1]:]
