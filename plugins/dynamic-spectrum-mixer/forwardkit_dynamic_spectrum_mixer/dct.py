"""The orthonormal DCT-II and its inverse along the spatial axes of channels-last tokens (card step 2).

DSM represents token interaction in the DCT domain (paper abstract; the method section was not available,
see the README). For one axis of length ``n`` the transform is the matrix

    D_n[k, t] = sqrt(2 / n) * c_k * cos(pi * (t + 1/2) * k / n),   c_0 = 1 / sqrt(2),  c_k = 1 otherwise,

which is orthonormal (``D D^T = I``), so the inverse (the DCT-III) is ``D^T``. On a grid the transform is
separable: for images ``S = D_H z D_W^T`` per channel, for any rank one product per spatial axis.

Two implementations, which agree to float rounding (``tests/test_dct.py``; ``scipy.fft.dctn(x, type=2,
norm='ortho')`` is the numerical reference of both):

* ``"matrix"`` (:func:`dct_along`, the paper-literal product ``D z``): one small matrix product per axis,
  ``O(n)`` work per output, exact, and the fastest for the grids of small backbones;
* ``"fft"`` (:func:`dct_along_fft`): Makhoul's algorithm (1980), one complex FFT of length ``n`` per axis
  after reordering the inputs ``(x_0, x_2, x_4, ..., x_5, x_3, x_1)``, ``O(n log n)``; the inverse runs the
  same steps backwards.

Every function takes ``x`` of shape ``(B, *spatial, C)`` and transforms the axes it is given (1-based
spatial axes of the tensor, i.e. tensor dims ``1 .. rank``), returning the same shape and dtype.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor

Transform = Literal["matrix", "fft"]
TRANSFORMS: tuple[str, ...] = ("matrix", "fft")


def dct_matrix(n: int, *, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None) -> Tensor:
    """The orthonormal DCT-II matrix ``D_n`` ``(n, n)``: ``D[k, t] = sqrt(2/n) c_k cos(pi (t + 1/2) k / n)``
    (card step 2), computed in float64 and cast to ``dtype``."""
    if n < 1:
        raise ValueError(f"a DCT needs an axis of length >= 1, got n={n}")
    k = torch.arange(n, dtype=torch.float64).unsqueeze(1)
    t = torch.arange(n, dtype=torch.float64).unsqueeze(0)
    mat = math.sqrt(2.0 / n) * torch.cos(math.pi * (t + 0.5) * k / n)
    mat[0] /= math.sqrt(2.0)
    return mat.to(dtype=dtype, device=device)


def _matmul_along(x: Tensor, mat: Tensor, dim: int) -> Tensor:
    """``mat @ x`` along tensor dim ``dim`` of ``x``: ``y[..., k, ...] = sum_t mat[k, t] x[..., t, ...]``,
    as one batched product on the ``(before, n, after)`` view (no permutation of channels-last tokens)."""
    shape = x.shape
    n = shape[dim]
    before = math.prod(shape[:dim])
    after = math.prod(shape[dim + 1:])
    return torch.matmul(mat, x.reshape(before, n, after)).reshape(shape)


def dct_along(x: Tensor, dim: int, *, inverse: bool = False, mat: Tensor | None = None) -> Tensor:
    """Orthonormal DCT-II (``inverse``: DCT-III, the inverse) of ``x`` along tensor dim ``dim``, as the
    product ``D x`` (``D^T x``). ``mat`` is ``D_n`` when the caller holds it (else it is computed)."""
    n = x.shape[dim]
    if mat is None:
        mat = dct_matrix(n, dtype=x.dtype, device=x.device)
    return _matmul_along(x, mat.t() if inverse else mat, dim)


def _makhoul_order(n: int, device: torch.device) -> Tensor:
    """The permutation ``(0, 2, 4, ..., 5, 3, 1)`` of Makhoul's DCT: evens ascending, then odds descending."""
    idx = torch.arange(n, device=device)
    return torch.cat([idx[0::2], idx[1::2].flip(0)])


def dct_along_fft(x: Tensor, dim: int, *, inverse: bool = False) -> Tensor:
    """The same transform as :func:`dct_along`, through one FFT of length ``n`` (Makhoul 1980), ``O(n log n)``.

    Forward: ``v = x[order]``, ``V = fft(v)``, ``Y_k = Re(exp(-i pi k / 2n) V_k)`` (the unnormalised DCT-II
    ``sum_t x_t cos(pi (t + 1/2) k / n)``), then the orthonormal scaling ``sqrt(2/n) c_k``. Inverse: undo the
    scaling, ``V_k = exp(i pi k / 2n) (Y_k - i Y_{n-k})`` with ``Y_n = 0``, ``v = Re(ifft(V))`` and ``x[order] = v``.
    Computed in float32 at least (float64 stays float64)."""
    n = x.shape[dim]
    work = x.movedim(dim, -1)
    out_dtype = work.dtype
    if work.dtype not in (torch.float32, torch.float64):
        work = work.float()
    order = _makhoul_order(n, work.device)
    k = torch.arange(n, device=work.device, dtype=work.dtype)
    theta = math.pi * k / (2 * n)
    cos, sin = torch.cos(theta), torch.sin(theta)
    scale = torch.full((n,), math.sqrt(2.0 / n), device=work.device, dtype=work.dtype)
    scale[0] = math.sqrt(1.0 / n)
    if not inverse:
        spec = torch.fft.fft(work[..., order], dim=-1)
        y = (spec.real * cos + spec.imag * sin) * scale  # Re(V e^{-i theta}) with the orthonormal scaling
    else:
        coef = work / scale  # Y_k: the unnormalised DCT-II coefficients
        flipped = torch.cat([torch.zeros_like(coef[..., :1]), coef[..., 1:].flip(-1)], dim=-1)  # Y_{n-k}, Y_n = 0
        spec = torch.complex(coef * cos + flipped * sin, coef * sin - flipped * cos)  # e^{i theta} (Y_k - i Y_{n-k})
        v = torch.fft.ifft(spec, dim=-1).real
        y = v[..., torch.argsort(order)]  # x[order] = v
    return y.to(out_dtype).movedim(-1, dim)


def dctn(x: Tensor, dims: Sequence[int], *, transform: Transform = "matrix", inverse: bool = False,
         mats: Sequence[Tensor | None] | None = None) -> Tensor:
    """Separable orthonormal DCT-II (``inverse``: its inverse) of ``x`` over tensor dims ``dims``, e.g.
    ``dims=(1, 2)`` for images ``(B, H, W, C)``: ``S = D_H z D_W^T`` per channel (card step 2). ``mats`` holds
    ``D_n`` per dim for the matrix transform (computed when missing)."""
    if transform not in TRANSFORMS:
        raise ValueError(f"transform must be one of {TRANSFORMS}, got {transform!r}")
    held = list(mats) if mats is not None else [None] * len(dims)
    for dim, mat in zip(dims, held, strict=True):
        if transform == "matrix":
            x = dct_along(x, dim, inverse=inverse, mat=mat)
        else:
            x = dct_along_fft(x, dim, inverse=inverse)
    return x


def idctn(x: Tensor, dims: Sequence[int], *, transform: Transform = "matrix",
          mats: Sequence[Tensor | None] | None = None) -> Tensor:
    """The inverse of :func:`dctn` (``D_H^T S D_W`` for images, card step 6)."""
    return dctn(x, dims, transform=transform, inverse=True, mats=mats)


def dct2_reference(x: Tensor) -> Tensor:
    """Paper-literal 2-D DCT-II of images ``(B, H, W, C)`` written out as the double sum
    ``S[u, v] = sum_{h, w} D_H[u, h] D_W[v, w] z[h, w]`` (one einsum over the full basis; slow, for tests)."""
    _, h, w, _ = x.shape
    d_h = dct_matrix(h, dtype=x.dtype, device=x.device)
    d_w = dct_matrix(w, dtype=x.dtype, device=x.device)
    return torch.einsum("uh,vw,bhwc->buvc", d_h, d_w, x)
