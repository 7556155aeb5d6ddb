"""Spectrum bands: a partition of the DCT frequency grid into ``K`` bands (card step 3, a reconstruction).

The abstract calls the dynamic weight layer a "spectrum band selector"; how the paper defines its bands
is not known here. The reconstruction uses the normalised radial (zig-zag) index: for a frequency
``(k_1, ..., k_r)`` of a grid ``(n_1, ..., n_r)``

    band(k) = min(K - 1, floor(K * mean_i(k_i / n_i))),

so that for images ``band(u, v) = min(K - 1, floor(K (u/H + v/W) / 2))``: DC ``(0, 0)`` is in band 0 and
the band index grows with frequency along every axis. Every frequency belongs to exactly one band; the
``K`` bands are all non-empty when every side is at least ``K`` (``tests/test_bands.py``). On smaller grids
the upper bands are empty: their gates are generated but select nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def band_map(spatial: Sequence[int], num_bands: int, *, device: torch.device | str | None = None) -> Tensor:
    """The band of every frequency of a grid ``spatial`` (``(N,)``, ``(H, W)`` or ``(T, H, W)``): an int64
    tensor of shape ``spatial`` with values in ``[0, num_bands)`` (card step 3)."""
    if num_bands < 1:
        raise ValueError(f"num_bands must be >= 1, got {num_bands}")
    if not spatial or any(int(n) < 1 for n in spatial):
        raise ValueError(f"band_map needs a grid of positive sides, got {tuple(spatial)}")
    rank = len(spatial)
    # mean_i(k_i / n_i) as an exact fraction num / den, so that floor() has no rounding error
    den = rank
    for n in spatial:
        den *= int(n)
    num = torch.zeros(tuple(int(n) for n in spatial), dtype=torch.int64, device=device)
    for axis, n in enumerate(spatial):
        k = torch.arange(int(n), dtype=torch.int64, device=device)
        shape = [1] * rank
        shape[axis] = int(n)
        num = num + (k * (den // (rank * int(n)))).reshape(shape)
    return torch.clamp((num_bands * num) // den, max=num_bands - 1)


def band_sizes(spatial: Sequence[int], num_bands: int) -> list[int]:
    """How many frequencies each of the ``num_bands`` bands of grid ``spatial`` holds (0 for an empty band)."""
    counts = torch.bincount(band_map(spatial, num_bands).flatten(), minlength=num_bands)
    return [int(c) for c in counts]
