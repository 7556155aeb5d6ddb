"""The token grid: non-overlapping patches of an N-D image in raster order (the card's ``token_grid`` utility).

For a volume ``(D, H, W)`` with patch ``(pd, ph, pw)`` the grid is ``(D/pd, H/ph, W/pw)`` and token ``t`` sits at
grid position ``(t // (gh * gw), (t // gw) % gh, t % gw)``: the official 3-D EM setting, (16, 160, 160) with
(4, 16, 16) patches, has K = 4 x 10 x 10 = 400 tokens. Everything is channels-last, ``(B, *spatial, C)``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def token_grid(spatial: tuple[int, ...], patch: tuple[int, ...]) -> tuple[int, ...]:
    """The grid ``spatial / patch`` (every axis must be divisible); raises ValueError naming the axis."""
    if len(spatial) != len(patch):
        raise ValueError(f"patch {tuple(patch)} has {len(patch)} axes but the image has {len(spatial)} spatial axes "
                         f"{tuple(spatial)}")
    for axis, (s, p) in enumerate(zip(spatial, patch, strict=True)):
        if s % p:
            raise ValueError(f"spatial axis {axis} of size {s} is not divisible by the patch size {p} "
                             f"(image {tuple(spatial)}, patch {tuple(patch)})")
    return tuple(s // p for s, p in zip(spatial, patch, strict=True))


def num_tokens(spatial: tuple[int, ...], patch: tuple[int, ...]) -> int:
    """K, the number of tokens of an image of this spatial shape."""
    return math.prod(token_grid(spatial, patch))


def token_position(t: int, grid: tuple[int, ...]) -> tuple[int, ...]:
    """The grid position of raster index ``t`` (row-major: the last axis fastest)."""
    out = []
    for g in reversed(grid):
        out.append(t % g)
        t //= g
    return tuple(reversed(out))


def patchify(x: Tensor, patch: tuple[int, ...]) -> Tensor:
    """``(B, *spatial, C)`` -> ``(B, K, prod(patch), C)``: tokens in raster order, voxels in raster order inside."""
    b, *spatial, c = x.shape
    grid = token_grid(tuple(spatial), tuple(patch))
    r = len(grid)
    shape = [b]
    for g, p in zip(grid, patch, strict=True):
        shape += [g, p]
    x = x.reshape(*shape, c)
    # axes: 0 batch, 1..2r alternating (grid_i, patch_i), 2r+1 channels -> batch, grids, patches, channels
    order = [0] + [1 + 2 * i for i in range(r)] + [2 + 2 * i for i in range(r)] + [2 * r + 1]
    return x.permute(order).reshape(b, math.prod(grid), math.prod(patch), c)


def unpatchify(tokens: Tensor, spatial: tuple[int, ...], patch: tuple[int, ...]) -> Tensor:
    """Inverse of :func:`patchify`: ``(B, K, prod(patch), C)`` -> ``(B, *spatial, C)``."""
    b, k, n, c = tokens.shape
    grid = token_grid(tuple(spatial), tuple(patch))
    if k != math.prod(grid) or n != math.prod(patch):
        raise ValueError(f"tokens {tuple(tokens.shape)} do not fit image {tuple(spatial)} with patch {tuple(patch)}")
    r = len(grid)
    x = tokens.reshape(b, *grid, *patch, c)
    order = [0]
    for i in range(r):
        order += [1 + i, 1 + r + i]
    order.append(1 + 2 * r)
    return x.permute(order).reshape(b, *spatial, c)


def token_mask_to_voxels(mask: Tensor, spatial: tuple[int, ...], patch: tuple[int, ...]) -> Tensor:
    """A per-token boolean mask ``(B, K)`` as a voxel mask ``(B, *spatial, 1)``."""
    b, k = mask.shape
    tokens = mask.reshape(b, k, 1, 1).expand(b, k, math.prod(patch), 1)
    return unpatchify(tokens.to(torch.uint8), spatial, patch).bool()
