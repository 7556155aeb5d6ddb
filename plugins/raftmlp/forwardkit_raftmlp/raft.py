"""Raft token mixing (RaftMLP, Tatsunami & Taki 2021, sec. 3; official ``libs/modules.py``).

Tokens ``x`` are ``(B, H, W, C)`` with ``C = r * co``. Channel ``c = i * co + j`` (``i`` in [0, r) the raft
member, ``j`` in [0, co) the raft): raft ``j`` is the STRIDED set {j, j + co, ..., j + (r-1) co}, as the official
einops pattern ``(r co)`` puts the member index outermost. The vertical MLP acts on the vector
``(x[h, w, i*co + j])_{i, h}`` of length ``r * H`` (member outer, row inner) for every column ``w`` and raft
``j``, with weights shared over columns and rafts; the horizontal MLP does the same with rows and ``W``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit.interfaces import TokenMixer
from forwardkit_raftmlp.config import RaftMixingConfig


def raft_axis_mlp(x: Tensor, axis: int, raft_size: int, fc1_w: Tensor, fc1_b: Tensor, fc2_w: Tensor,
                  fc2_b: Tensor, dropout: float = 0.0, training: bool = False) -> Tensor:
    """One raft MLP along ``axis`` (1 = vertical over H, 2 = horizontal over W) of ``x`` ``(B, H, W, C)``.

    Gathers, for every line along the other axis and every raft ``j``, the ``r * L`` vector (member outer,
    position inner), applies ``Linear(rL -> e rL) -> GELU -> Dropout -> Linear(e rL -> rL) -> Dropout`` and
    scatters back. Returns ``(B, H, W, C)``."""
    b, h, w, c = x.shape
    r = raft_size
    co = c // r
    v = x.reshape(b, h, w, r, co)
    if axis == 1:
        v = v.permute(0, 2, 4, 3, 1)  # (B, W, co, r, H)
    else:
        v = v.permute(0, 1, 4, 3, 2)  # (B, H, co, r, W)
    shp = v.shape
    v = v.reshape(shp[0], shp[1], shp[2], shp[3] * shp[4])
    v = F.dropout(F.gelu(F.linear(v, fc1_w, fc1_b)), dropout, training)
    v = F.dropout(F.linear(v, fc2_w, fc2_b), dropout, training)
    v = v.reshape(shp)
    if axis == 1:
        v = v.permute(0, 4, 1, 3, 2)  # (B, H, W, r, co)
    else:
        v = v.permute(0, 1, 4, 3, 2)
    return v.reshape(b, h, w, c)


def raft_axis_mlp_reference(x: Tensor, axis: int, raft_size: int, mlp: nn.Module) -> Tensor:
    """Paper-literal loop form of :func:`raft_axis_mlp`: one vector per (line, raft), gathered by index."""
    b, h, w, c = x.shape
    co = c // raft_size
    out = torch.zeros_like(x)
    lines = w if axis == 1 else h
    for line in range(lines):
        for j in range(co):
            chans = [i * co + j for i in range(raft_size)]
            if axis == 1:
                seg = x[:, :, line, chans]  # (B, H, r)
            else:
                seg = x[:, line, :, chans]  # (B, W, r)
            vec = seg.transpose(1, 2).reshape(b, -1)  # member outer, position inner
            res = mlp(vec).reshape(b, raft_size, -1).transpose(1, 2)
            if axis == 1:
                out[:, :, line, chans] = res
            else:
                out[:, line, :, chans] = res
    return out


class RaftMLPBranch(nn.Module):
    """The MLP of one raft sub-block: Linear(rL -> e rL) -> GELU -> Dropout -> Linear -> Dropout."""

    def __init__(self, *, length: int, raft_size: int, expansion: float, dropout: float, axis: int) -> None:
        super().__init__()
        n = raft_size * length
        hid = max(1, round(expansion * n))
        self.axis, self.raft_size, self.dropout = axis, raft_size, dropout
        self.fc1 = nn.Linear(n, hid)
        self.fc2 = nn.Linear(hid, n)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, H, W, C)`` -> ``(B, H, W, C)``."""
        return raft_axis_mlp(x, self.axis, self.raft_size, self.fc1.weight, self.fc1.bias, self.fc2.weight,
                             self.fc2.bias, self.dropout, self.training)

    def mlp(self, v: Tensor) -> Tensor:
        """The bare MLP on gathered ``(..., rL)`` vectors (for the reference)."""
        return self.fc2(F.gelu(self.fc1(v)))


def resize_grid(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Bicubic resize (align_corners False) of channels-last ``(B, H, W, C)`` to ``(B, *size, C)``."""
    y = F.interpolate(x.permute(0, 3, 1, 2), size=size, mode="bicubic", align_corners=False)
    return y.permute(0, 2, 3, 1)


class RaftMixing(TokenMixer):
    """Raft token mixing on ``(B, H, W, C)`` (rank 2). The holder gives ``grid`` (its exact token grid).

    ``inner_norm_and_residual=True``: with ``z`` the (outer-normed) input, ``a = V(z)``,
    ``b = H(LN_h(z + a))`` and the output is ``a + b`` (so the holder's residual gives ``x + a + b``, close to
    the official ``x + V; + H`` chain, whose faithful form is the ``raftmlp`` model's own block).
    ``False``: ``H(V(z))``. Another grid than ``grid``: bicubic to ``grid`` and back (``resize_mode``)."""

    Config = RaftMixingConfig
    config: RaftMixingConfig
    ranks = frozenset({2})

    def __init__(self, config: RaftMixingConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        cfg = self.config
        h0, w0 = cfg.grid
        self.vertical = RaftMLPBranch(length=h0, raft_size=cfg.raft_size, expansion=cfg.expansion,
                                      dropout=cfg.dropout, axis=1)
        self.horizontal = RaftMLPBranch(length=w0, raft_size=cfg.raft_size, expansion=cfg.expansion,
                                        dropout=cfg.dropout, axis=2)
        self.norm_h = nn.LayerNorm(cfg.dim) if cfg.inner_norm_and_residual else nn.Identity()

    @classmethod
    def fields_for_input(cls, spatial: tuple[int | None, ...]) -> dict[str, Any]:
        if len(spatial) != 2 or None in spatial:
            return {}
        return {"grid": (int(spatial[0]), int(spatial[1]))}

    def supports(self, spatial: tuple[int, ...]) -> bool:
        if len(spatial) != 2:
            return False
        return self.config.resize_mode == "bicubic" or tuple(spatial) == tuple(self.config.grid)

    def mix(self, z: Tensor) -> Tensor:
        """The mixing at the trained grid: ``(B, H0, W0, C)`` -> same."""
        if self.config.inner_norm_and_residual:
            a = self.vertical(z)
            return a + self.horizontal(self.norm_h(z + a))
        return self.horizontal(self.vertical(z))

    def forward(self, x: Tensor) -> Tensor:
        """``(B, H, W, C)`` -> ``(B, H, W, C)``."""
        if x.dim() != 4 or x.shape[-1] != self.dim:
            raise ValueError(f"raft_mixing expects (B, H, W, {self.dim}), got {tuple(x.shape)}")
        grid = tuple(self.config.grid)
        hw = (int(x.shape[1]), int(x.shape[2]))
        if hw == grid:
            return self.mix(x)
        if self.config.resize_mode == "error":
            raise ValueError(f"raft_mixing was built for grid {grid} but got {hw} (resize_mode='error')")
        return resize_grid(self.mix(resize_grid(x, grid)), hw)
