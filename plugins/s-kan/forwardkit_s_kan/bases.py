"""The univariate basis families of the activation spaces (functional, no parameters).

Every function maps ``x`` of any shape ``(...)`` to ``(..., B)``: the B basis functions evaluated elementwise.
A KAN edge function is a learned combination of them, phi(x) = sum_b c_b basis_b(x) (KAN, Liu et al. 2024,
eq. 2.10; S-KAN sec. 3 pools several such families).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def bspline_knots(grid_size: int, order: int, *, low: float = -1.0, high: float = 1.0) -> Tensor:
    """Uniform knots on ``[low, high]`` extended by ``order`` knots each side: ``(G + 2k + 1,)``."""
    h = (high - low) / grid_size
    return torch.arange(-order, grid_size + order + 1, dtype=torch.float32) * h + low


def bspline_bases(x: Tensor, knots: Tensor, order: int) -> Tensor:
    """B-spline bases of ``order`` k by the Cox-de Boor recursion: ``x (...)`` -> ``(..., G + k)``.

    ``B_{i,0}(x) = [t_i <= x < t_{i+1}]``;
    ``B_{i,p}(x) = (x - t_i)/(t_{i+p} - t_i) B_{i,p-1}(x) + (t_{i+p+1} - x)/(t_{i+p+1} - t_{i+1}) B_{i+1,p-1}(x)``.
    Inside ``[t_k, t_{G+k})`` (the unextended grid) the bases are non-negative and sum to 1."""
    t = knots.to(x.dtype)
    xe = x.unsqueeze(-1)
    b = ((xe >= t[:-1]) & (xe < t[1:])).to(x.dtype)
    for p in range(1, order + 1):
        left = (xe - t[: -(p + 1)]) / (t[p:-1] - t[: -(p + 1)]) * b[..., :-1]
        right = (t[p + 1:] - xe) / (t[p + 1:] - t[1:-p]) * b[..., 1:]
        b = left + right
    return b


def chebyshev_bases(x: Tensor, degree: int) -> Tensor:
    """Chebyshev polynomials of the first kind ``T_0..T_deg`` at ``x`` (in [-1, 1]): ``(..., deg + 1)``,
    by ``T_0 = 1, T_1 = x, T_{n+1} = 2 x T_n - T_{n-1}`` (so ``T_n(cos t) = cos(n t)``)."""
    out = [torch.ones_like(x)]
    if degree >= 1:
        out.append(x)
    for _ in range(2, degree + 1):
        out.append(2 * x * out[-1] - out[-2])
    return torch.stack(out, dim=-1)


def rbf_centers(num_centers: int, *, low: float = -2.0, high: float = 2.0) -> Tensor:
    """FastKAN's centres ``mu_g``: ``num_centers`` evenly spaced on ``[low, high]``."""
    return torch.linspace(low, high, num_centers)


def rbf_bases(x: Tensor, centers: Tensor, width: float) -> Tensor:
    """Gaussian RBFs ``exp(-((x - mu_g) / h)^2)``: ``(...)`` -> ``(..., G)``; basis g peaks at mu_g with value 1."""
    return torch.exp(-(((x.unsqueeze(-1) - centers.to(x.dtype)) / width) ** 2))


def fourier_bases(x: Tensor, terms: int) -> tuple[Tensor, Tensor]:
    """``cos(k x)`` and ``sin(k x)`` for ``k = 1..terms``: two ``(..., terms)`` tensors."""
    k = torch.arange(1, terms + 1, dtype=x.dtype, device=x.device)
    kx = x.unsqueeze(-1) * k
    return torch.cos(kx), torch.sin(kx)


_MEXICAN_HAT_C = 2.0 / (math.sqrt(3.0) * math.pi ** 0.25)


def wavelet(z: Tensor, kind: str) -> Tensor:
    """Wav-KAN mother wavelets psi(z): 'mexican_hat' ``C (1 - z^2) exp(-z^2/2)``, 'morlet'
    ``cos(5 z) exp(-z^2/2)``, 'dog' (derivative of Gaussian) ``-z exp(-z^2/2)``."""
    g = torch.exp(-0.5 * z * z)
    if kind == "mexican_hat":
        return _MEXICAN_HAT_C * (1 - z * z) * g
    if kind == "morlet":
        return torch.cos(5.0 * z) * g
    if kind == "dog":
        return -z * g
    raise ValueError(f"unknown wavelet {kind!r}; allowed: 'mexican_hat', 'morlet', 'dog'")
