"""Per-window, per-variate normalisation (paper §3.1 ``use_norm``, from Non-stationary Transformers)."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["denormalize", "normalize"]


def normalize(x: Tensor, eps: float = 1e-5) -> tuple[Tensor, Tensor, Tensor]:
    """``x`` ``(B, T, N)`` -> ``((x - mu) / sigma, mu, sigma)`` with ``mu, sigma`` ``(B, 1, N)``.

    ``mu`` = mean over time (detached); ``sigma = sqrt(biased var_t(x - mu) + eps)``, computed after
    centring and detached, as in the official code."""
    mu = x.mean(dim=1, keepdim=True).detach()
    centred = x - mu
    sigma = torch.sqrt(torch.var(centred, dim=1, keepdim=True, unbiased=False) + eps).detach()
    return centred / sigma, mu, sigma


def denormalize(y: Tensor, mu: Tensor, sigma: Tensor) -> Tensor:
    """Undo :func:`normalize` on a forecast ``y`` ``(B, S, N)`` with ``mu, sigma`` ``(B, 1, N)``."""
    return y * sigma + mu
