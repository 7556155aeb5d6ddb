"""Cutting an image into a grid of patches and back (paper's method: the image is cut into a grid of patches).

Patch ``k`` of a ``G_h x G_w`` grid covers rows ``(k // G_w) * P .. + P`` and columns ``(k % G_w) * P .. + P``
(row-major order). These are the card's ``patchify_grid`` utility and its inverse; both are exact (a reshape).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from forwardkit.errors import ForwardkitError


def patchify_grid(x: Tensor, patch_size: int) -> Tensor:
    """``(N, C, H, W) -> (N, G_h * G_w, C, P, P)`` with ``G_h = H / P``, ``G_w = W / P`` (row-major patches)."""
    if x.dim() != 4:
        raise ForwardkitError(f"patchify_grid takes (N, C, H, W) images, got shape {tuple(x.shape)}")
    n, c, h, w = x.shape
    p = patch_size
    if h % p or w % p:
        raise ForwardkitError(f"patch_size {p} does not divide the image ({h} x {w})")
    gh, gw = h // p, w // p
    return x.reshape(n, c, gh, p, gw, p).permute(0, 2, 4, 1, 3, 5).reshape(n, gh * gw, c, p, p)


def unpatchify_grid(patches: Tensor, grid: tuple[int, int]) -> Tensor:
    """``(N, G_h * G_w, C, P, P) -> (N, C, G_h * P, G_w * P)``: the inverse of :func:`patchify_grid`."""
    if patches.dim() != 5:
        raise ForwardkitError(f"unpatchify_grid takes (N, G*G, C, P, P) patches, got shape {tuple(patches.shape)}")
    n, k, c, p, q = patches.shape
    gh, gw = grid
    if gh * gw != k or p != q:
        raise ForwardkitError(f"{k} patches of {p} x {q} do not form a {gh} x {gw} grid of square patches")
    return patches.reshape(n, gh, gw, c, p, p).permute(0, 3, 1, 4, 2, 5).reshape(n, c, gh * p, gw * p)


def pad_center(x: Tensor, side: int) -> Tensor:
    """Zero-pad channels-first images ``(N, C, H, W)`` at the centre to ``(N, C, side, side)`` (MNIST 28 -> 32).

    An image already of that side is returned as it is; a larger one is an error."""
    h, w = x.shape[-2:]
    if h == side and w == side:
        return x
    if h > side or w > side:
        raise ForwardkitError(f"images of {h} x {w} do not fit the {side} x {side} grid (grid x patch_size)")
    top, left = (side - h) // 2, (side - w) // 2
    return F.pad(x, (left, side - w - left, top, side - h - top))
