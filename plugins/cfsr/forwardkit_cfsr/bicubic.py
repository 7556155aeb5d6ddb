"""Bicubic interpolation as Pillow computes it, as a differentiable torch operation (the SR baselines' upscaler).

The reproduction's bicubic baseline and the plain CNN's global residual upscale LR images by an integer
factor. ``torch.nn.functional.interpolate(mode='bicubic')`` uses the cubic kernel with ``a = -0.75``; the SR
literature (MATLAB ``imresize``) and Pillow, which made the LR images of ``sr_patches``, use ``a = -0.5``.
:func:`resize_matrix` builds Pillow's resampling weights (libImaging ``Resample.c``: output pixel ``i`` at
input coordinate ``(i + 0.5) * in/out``, the kernel widened by ``max(in/out, 1)``, taps clipped to the image
and renormalised), so :func:`bicubic_resize` applies it separably: ``Y = R_h X R_w^T`` per channel. It equals
Pillow's float ('F' mode) resize to float rounding (tested); it is not bit-identical to MATLAB, whose borders
are padded symmetrically instead of renormalised.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["bicubic_resize", "bicubic_upsample", "cubic", "resize_matrix"]


def cubic(x: Tensor, a: float = -0.5) -> Tensor:
    """Keys' cubic convolution kernel (support 2), ``a = -0.5`` as Pillow and MATLAB."""
    x = x.abs()
    near = ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    far = (((x - 5.0) * x + 8.0) * x - 4.0) * a
    return torch.where(x < 1.0, near, torch.where(x < 2.0, far, torch.zeros_like(x)))


def resize_matrix(n_in: int, n_out: int, *, a: float = -0.5, dtype: torch.dtype = torch.float32,
                  device: torch.device | None = None) -> Tensor:
    """``(n_out, n_in)`` weights of Pillow's bicubic resampling of one axis from ``n_in`` to ``n_out`` pixels."""
    scale = n_in / n_out
    support = 2.0 * max(scale, 1.0)
    taps = math.ceil(support) * 2 + 1
    centre = (torch.arange(n_out, dtype=torch.float64, device=device) + 0.5) * scale
    first = torch.floor(centre - support + 0.5).clamp(min=0)
    idx = first[:, None] + torch.arange(taps, dtype=torch.float64, device=device)[None, :]
    valid = (idx < torch.floor(centre + support + 0.5).clamp(max=n_in)[:, None]) & (idx < n_in)
    w = cubic((idx - centre[:, None] + 0.5) / max(scale, 1.0), a) * valid
    w = w / w.sum(dim=1, keepdim=True)
    out = torch.zeros(n_out, n_in, dtype=torch.float64, device=device)
    out.scatter_add_(1, idx.clamp(max=n_in - 1).long(), w)
    return out.to(dtype)


def bicubic_resize(x: Tensor, size: tuple[int, int], *, a: float = -0.5) -> Tensor:
    """Channels-last images ``(B, H, W, C)`` resized to ``(B, *size, C)`` with Pillow's bicubic weights."""
    h, w = x.shape[1], x.shape[2]
    rh = resize_matrix(h, size[0], a=a, dtype=x.dtype, device=x.device)
    rw = resize_matrix(w, size[1], a=a, dtype=x.dtype, device=x.device)
    return torch.einsum("oh,bhwc,pw->bopc", rh, x, rw)


def bicubic_upsample(x: Tensor, scale: int) -> Tensor:
    """``(B, h, w, C)`` -> ``(B, s h, s w, C)``: the bicubic upscaling of the SR baselines."""
    return bicubic_resize(x, (x.shape[1] * scale, x.shape[2] * scale))
