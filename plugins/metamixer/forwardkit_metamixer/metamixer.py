"""The generic MetaMixer (paper sec. 3.1): ``y = V(act(K(Q(x))))`` with pluggable sub-operations.

* self-attention: ``Q = W_q x``, ``K(q) = q k^T / sqrt(d)`` with ``k = W_k x``, ``act = softmax``,
  ``V(a) = a v`` with ``v = W_v x`` (single head for ``heads=1``);
* FFN: ``Q = x``, ``K = W_1``, ``act = GELU``, ``V = W_2``;
* FFNified attention: ``Q = W_q x``, ``K = DW_k``, ``act = GELU``, ``V = DW_k``.
"""

from __future__ import annotations

import math
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit.interfaces import TokenMixer
from forwardkit_metamixer.config import MetaMixerConfig
from forwardkit_metamixer.layers import RepDWConv, to_first, to_last


class MetaMixer(TokenMixer):
    """Generic QKV mixer on ``(B, *spatial, C)`` -> same shape."""

    Config = MetaMixerConfig
    config: MetaMixerConfig

    @classmethod
    def fields_for_input(cls, spatial: tuple[int | None, ...]) -> dict[str, Any]:
        return {"spatial_rank": len(spatial)}

    def __init__(self, config: MetaMixerConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        c, d, r = self.config, self.dim, self.config.spatial_rank
        self.query = nn.Linear(d, d) if c.query == "linear" else nn.Identity()
        hidden = round(d * c.ratio) if c.key == "linear_channel" else d
        if c.key == "dwconv":
            self.key = RepDWConv(rank=r, channels=d, kernel=c.kernel_size, small=None)
        elif c.key == "linear_channel":
            self.key = nn.Linear(d, hidden)
        else:
            self.key = nn.Linear(d, d)       # W_k: token keys k = W_k x
        if c.value == "dwconv":
            self.value = RepDWConv(rank=r, channels=hidden, kernel=c.kernel_size, small=None)
        elif c.value == "linear_channel":
            self.value = nn.Linear(hidden, d)
        else:
            self.value = nn.Linear(d, d)     # W_v: token values v = W_v x

    def supports(self, spatial: tuple[int, ...]) -> bool:
        uses_conv = "dwconv" in (self.config.key, self.config.value)
        return len(spatial) == self.config.spatial_rank if uses_conv else len(spatial) in self.ranks

    def _act(self, a: Tensor) -> Tensor:
        act = self.config.act
        if act == "gelu":
            return F.gelu(a)
        if act == "relu":
            return F.relu(a)
        if act == "softmax":
            return a.softmax(dim=-1)
        return a

    def forward(self, x: Tensor) -> Tensor:
        c = self.config
        if not self.supports(tuple(x.shape[1:-1])):
            raise ValueError(f"metamixer built for spatial_rank={c.spatial_rank}, got {tuple(x.shape)}")
        q = self.query(x)
        if c.key == "dot_product":
            b, shape, d = x.shape[0], x.shape[1:-1], x.shape[-1]
            h, hd = c.heads, d // c.heads
            qf = q.reshape(b, -1, h, hd).transpose(1, 2)                     # (B, h, N, hd)
            kf = self.key(x).reshape(b, -1, h, hd).transpose(1, 2)
            vf = self.value(x).reshape(b, -1, h, hd).transpose(1, 2)
            coeff = self._act(qf @ kf.transpose(-1, -2) / math.sqrt(hd))     # K then act: (B, h, N, N)
            return (coeff @ vf).transpose(1, 2).reshape(b, *shape, d)        # V: aggregation of values
        if c.key == "dwconv":
            a = to_last(self.key(to_first(q)))
        else:
            a = self.key(q)
        g = self._act(a)
        if c.value == "dwconv":
            return to_last(self.value(to_first(g)))
        return self.value(g)
