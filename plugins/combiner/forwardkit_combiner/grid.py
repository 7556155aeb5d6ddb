"""How the flattened tokens of ``(B, *spatial, C)`` are cut into segments (rows) of length ``s``.

Every factorisation of the paper reshapes the ``L`` tokens row-major into ``n`` segments of ``s``
(``n * s = L``): Combiner-Fixed's spans (§4.1, ``max_seg_len`` of the official code) and Combiner-Axial's
``n x m`` matrix (§4.3, ``m = s`` columns). ``s`` is the row length ``W`` for images (rank 2; for rank 3 the
last axis, i.e. ``(T * H) x W``), else the divisor of ``L`` nearest to ``sqrt(L)``, the optimum of §4.1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["NEG", "nearest_divisor", "segment_length", "segments"]

#: the logit of a masked term: finite (so that a softmax over only masked terms stays finite, as the official
#: code's -1e10), and exp(NEG - max) is exactly 0 in float32 and float64
NEG = -1e9


def nearest_divisor(length: int, target: float) -> int:
    """The divisor of ``length`` nearest to ``target`` (the smaller one on a tie)."""
    divisors = [d for d in range(1, length + 1) if length % d == 0]
    return min(divisors, key=lambda d: (abs(d - target), d))


def segment_length(spatial: Sequence[int], segment_len: int | None) -> int:
    """``s`` for tokens of grid ``spatial``: ``segment_len`` when given, else ``W`` (rank >= 2), else the divisor
    of ``L`` nearest ``sqrt(L)``. Raises ``ValueError`` when ``s`` does not divide ``L``."""
    length = math.prod(spatial)
    if segment_len is None:
        return int(spatial[-1]) if len(spatial) >= 2 else nearest_divisor(length, math.sqrt(length))
    if length % segment_len:
        raise ValueError(f"segment_len={segment_len} does not divide the L={length} tokens of the grid "
                         f"{tuple(spatial)}: choose a divisor of L (or segment_len=None for the row length / the "
                         "divisor nearest sqrt(L))")
    return int(segment_len)


def segments(spatial: Sequence[int], segment_len: int | None) -> tuple[int, int]:
    """``(n, s)``: the number of segments (rows) and their length, ``n * s = L``."""
    s = segment_length(spatial, segment_len)
    return math.prod(spatial) // s, s
