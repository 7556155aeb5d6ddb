"""patchify/unpatchify (card tests 1): an exact round trip, and patch k covers rows (k // G) P .. + P and columns
(k % G) P .. + P."""

from __future__ import annotations

import pytest
import torch
from forwardkit_selfie.patches import pad_center, patchify_grid, unpatchify_grid

from forwardkit.errors import ForwardkitError


def test_round_trip_is_exact():
    x = torch.randn(3, 2, 12, 8)
    p = patchify_grid(x, 4)
    assert p.shape == (3, 6, 2, 4, 4)
    assert torch.equal(unpatchify_grid(p, (3, 2)), x)


def test_patch_k_covers_its_rows_and_columns():
    x = torch.arange(2 * 1 * 16 * 16, dtype=torch.float32).reshape(2, 1, 16, 16)
    p = patchify_grid(x, 4)
    g = 4
    for k in range(g * g):
        r, c = (k // g) * 4, (k % g) * 4
        assert torch.equal(p[:, k], x[:, :, r:r + 4, c:c + 4]), k


def test_bad_sizes_are_clear_errors():
    with pytest.raises(ForwardkitError, match="does not divide"):
        patchify_grid(torch.zeros(1, 1, 10, 8), 4)
    with pytest.raises(ForwardkitError, match="do not fit"):
        pad_center(torch.zeros(1, 1, 36, 36), 32)


def test_padding_centres_the_digit():
    x = torch.ones(1, 1, 28, 28)
    y = pad_center(x, 32)
    assert y.shape == (1, 1, 32, 32) and float(y.sum()) == 28 * 28
    assert torch.equal(y[0, 0, 2:30, 2:30], x[0, 0]) and float(y[0, 0, :2].abs().sum()) == 0.0
