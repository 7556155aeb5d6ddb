"""Positional information for channels-last tokens ``(B, *spatial, C)``: absolute encodings added to the
tokens, and a relative position bias added to attention scores.

- :func:`sinusoidal_position_encoding` / :class:`SinusoidalPositionEncoding`: fixed sin/cos encodings
  (Vaswani et al. 2017, sec. 3.5), per axis for grids;
- :class:`LearnedPositionEmbedding`: a learned table, one vector per position (ViT eq. 1's E_pos);
- :func:`relative_position_index` / :class:`RelativePositionBias`: a learned scalar per head and per
  relative offset, ``B[i, j] = table[c_i - c_j]`` (Swin, Liu et al. 2021, eq. 4; CoAtNet, Dai et al. 2021,
  eq. 3's translation-invariant ``w_{i-j}``), passed to attention as an additive mask.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from forwardkit.nn.masks import grid_coordinates

__all__ = [
    "LearnedPositionEmbedding",
    "RelativePositionBias",
    "SinusoidalPositionEncoding",
    "relative_position_index",
    "sinusoidal_position_encoding",
]

Device = torch.device | str | None


def _sinusoid_1d(positions: Tensor, dim: int, base: float) -> Tensor:
    """``(n,) -> (n, dim)``: ``PE[p, 2i] = sin(p / base^(2i / dim))``, ``PE[p, 2i + 1] = cos(p / base^(2i / dim))``."""
    freqs = torch.exp(torch.arange(0, dim, 2, dtype=torch.float64, device=positions.device) * (-math.log(base) / dim))
    angles = positions.to(torch.float64)[:, None] * freqs[None, :]  # (n, dim / 2)
    return torch.stack([angles.sin(), angles.cos()], dim=-1).reshape(positions.shape[0], dim)


def sinusoidal_position_encoding(
    spatial: Sequence[int],
    dim: int,
    *,
    base: float = 10000.0,
    dtype: torch.dtype = torch.float32,
    device: Device = None,
) -> Tensor:
    """Fixed sinusoidal encodings ``(*spatial, dim)`` (Vaswani et al. 2017, sec. 3.5):
    ``PE(p, 2i) = sin(p / base^(2i / dim))``, ``PE(p, 2i + 1) = cos(p / base^(2i / dim))``.

    For a grid of rank r the channels are split into r equal parts, part a encoding the coordinate on
    axis a with the formula above at width ``dim / r`` (the 2-D sin-cos encoding of MAE, He et al. 2022,
    with interleaved sin/cos); ``dim`` must be a multiple of ``2 r``. Computed in float64, returned in
    ``dtype``."""
    rank = len(spatial)
    if rank < 1 or dim % (2 * rank):
        raise ValueError(f"dim={dim} must be a positive multiple of 2 * rank = {2 * rank} for a grid {tuple(spatial)}")
    part = dim // rank
    coords = grid_coordinates(spatial, device=device)  # (N, r)
    pieces = [_sinusoid_1d(coords[:, a], part, base) for a in range(rank)]
    return torch.cat(pieces, dim=-1).reshape(*spatial, dim).to(dtype)


class SinusoidalPositionEncoding(nn.Module):
    """Adds :func:`sinusoidal_position_encoding` for the input's own grid to ``(B, *spatial, dim)`` tokens
    (any grid size; no parameters)."""

    def __init__(self, *, dim: int, base: float = 10000.0) -> None:
        super().__init__()
        self.dim = dim
        self.base = base

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1] != self.dim:
            raise ValueError(f"expected (B, *spatial, {self.dim}) tokens, got {tuple(x.shape)}")
        pe = sinusoidal_position_encoding(tuple(x.shape[1:-1]), self.dim, base=self.base, dtype=x.dtype,
                                          device=x.device)
        return x + pe

    def extra_repr(self) -> str:
        return f"dim={self.dim}, base={self.base}"


class LearnedPositionEmbedding(nn.Module):
    """A learned vector per position added to ``(B, *shape, dim)`` tokens (Dosovitskiy et al. 2021, ViT eq. 1,
    ``E_pos``): ``weight`` ``(*shape, dim)``, initialised from a normal of std ``init_std`` truncated at two
    standard deviations. Tokens of another grid are an error (interpolate ``weight`` to resize)."""

    def __init__(self, *, shape: Sequence[int], dim: int, init_std: float = 0.02) -> None:
        super().__init__()
        self.shape = tuple(int(s) for s in shape)
        self.weight = nn.Parameter(torch.empty(*self.shape, dim))
        nn.init.trunc_normal_(self.weight, std=init_std, a=-2 * init_std, b=2 * init_std)

    def forward(self, x: Tensor) -> Tensor:
        if tuple(x.shape[1:]) != tuple(self.weight.shape):
            raise ValueError(f"expected tokens (B, {', '.join(map(str, self.weight.shape))}), got {tuple(x.shape)}")
        return x + self.weight

    def extra_repr(self) -> str:
        return f"shape={self.shape}, dim={self.weight.shape[-1]}"


def relative_position_index(spatial: Sequence[int], *, device: Device = None) -> Tensor:
    """``(N, N)`` int64: for tokens i, j of a ``spatial`` grid (row-major), the index of their offset
    ``c_i - c_j`` in a table of the ``prod(2 g_a - 1)`` possible offsets (axis a shifted by ``g_a - 1`` and
    mixed-radix combined, as Swin's ``relative_position_index``)."""
    coords = grid_coordinates(spatial, device=device)  # (N, r)
    sizes = [2 * int(g) - 1 for g in spatial]
    centre = torch.tensor([int(g) - 1 for g in spatial], device=coords.device)
    offsets = coords[:, None, :] - coords[None, :, :] + centre
    index = torch.zeros(offsets.shape[:2], dtype=torch.long, device=coords.device)
    for a, size in enumerate(sizes):
        index = index * size + offsets[..., a]
    return index


class RelativePositionBias(nn.Module):
    """A learned bias per head and per relative offset on a ``spatial`` grid (Swin eq. 4,
    ``softmax(Q K^T / sqrt(d) + B) V`` with ``B`` read from a table of ``(2M - 1)^2`` offsets; CoAtNet eq. 3).

    ``table`` is ``(prod(2 g - 1), num_heads)``, truncated-normal initialised (std ``init_std``); calling the
    module returns the bias ``(num_heads, N, N)``, ``N = prod(spatial)``, to pass as ``mask`` to
    :func:`~forwardkit.nn.multi_head_attention` (additive). For window attention, ``spatial`` is the window.
    The index is a non-persistent buffer, so the state_dict holds only ``table``."""

    index: Tensor

    def __init__(self, *, spatial: Sequence[int], num_heads: int, init_std: float = 0.02) -> None:
        super().__init__()
        self.spatial = tuple(int(g) for g in spatial)
        self.table = nn.Parameter(torch.empty(math.prod(2 * g - 1 for g in self.spatial), num_heads))
        nn.init.trunc_normal_(self.table, std=init_std, a=-2 * init_std, b=2 * init_std)
        self.register_buffer("index", relative_position_index(self.spatial), persistent=False)

    def forward(self) -> Tensor:
        n = self.index.shape[0]
        return self.table[self.index.reshape(-1)].reshape(n, n, -1).permute(2, 0, 1)

    def extra_repr(self) -> str:
        return f"spatial={self.spatial}, num_heads={self.table.shape[1]}"
