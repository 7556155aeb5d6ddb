"""A causal linear-time token mixer: a gated linear recurrence over the flattened tokens (raster order).

TokenUnify pairs its objectives with Mamba, whose selective state space is linear in the number of tokens and
causal. This is a small stand-in of that family (not Mamba itself): with ``a_t = sigmoid(W_a x_t + b)``,

    h_t = a_t * h_{t-1} + (1 - a_t) * (W_v x_t),    y_t = W_o (h_t * silu(W_g x_t)),

on ``(B, *spatial, C)`` tokens, O(N) in the number of tokens N, output t depending on tokens <= t only.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit.interfaces import TokenMixer
from forwardkit_tokenunify.config import GatedLinearRecurrenceConfig


def linear_recurrence(a: Tensor, u: Tensor) -> Tensor:
    """``h_t = a_t * h_{t-1} + u_t`` with ``h_{-1} = 0``, over dim 1 of ``(B, N, D)`` tensors (a plain loop)."""
    h = torch.zeros_like(u[:, 0])
    out = []
    for t in range(u.shape[1]):
        h = a[:, t] * h + u[:, t]
        out.append(h)
    return torch.stack(out, dim=1)


class GatedLinearRecurrence(TokenMixer):
    """Gated linear recurrence over the raster order of ``(B, *spatial, C)`` tokens; causal, O(N)."""

    Config = GatedLinearRecurrenceConfig
    causal = True

    def __init__(self, config: GatedLinearRecurrenceConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        c, d = self.config.dim, self.config.dim * self.config.expand
        self.proj_in = nn.Linear(c, 3 * d)
        self.proj_out = nn.Linear(d, c)
        with torch.no_grad():
            self.proj_in.bias[:d].fill_(self.config.gate_bias)

    def forward(self, x: Tensor) -> Tensor:
        b, *spatial, c = x.shape
        seq = x.reshape(b, -1, c)
        gate, value, out_gate = self.proj_in(seq).chunk(3, dim=-1)
        a = torch.sigmoid(gate)
        h = linear_recurrence(a, (1.0 - a) * value)
        y = self.proj_out(h * F.silu(out_gate))
        return y.reshape(b, *spatial, c)
