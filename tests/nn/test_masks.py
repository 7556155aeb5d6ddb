"""forwardkit.nn.masks: each builder against its definition, Swin's shifted windows, additive/combined forms."""

from __future__ import annotations

import itertools

import pytest
import torch

from forwardkit.nn import (
    additive_mask,
    block_causal_mask,
    causal_mask,
    combine_masks,
    grid_coordinates,
    local_mask,
    neighborhood_mask,
    window_mask,
)


def test_causal_and_block_causal():
    assert causal_mask(3).tolist() == [[True, False, False], [True, True, False], [True, True, True]]
    m = block_causal_mask(6, block_size=2)
    for i, j in itertools.product(range(6), repeat=2):
        assert bool(m[i, j]) == (j // 2 <= i // 2)
    assert torch.equal(block_causal_mask(5, block_size=1), causal_mask(5))
    with pytest.raises(ValueError):
        block_causal_mask(4, block_size=0)


def test_local_mask_one_dimensional():
    m, c = local_mask(7, radius=2), local_mask(7, radius=2, causal=True)
    for i, j in itertools.product(range(7), repeat=2):
        assert bool(m[i, j]) == (abs(i - j) <= 2)
        assert bool(c[i, j]) == (0 <= i - j <= 2)
    assert torch.equal(local_mask(5, radius=10, causal=True), causal_mask(5))


def test_grid_coordinates_are_row_major():
    coords = grid_coordinates((2, 3))
    assert coords.tolist() == [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2]]
    assert grid_coordinates((4,)).tolist() == [[0], [1], [2], [3]]


def test_window_mask_two_dimensional():
    m = window_mask((4, 4), window=2)
    coords = grid_coordinates((4, 4)).tolist()
    for (i, a), (j, b) in itertools.product(enumerate(coords), repeat=2):
        assert bool(m[i, j]) == (a[0] // 2 == b[0] // 2 and a[1] // 2 == b[1] // 2)
    assert int(m.sum()) == 4 * 4 * 4  # four windows of four tokens
    # per-axis windows, a last window that is smaller, and 1-D block-diagonal attention
    rect = window_mask((3, 4), window=(3, 2))
    assert int(rect.sum(1).min()) == int(rect.sum(1).max()) == 6
    assert window_mask((5,), window=2).sum(1).tolist() == [2, 2, 2, 2, 1]


def swin_shifted_mask(h: int, w: int, window: int, shift: int) -> torch.Tensor:
    """Swin sec. 3.2 literally: cyclic shift by -shift, partition into windows, mask the tokens that came
    from different regions, then map back to the unshifted positions."""
    n = h * w
    region = torch.zeros(h, w, dtype=torch.long)
    label = 0
    for hs in (slice(0, -window), slice(-window, -shift), slice(-shift, None)):
        for ws in (slice(0, -window), slice(-window, -shift), slice(-shift, None)):
            region[hs, ws] = label
            label += 1
    allowed = torch.zeros(n, n, dtype=torch.bool)
    for ci, cj in itertools.product(range(n), repeat=2):
        (yi, xi), (yj, xj) = divmod(ci, w), divmod(cj, w)
        pi, pj = ((yi - shift) % h, (xi - shift) % w), ((yj - shift) % h, (xj - shift) % w)  # shifted positions
        same_window = pi[0] // window == pj[0] // window and pi[1] // window == pj[1] // window
        allowed[ci, cj] = same_window and bool(region[pi] == region[pj])
    return allowed


@pytest.mark.parametrize(("h", "w", "window", "shift"), [(4, 6, 2, 1), (8, 8, 4, 2), (6, 6, 3, 1)])
def test_shifted_windows_equal_swins_cyclic_shift_with_mask(h, w, window, shift):
    assert torch.equal(window_mask((h, w), window=window, shift=shift), swin_shifted_mask(h, w, window, shift))


def test_neighborhood_mask():
    m = neighborhood_mask((4, 5), radius=(1, 2))
    coords = grid_coordinates((4, 5)).tolist()
    for (i, a), (j, b) in itertools.product(enumerate(coords), repeat=2):
        assert bool(m[i, j]) == (abs(a[0] - b[0]) <= 1 and abs(a[1] - b[1]) <= 2)
    assert torch.equal(neighborhood_mask((7,), radius=2), local_mask(7, radius=2))
    assert bool(neighborhood_mask((3, 3, 3), radius=0).eq(torch.eye(27, dtype=torch.bool)).all())
    with pytest.raises(ValueError, match="entries"):
        neighborhood_mask((3, 3), radius=(1, 1, 1))


def test_additive_and_combined_masks():
    c, w = causal_mask(4), window_mask((4,), window=2)
    add = additive_mask(c)
    assert add.dtype == torch.float32 and bool((add[c] == 0).all()) and bool(torch.isinf(add[~c]).all())
    assert torch.equal(combine_masks(c, None, w), c & w)
    assert combine_masks(None, None) is None
    bias = torch.randn(4, 4, dtype=torch.float64)
    mixed = combine_masks(c, bias)
    assert mixed is not None and mixed.dtype == torch.float64
    torch.testing.assert_close(mixed[c], bias[c])
    assert bool(torch.isinf(mixed[~c]).all())
