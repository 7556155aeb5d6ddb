"""Attention masks over the ``N = prod(spatial)`` tokens of ``(B, *spatial, C)``, flattened in row-major order.

Every builder returns a boolean ``(N, N)`` tensor in the convention of
:func:`torch.nn.functional.scaled_dot_product_attention`: ``mask[i, j]`` is True when query ``i`` may
attend to key ``j``. Each query is allowed at least itself, so no row is empty. :func:`additive_mask`
turns a boolean mask into the additive form ``M`` of ``softmax(q k^T / sqrt(d) + M)`` (0 where allowed,
``-inf`` elsewhere), and :func:`combine_masks` intersects masks of either form.

- over the flattened order: :func:`causal_mask`, :func:`block_causal_mask` (causal over blocks of
  consecutive tokens, e.g. the frames of a video), :func:`local_mask` (a 1-D sliding window);
- over the grid (any rank, ``spatial = (H, W)`` for images): :func:`window_mask` (non-overlapping
  windows, optionally shifted as in Swin) and :func:`neighborhood_mask` (a sliding window around each
  token, as in local/neighbourhood attention).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = [
    "additive_mask",
    "block_causal_mask",
    "causal_mask",
    "combine_masks",
    "grid_coordinates",
    "local_mask",
    "neighborhood_mask",
    "window_mask",
]

Device = torch.device | str | None


def causal_mask(n: int, *, device: Device = None) -> Tensor:
    """``(n, n)`` bool: token ``i`` attends to tokens ``j <= i`` (Vaswani et al. 2017, sec. 3.2.3)."""
    return torch.ones(n, n, dtype=torch.bool, device=device).tril()


def block_causal_mask(n: int, *, block_size: int, device: Device = None) -> Tensor:
    """``(n, n)`` bool: tokens form consecutive blocks of ``block_size``; token ``i`` attends to every token of
    its own block and of earlier blocks (``j // block_size <= i // block_size``). With ``block_size = H * W``
    on ``(T, H, W)`` tokens, each frame sees itself and the past frames."""
    if block_size < 1:
        raise ValueError(f"block_size must be >= 1, got {block_size}")
    block = torch.arange(n, device=device) // block_size
    return block[None, :] <= block[:, None]


def local_mask(n: int, *, radius: int, causal: bool = False, device: Device = None) -> Tensor:
    """``(n, n)`` bool, a 1-D sliding window over the flattened order: token ``i`` attends to ``j`` with
    ``|i - j| <= radius``; with ``causal`` only to ``i - radius <= j <= i``."""
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    index = torch.arange(n, device=device)
    offset = index[:, None] - index[None, :]  # i - j
    if causal:
        return (offset >= 0) & (offset <= radius)
    return offset.abs() <= radius


def grid_coordinates(spatial: Sequence[int], *, device: Device = None) -> Tensor:
    """``(N, rank)`` int64: the coordinates of each token of a ``spatial`` grid in row-major (flattened) order."""
    axes = [torch.arange(int(s), device=device) for s in spatial]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, len(axes))


def _per_axis(value: int | Sequence[int], rank: int, name: str) -> list[int]:
    values = [int(value)] * rank if isinstance(value, int) else [int(v) for v in value]
    if len(values) != rank:
        raise ValueError(f"{name} has {len(values)} entries for a grid of rank {rank}")
    return values


def window_mask(
    spatial: Sequence[int], *, window: int | Sequence[int], shift: int | Sequence[int] = 0, device: Device = None
) -> Tensor:
    """``(N, N)`` bool for non-overlapping windows on a ``spatial`` grid (Liu et al. 2021, Swin, sec. 3.2):
    tokens attend only within their window, ``floor((c - shift) / window)`` equal on every axis.

    ``window`` and ``shift`` are one value or one per axis. ``shift = window // 2`` gives Swin's shifted
    windows: the same attention as the paper's cyclic shift by ``shift`` with its mask (the windows that
    wrap around are split), expressed on the unshifted tokens. Axes need not be multiples of ``window``
    (the last window is smaller). On ``(N,)`` it is block-diagonal attention."""
    rank = len(spatial)
    sizes, shifts = _per_axis(window, rank, "window"), _per_axis(shift, rank, "shift")
    if any(w < 1 for w in sizes):
        raise ValueError(f"window sizes must be >= 1, got {sizes}")
    coords = grid_coordinates(spatial, device=device)
    ids = torch.div(coords - torch.tensor(shifts, device=coords.device),
                    torch.tensor(sizes, device=coords.device), rounding_mode="floor")
    return (ids[:, None, :] == ids[None, :, :]).all(-1)


def neighborhood_mask(spatial: Sequence[int], *, radius: int | Sequence[int], device: Device = None) -> Tensor:
    """``(N, N)`` bool: each token attends to the tokens within ``radius`` of it on every axis of the
    ``spatial`` grid (a ``(2r + 1)^rank`` window centred on the query, cut at the borders), as in local
    self-attention (Ramachandran et al. 2019, sec. 2.2, the memory block N_k(i, j)). ``radius`` is one
    value or one per axis."""
    radii = _per_axis(radius, len(spatial), "radius")
    if any(r < 0 for r in radii):
        raise ValueError(f"radius must be >= 0, got {radii}")
    coords = grid_coordinates(spatial, device=device)
    distance = (coords[:, None, :] - coords[None, :, :]).abs()
    return (distance <= torch.tensor(radii, device=coords.device)).all(-1)


def additive_mask(mask: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
    """The additive form ``M`` of a mask: a boolean mask becomes 0 where True and ``-inf`` where False; a
    floating mask (already additive) is cast to ``dtype``."""
    if mask.dtype == torch.bool:
        return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(~mask, float("-inf"))
    return mask.to(dtype)


def combine_masks(*masks: Tensor | None) -> Tensor | None:
    """The intersection of the given masks (None entries are ignored; None if all are): boolean masks are
    and-ed; when any mask is additive, the result is the sum of the additive forms (in the first floating
    mask's dtype). Shapes broadcast."""
    given = [m for m in masks if m is not None]
    if not given:
        return None
    if all(m.dtype == torch.bool for m in given):
        out = given[0]
        for m in given[1:]:
            out = out & m
        return out
    dtype = next(m.dtype for m in given if m.dtype != torch.bool)
    total = additive_mask(given[0], dtype)
    for m in given[1:]:
        total = total + additive_mask(m, dtype)
    return total
