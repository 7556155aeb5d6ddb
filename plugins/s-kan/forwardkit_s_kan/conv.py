"""S-ConvKAN: the (S-)KAN layer applied to every k x k patch of a channels-last image.

A convolution computes ``y_{p,j} = sum_{c,u,v} w_{j,c,u,v} x_{p+(u,v),c}``; a KAN convolution (KANConv2d, the
authors' companion repository) replaces every scalar tap weight by a learnable univariate function,
``y_{p,j} = sum_{c,u,v} phi_{j,(c,u,v)}(x_{p+(u,v),c})``, i.e. a KAN layer ``C_in k^2 -> C_out`` on the unfolded
patch. S-ConvKAN (S-KAN abstract and sec. 3, reconstruction) makes that KAN layer an :class:`SKANLayer`: every
output channel ``j`` mixes the pool's activation spaces with its selection weights ``a_{j,m}``,
``y_{p,j} = sum_m a_{j,m} sum_{c,u,v} phi^{(m)}_{j,(c,u,v)}(x_{p+(u,v),c})``. The selection (``select``), the
phase schedule and the pruning compressor act on that inner layer unchanged.

Patches are flattened channel-major, feature ``(c k + u) k + v`` (the order of ``torch.nn.functional.unfold`` on
channels-first input, which KANConv2d uses), and zero padding is applied before the KAN functions (a padded tap
contributes ``phi(0)``, as in KANConv2d).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit_s_kan.layers import KANLayer, SKANLayer, skan_layer_reference


def out_size(size: int, kernel_size: int, stride: int, padding: int) -> int:
    """Output length of one spatial axis: ``(size + 2 padding - k) // stride + 1``."""
    return (size + 2 * padding - kernel_size) // stride + 1


def unfold_patches(x: Tensor, kernel_size: int, *, stride: int = 1, padding: int = 0) -> Tensor:
    """``(B, H, W, C) -> (B, H', W', C k^2)``: the zero-padded k x k patch at every output position, flattened
    channel-major (feature ``(c k + u) k + v``), by ``k^2`` strided slices of the padded image."""
    k, s = kernel_size, stride
    h = out_size(x.shape[1], k, s, padding)
    w = out_size(x.shape[2], k, s, padding)
    if h < 1 or w < 1:
        raise ValueError(f"a {k}x{k} kernel (padding {padding}) does not fit a {tuple(x.shape[1:3])} image")
    xp = F.pad(x, (0, 0, padding, padding, padding, padding))
    taps = [xp[:, u: u + s * (h - 1) + 1: s, v: v + s * (w - 1) + 1: s, :] for u in range(k) for v in range(k)]
    return torch.stack(taps, dim=-1).flatten(-2)                                   # (B, H', W', C, k^2) -> C k^2


class SConvKAN2d(nn.Module):
    """One S-ConvKAN layer ``(B, H, W, C_in) -> (B, H', W', C_out)``: :func:`unfold_patches`, then ``self.kan``,
    an :class:`SKANLayer` ``C_in k^2 -> C_out`` over ``pool`` (``space='select'``) or a single-space
    :class:`KANLayer` (the ConvKAN baseline). Pruning replaces ``self.kan`` by its pruned form."""

    def __init__(self, in_channels: int, out_channels: int, *, kernel_size: int = 3, stride: int = 1,
                 padding: int | None = None, space: str = "select", pool: list[str] | None = None,
                 weight_norm: str = "softmax", temperature: float = 1.0, **space_kwargs: Any) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride = kernel_size, stride
        self.padding = kernel_size // 2 if padding is None else padding
        d_in = in_channels * kernel_size * kernel_size
        self.kan: nn.Module
        if space == "select":
            if not pool:
                raise ValueError("space='select' needs a non-empty pool")
            self.kan = SKANLayer(d_in, out_channels, pool=pool, weight_norm=weight_norm, temperature=temperature,
                                 **space_kwargs)
        else:
            self.kan = KANLayer(space, d_in, out_channels, **space_kwargs)

    def forward(self, x: Tensor) -> Tensor:
        return self.kan(unfold_patches(x, self.kernel_size, stride=self.stride, padding=self.padding))

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}")


def sconvkan_reference(layer: SConvKAN2d, x: Tensor) -> Tensor:
    """Paper-literal S-ConvKAN: for every image ``b`` and output position ``(p, q)`` the patch is gathered tap by
    tap (``x = 0`` outside the image) and ``y_{b,p,q,j} = sum_m a_{j,m} sum_{c,u,v} phi^{(m)}_{j,(c,u,v)}(x_{b,
    p s + u - P, q s + v - P, c})`` is evaluated edge by edge (:func:`skan_layer_reference`).
    ``(B, H, W, C_in) -> (B, H', W', C_out)``; slow, for tests."""
    b_, h_in, w_in, c_in = x.shape
    k, s, pad = layer.kernel_size, layer.stride, layer.padding
    h, w = out_size(h_in, k, s, pad), out_size(w_in, k, s, pad)
    out = torch.zeros(b_, h, w, layer.out_channels, dtype=x.dtype)
    for b in range(b_):
        for p in range(h):
            for q in range(w):
                patch = torch.zeros(c_in * k * k, dtype=x.dtype)
                for c in range(c_in):
                    for u in range(k):
                        for v in range(k):
                            r, col = p * s + u - pad, q * s + v - pad
                            if 0 <= r < h_in and 0 <= col < w_in:
                                patch[(c * k + u) * k + v] = x[b, r, col, c]
                out[b, p, q] = skan_layer_reference(layer.kan, patch[None])[0]  # type: ignore[arg-type]
    return out
