"""The card's band-map tests: band 0 holds DC, every frequency is in exactly one band, all K bands are
non-empty on grids whose sides are >= K, and the band index follows the card's formula."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from forwardkit_dynamic_spectrum_mixer.bands import band_map, band_sizes


@pytest.mark.parametrize("grid", [(14, 14), (7, 7), (4, 4), (2, 2), (1, 1), (9, 5), (16,), (3, 4, 5)])
@pytest.mark.parametrize("k", [1, 2, 4, 7])
def test_bands_partition_the_grid_with_dc_in_band_0(grid: tuple[int, ...], k: int) -> None:
    bands = band_map(grid, k)
    assert bands.shape == grid and bands.dtype == torch.int64
    assert int(bands[(0,) * len(grid)]) == 0
    assert int(bands.min()) >= 0 and int(bands.max()) <= k - 1  # exactly one band per frequency
    assert sum(band_sizes(grid, k)) == math.prod(grid)
    if min(grid) >= k:
        assert all(size > 0 for size in band_sizes(grid, k)), band_sizes(grid, k)


def test_band_index_is_the_cards_zigzag_formula() -> None:
    h, w, k = 7, 5, 4
    bands = band_map((h, w), k)
    for u, v in itertools.product(range(h), range(w)):
        assert int(bands[u, v]) == min(k - 1, math.floor(k * (u / h + v / w) / 2 + 1e-12))
    assert int(band_map((8, 8), 4)[7, 7]) == 3 and int(band_map((8, 8), 4)[0, 7]) == 1


def test_bands_grow_with_frequency_along_every_axis() -> None:
    bands = band_map((6, 9), 4)
    assert bool((bands[1:] >= bands[:-1]).all()) and bool((bands[:, 1:] >= bands[:, :-1]).all())


def test_small_grids_leave_the_upper_bands_empty() -> None:
    assert band_sizes((2, 2), 4) == [1, 2, 1, 0]
    with pytest.raises(ValueError, match="num_bands must be >= 1"):
        band_map((4, 4), 0)
