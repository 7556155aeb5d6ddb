"""Scan orders of a token grid (paper §4.1 "Scanning": the cross-scan of VMamba, Liu et al. 2024).

A grid ``(B, *spatial, E)`` becomes a sequence ``(B, N, E)`` in one of four orders, and back:

=====  =====================================================================================
0      raster (row-major over ``spatial``)
1      raster, reversed
2      transposed raster: the last two spatial axes swapped (column-major for an image)
3      transposed raster, reversed
=====  =====================================================================================

A sequence (rank 1) has orders 0 and 1 only. Only reshapes, flips and transposes: every ``unscan`` is the
exact inverse of its ``scan``.
"""

from __future__ import annotations

import math

from torch import Tensor

__all__ = ["ORDERS", "scan", "unscan"]

#: the scan orders by index, for messages and docs
ORDERS = ("raster", "raster reversed", "transposed raster", "transposed raster reversed")


def _check(order: int, rank: int) -> None:
    if order not in (0, 1, 2, 3):
        raise ValueError(f"scan order must be 0..3, got {order}")
    if order >= 2 and rank < 2:
        raise ValueError(f"scan order {order} ({ORDERS[order]}) needs a grid of rank >= 2, got rank {rank}")


def scan(x: Tensor, order: int) -> Tensor:
    """``(B, *spatial, E)`` -> ``(B, N, E)`` in scan ``order`` (module docstring)."""
    rank = x.dim() - 2
    _check(order, rank)
    if order >= 2:
        x = x.transpose(-3, -2)
    seq = x.reshape(x.shape[0], -1, x.shape[-1])
    return seq.flip(1) if order % 2 else seq


def unscan(seq: Tensor, order: int, spatial: tuple[int, ...]) -> Tensor:
    """The inverse of :func:`scan`: ``(B, N, E)`` in scan ``order`` -> ``(B, *spatial, E)``."""
    _check(order, len(spatial))
    if seq.shape[1] != math.prod(spatial):
        raise ValueError(f"a sequence of {seq.shape[1]} tokens cannot fill the grid {spatial}")
    if order % 2:
        seq = seq.flip(1)
    if order >= 2:
        swapped = (*spatial[:-2], spatial[-1], spatial[-2])
        return seq.reshape(seq.shape[0], *swapped, seq.shape[-1]).transpose(-3, -2)
    return seq.reshape(seq.shape[0], *spatial, seq.shape[-1])
