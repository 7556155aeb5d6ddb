"""Selective Token Mixer (paper §3.2, eqs. 6-11; multi-directional form §3.2 and §4.1).

On ``(B, *spatial, C)`` tokens::

    x_s, z  = Linear(x)                          C -> 2E            (eq. 6 Linear, eq. 7 MLP(x) = the gate z)
    u       = SiLU(Conv(x_s))                                       (eq. 6)
    y       = sum_k unscan_k(S6_k(scan_k(u))) * SiLU(z)             (eqs. 8-11, one S6 per scan direction)
    out     = Linear(y)                          E -> C

``Conv`` is a depthwise 3x3 2-D conv on images (ViM2 keeps tokens 2-D), shared by the scans, or a causal
depthwise 1-D conv along each scan (sequences, video, or ``conv2d_for_images=False``). The scans are those
of :mod:`~forwardkit_mambamixer.cross_scan`; with one forward scan and 1-D convs the mixer is causal.
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit.interfaces import TokenMixer
from forwardkit.nn import ChannelsLastConv
from forwardkit_mambamixer.config import SelectiveTokenMixerConfig
from forwardkit_mambamixer.cross_scan import scan, unscan
from forwardkit_mambamixer.s6 import S6Branch, ssm_for

__all__ = ["SelectiveTokenMixer"]


class SelectiveTokenMixer(TokenMixer):
    """The Selective Token Mixer on ``(B, *spatial, C)`` of the configured ``spatial_rank`` (module docstring)."""

    Config = SelectiveTokenMixerConfig
    config: SelectiveTokenMixerConfig
    #: small widths (the kit's traced exports unroll the scans) covering the switches of the config
    conformance_configs = (
        {"dim": 16, "d_state": 8},
        {"dim": 8, "causal": True, "d_state": 4, "chunk": 3, "dt_rank": 2, "proj_bias": True, "conv_bias": False},
        {"dim": 8, "conv2d_for_images": False, "bcdt_from": "input", "scan_mode": "sequential", "expand": 1,
         "d_conv": 2},
    )

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        c = self.config
        width = c.expand * self.dim
        self.directions = c.resolved_directions()
        self.uses_conv2d = c.spatial_rank == 2 and c.conv2d_for_images and not c.causal
        self.causal = self.directions == 1 and not self.uses_conv2d
        self.in_proj = nn.Linear(self.dim, 2 * width, bias=c.proj_bias)
        self.out_proj = nn.Linear(width, self.dim, bias=c.proj_bias)
        if self.uses_conv2d:
            k = c.conv2d_kernel
            self.conv2d = ChannelsLastConv(rank=2, in_dim=width, out_dim=width, kernel_size=k, padding=k // 2,
                                           groups=width, bias=c.conv_bias)
            self.ssms = nn.ModuleList(ssm_for(c, width=width, d_model=self.dim) for _ in range(self.directions))
        else:
            self.branches = nn.ModuleList(S6Branch(c, width=width, d_model=self.dim) for _ in range(self.directions))

    @classmethod
    def fields_for_input(cls, spatial: tuple[int | None, ...]) -> dict[str, Any]:
        return {"spatial_rank": len(spatial)}

    def supports(self, spatial: tuple[int, ...]) -> bool:
        return len(spatial) == self.config.spatial_rank

    def forward(self, x: Tensor) -> Tensor:
        spatial = tuple(x.shape[1:-1])
        if not self.supports(spatial) or x.shape[-1] != self.dim:
            raise ValueError(f"selective_token_mixer (spatial_rank={self.config.spatial_rank}, dim={self.dim}) "
                             f"cannot take input {tuple(x.shape)}")
        xs, z = self.in_proj(x).chunk(2, dim=-1)
        y = self._scan_all(xs, spatial)
        return self.out_proj(y * F.silu(z))

    def _scan_all(self, xs: Tensor, spatial: tuple[int, ...]) -> Tensor:
        """``sum_k unscan_k(S6_k(...))`` over the scan directions, ``(B, *spatial, E)``."""
        from_input = self.config.bcdt_from == "input"
        total: Tensor | None = None
        if self.uses_conv2d:
            u = F.silu(self.conv2d(xs))
            for k, ssm in enumerate(self.ssms):
                y = ssm(scan(u, k), None, scan(xs, k) if from_input else None)
                total = _add(total, unscan(y, k, spatial))
        else:
            for k, branch in enumerate(self.branches):
                total = _add(total, unscan(branch(scan(xs, k)), k, spatial))
        assert total is not None
        return total


def _add(total: Tensor | None, y: Tensor) -> Tensor:
    return y if total is None else total + y
