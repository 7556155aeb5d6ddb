"""Paper-literal reference of the AFF mixer, written as the official code path (NCHW, four real einsums per
complex layer, explicit real/imaginary parts). Test-only: the plugin's vectorised mixer must match it."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

_ACTS = {"relu": F.relu, "gelu": F.gelu, "silu": F.silu}


def aff_reference(u: Tensor, w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor, *, act: str = "relu",
                  sparsity_threshold: float = 0.01, inner_skip: bool = True) -> Tensor:
    """``u`` ``(B, H, W, C)`` channels-last -> same; the official AFNO2D_channelfirst forward on ``u`` permuted
    to ``(B, C, H, W)``. Weights as in :func:`forwardkit_adaptive_frequency_filter.mixer.aff_mask`."""
    x0 = u.permute(0, 3, 1, 2).float()
    b, c_all, h, w = x0.shape
    k, c = w1.shape[1], w1.shape[2]
    x = torch.fft.rfft2(x0, dim=(2, 3), norm="ortho")
    origin = x
    x = x.reshape(b, k, c, x.shape[2], x.shape[3])
    f = _ACTS[act]
    o1r = f(torch.einsum("bkihw,kio->bkohw", x.real, w1[0]) - torch.einsum("bkihw,kio->bkohw", x.imag, w1[1])
            + b1[0][None, :, :, None, None])
    o1i = f(torch.einsum("bkihw,kio->bkohw", x.imag, w1[0]) + torch.einsum("bkihw,kio->bkohw", x.real, w1[1])
            + b1[1][None, :, :, None, None])
    o2r = (torch.einsum("bkihw,kio->bkohw", o1r, w2[0]) - torch.einsum("bkihw,kio->bkohw", o1i, w2[1])
           + b2[0][None, :, :, None, None])
    o2i = (torch.einsum("bkihw,kio->bkohw", o1i, w2[0]) + torch.einsum("bkihw,kio->bkohw", o1r, w2[1])
           + b2[1][None, :, :, None, None])
    m = torch.stack([o2r, o2i], dim=-1)
    m = F.softshrink(m, lambd=sparsity_threshold)
    m = torch.view_as_complex(m.contiguous()).reshape(b, c_all, x.shape[3], x.shape[4])
    y = torch.fft.irfft2(m * origin, s=(h, w), dim=(2, 3), norm="ortho")
    if inner_skip:
        y = y + x0
    return y.permute(0, 2, 3, 1).to(u.dtype)
