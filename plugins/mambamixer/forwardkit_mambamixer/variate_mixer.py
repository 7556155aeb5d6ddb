"""Selective Variate Mixer of TSM2 (paper §5; the bidirectional Selective Channel Mixer, §3.2 eqs. 12-18).

Along one spatial ``axis`` of ``(B, *spatial, C)`` (the variates M of TSM2's ``(B, M, n, D)`` tokens), for
every position of the other axes on its own::

    x_s, z  = Linear(x)                                    C -> 2E        (eqs. 12, 17: the shared gate MLP)
    y_fwd   = S6_fwd(SiLU(Conv_fwd(x_s)))                                 (eqs. 12-13)
    y_bwd   = Flip(S6_bwd(SiLU(Conv_bwd(Flip(x_s)))))                     (eqs. 14-16)
    out     = Linear((y_fwd + y_bwd) * SiLU(z))            E -> C         (eq. 18)

Each direction has its own causal conv and S6 (``share_directions`` ties them: then the mixer commutes with
flipping the axis). Non-causal; no parameter depends on the length of the axis, so TSM2 takes any M.
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit.interfaces import TokenMixer
from forwardkit_mambamixer.config import SelectiveVariateMixerConfig
from forwardkit_mambamixer.s6 import S6Branch

__all__ = ["SelectiveVariateMixer", "bidirectional"]


def bidirectional(xs: Tensor, forward: nn.Module, backward: nn.Module) -> Tensor:
    """``forward(xs) + Flip(backward(Flip(xs)))`` along axis 1 of ``(B, S, E)`` (paper eq. 18 before the gate)."""
    return forward(xs) + backward(xs.flip(1)).flip(1)


class SelectiveVariateMixer(TokenMixer):
    """Bidirectional selective mixing along spatial ``axis`` of ``(B, *spatial, C)`` (module docstring)."""

    Config = SelectiveVariateMixerConfig
    config: SelectiveVariateMixerConfig
    causal = False
    #: small widths (the kit's traced exports unroll the scans) covering the switches of the config
    conformance_configs = (
        {"dim": 16, "d_state": 8},
        {"dim": 8, "axis": 1, "share_directions": True, "bcdt_from": "input", "scan_mode": "sequential", "expand": 1,
         "d_state": 4},
    )

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        c = self.config
        width = c.expand * self.dim
        self.in_proj = nn.Linear(self.dim, 2 * width, bias=c.proj_bias)
        self.forward_branch = S6Branch(c, width=width, d_model=self.dim)
        self.backward_branch = (self.forward_branch if c.share_directions
                                else S6Branch(c, width=width, d_model=self.dim))
        self.out_proj = nn.Linear(width, self.dim, bias=c.proj_bias)

    def supports(self, spatial: tuple[int, ...]) -> bool:
        return super().supports(spatial) and len(spatial) > self.config.axis

    def forward(self, x: Tensor) -> Tensor:
        spatial = tuple(x.shape[1:-1])
        if not self.supports(spatial) or x.shape[-1] != self.dim:
            raise ValueError(f"selective_variate_mixer (axis={self.config.axis}, dim={self.dim}) cannot take "
                             f"input {tuple(x.shape)}")
        axis = self.config.axis + 1
        moved = x.movedim(axis, -2)  # (B, *others, S, C)
        seq = moved.reshape(-1, moved.shape[-2], self.dim)
        xs, z = self.in_proj(seq).chunk(2, dim=-1)
        y = self.out_proj(bidirectional(xs, self.forward_branch, self.backward_branch) * F.silu(z))
        return y.reshape(moved.shape).movedim(-2, axis)
