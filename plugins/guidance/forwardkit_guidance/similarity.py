"""Differentiable representational similarity on a mini-batch: linear CKA and RSA (card "Mechanism").

Both take ``x`` ``(B, *)`` and ``y`` ``(B, *)`` (any trailing shapes, flattened per sample to ``(B, p)`` and
``(B, q)``; ``p != q`` is fine) and return a 0-dim tensor that gradients flow through.

Linear CKA (Kornblith et al. 2019, eq. in sec. 3; the official ``rep_sims.CKA``): with Gram matrices
``K = X X^T``, ``L = Y Y^T`` and the centering matrix ``H = I - 11^T / B``::

    HSIC(K, L) = sum((H K H) * (H L H))          CKA(X, Y) = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))

:func:`linear_cka` computes it without ``H``: ``H K H = X_c X_c^T`` for the column-centred ``X_c = X - mean_b X``
(``O(B p)`` centring and ``O(B^2 p)`` Grams instead of the ``O(B^3)`` products with an explicit ``H``);
:func:`linear_cka_reference` is the paper-literal form with ``H`` (tests check they agree).

RSA (the official ``DifferentiableRSA``): cosine-similarity matrices ``S_X = X_n X_n^T`` of the row-normalised
representations, then the Pearson correlation of the flattened ``S_X`` and ``S_Y`` (every entry, the diagonal
included, as the code does).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

__all__ = ["cosine_similarity_matrix", "linear_cka", "linear_cka_reference", "rsa", "rsa_reference",
           "similarity", "similarity_table", "tokenwise_cka"]

#: floor of the CKA / RSA denominators: a constant representation gives similarity 0 instead of 0/0
EPS = 1e-12


def _flat(x: Tensor) -> Tensor:
    if x.dim() == 0:
        raise ValueError("a representation needs a batch axis: got a 0-dim tensor")
    return x.reshape(x.shape[0], -1)


def _pair(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    x, y = _flat(x), _flat(y)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y must hold the same samples: batch sizes {x.shape[0]} and {y.shape[0]}")
    # at least float32 (bf16 / fp16 taps under autocast are promoted, as the code's .to(torch.float32))
    dtype = torch.float32
    for t in (x, y):
        if t.is_floating_point():
            dtype = torch.promote_types(dtype, t.dtype)
    return x.to(dtype), y.to(dtype)


def linear_cka(x: Tensor, y: Tensor, *, eps: float = EPS) -> Tensor:
    """Linear CKA of ``x`` ``(B, *)`` and ``y`` ``(B, *)``, a 0-dim tensor in [0, 1] (column-centred form).

    1 for ``y = x`` up to isotropic scaling, an orthogonal transform and a constant shift of every row;
    symmetric. Differentiable in both arguments; 0 (not NaN) when either representation is constant.
    """
    x, y = _pair(x, y)
    xc = x - x.mean(dim=0, keepdim=True)
    yc = y - y.mean(dim=0, keepdim=True)
    k = xc @ xc.T  # H K H, (B, B)
    l_ = yc @ yc.T  # H L H
    hsic = (k * l_).sum()
    return hsic / ((k * k).sum() * (l_ * l_).sum()).clamp_min(eps).sqrt()


def linear_cka_reference(x: Tensor, y: Tensor) -> Tensor:
    """Paper-literal linear CKA with the explicit centring matrix ``H = I - 11^T / B`` (``O(B^3)``)."""
    x, y = _pair(x, y)
    b = x.shape[0]
    h = torch.eye(b, dtype=x.dtype, device=x.device) - torch.full((b, b), 1.0 / b, dtype=x.dtype, device=x.device)

    def hsic(k: Tensor, l_: Tensor) -> Tensor:
        return ((h @ k @ h) * (h @ l_ @ h)).sum()

    k, l_ = x @ x.T, y @ y.T
    return hsic(k, l_) / (hsic(k, k).sqrt() * hsic(l_, l_).sqrt())


def cosine_similarity_matrix(x: Tensor, *, eps: float = EPS) -> Tensor:
    """``(B, B)`` cosine similarities of the rows of ``x`` ``(B, *)`` (a zero row has similarity 0)."""
    x = _flat(x)
    xn = x / x.norm(dim=1, keepdim=True).clamp_min(eps)
    return xn @ xn.T


def rsa(x: Tensor, y: Tensor, *, eps: float = EPS) -> Tensor:
    """Differentiable RSA of ``x`` ``(B, *)`` and ``y`` ``(B, *)``: the Pearson correlation, a 0-dim tensor in
    [-1, 1], of the two ``(B, B)`` cosine-similarity matrices (all entries). Invariant to scaling and to
    orthogonal transforms of either representation; symmetric; 1 for ``y = x``."""
    x, y = _pair(x, y)
    sx = cosine_similarity_matrix(x, eps=eps).flatten()
    sy = cosine_similarity_matrix(y, eps=eps).flatten()
    sx, sy = sx - sx.mean(), sy - sy.mean()
    return (sx * sy).sum() / ((sx * sx).sum() * (sy * sy).sum()).clamp_min(eps).sqrt()


def rsa_reference(x: Tensor, y: Tensor) -> Tensor:
    """RSA written out entry by entry (loops over sample pairs; for tests on small batches)."""
    x, y = _pair(x, y)
    b = x.shape[0]

    def cos(a: Tensor, i: int, j: int) -> Tensor:
        return (a[i] * a[j]).sum() / (a[i].norm() * a[j].norm())

    sx = torch.stack([cos(x, i, j) for i in range(b) for j in range(b)])
    sy = torch.stack([cos(y, i, j) for i in range(b) for j in range(b)])
    n = sx.numel()
    mx, my = sx.sum() / n, sy.sum() / n
    return ((sx - mx) * (sy - my)).sum() / torch.sqrt(((sx - mx) ** 2).sum() * ((sy - my) ** 2).sum())


def tokenwise_cka(x: Tensor, y: Tensor, *, eps: float = EPS) -> Tensor:
    """Per-position linear CKA of sequences ``x`` ``(B, N, C)`` and ``y`` ``(B, N, D)``: ``(N,)`` values
    ``CKA(x[:, n], y[:, n])`` (the official ``tokenwise_sim`` sums ``1 -`` these)."""
    if x.dim() != 3 or y.dim() != 3 or x.shape[:2] != y.shape[:2]:
        raise ValueError(f"token-wise CKA needs (B, N, C) taps with the same B and N, got {tuple(x.shape)} and "
                         f"{tuple(y.shape)}")
    return torch.stack([linear_cka(x[:, n], y[:, n], eps=eps) for n in range(x.shape[1])])


def similarity(x: Tensor, y: Tensor, metric: Literal["cka", "rsa"] = "cka") -> Tensor:
    """``linear_cka(x, y)`` or ``rsa(x, y)``."""
    if metric == "cka":
        return linear_cka(x, y)
    if metric == "rsa":
        return rsa(x, y)
    raise ValueError(f"unknown similarity metric {metric!r} (cka, rsa)")


def similarity_table(a: dict[str, Tensor], b: dict[str, Tensor], metric: Literal["cka", "rsa"] = "cka") -> Tensor:
    """``(len(a), len(b))`` similarities of every tap of ``a`` with every tap of ``b`` (same samples)."""
    return torch.stack([torch.stack([similarity(xa, xb, metric) for xb in b.values()]) for xa in a.values()])
