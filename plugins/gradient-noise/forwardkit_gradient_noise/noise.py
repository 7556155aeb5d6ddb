"""Functional form of annealed gradient noise (paper Sec. 3).

``g_t <- g_t + N(0, sigma_t^2 I)`` with ``sigma_t^2 = eta / (1 + t)^gamma``: the schedule gives the
*variance*; the standard deviation used to scale a standard normal draw is its square root.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn


def noise_variance(t: int, *, eta: float, gamma: float) -> float:
    """``sigma_t^2 = eta / (1 + t)^gamma`` (paper Sec. 3), ``t`` the 0-based update counter."""
    if t < 0:
        raise ValueError(f"the step t must be >= 0, got {t}")
    return eta / (1.0 + t) ** gamma


def noise_std(t: int, *, eta: float, gamma: float) -> float:
    """``sigma_t = sqrt(eta / (1 + t)^gamma)``: the standard deviation of the noise at step ``t``."""
    return math.sqrt(noise_variance(t, eta=eta, gamma=gamma))


def noisy_parameters(
    params: Iterable[nn.Parameter | torch.Tensor], *, weights_only: bool = False
) -> list[torch.Tensor]:
    """The parameters that receive noise: trainable (``requires_grad``) with a gradient; with
    ``weights_only`` only those with ``ndim >= 2`` (no biases or norm scales)."""
    out = []
    for p in params:
        if not p.requires_grad or p.grad is None:
            continue
        if weights_only and p.ndim < 2:
            continue
        out.append(p)
    return out


@torch.no_grad()
def add_gradient_noise_(
    params: Iterable[nn.Parameter | torch.Tensor], std: float, *, generator: torch.Generator | None = None
) -> int:
    """In place, ``p.grad += std * z`` with ``z ~ N(0, I)`` of ``p``'s shape, i.i.d. over every entry of every
    trainable parameter with a gradient (frozen parameters and ``grad is None`` are untouched).

    One standard normal vector is drawn per (device, dtype) of the gradients from ``generator`` (on its own
    device, then moved to the gradients'), split over the gradients in parameter order and added with one
    fused ``_foreach_add_``; the same generator state gives the same noise. ``std == 0`` leaves the
    gradients bit-identical and draws nothing. Returns the number of noised parameter tensors.
    """
    targets = noisy_parameters(params)
    if std == 0.0:
        return 0
    groups: dict[tuple[torch.device, torch.dtype], list[torch.Tensor]] = {}
    for p in targets:
        assert p.grad is not None
        groups.setdefault((p.grad.device, p.grad.dtype), []).append(p.grad)
    for (device, dtype), grads in groups.items():
        # one draw per (device, dtype) group, split over its gradients in parameter order
        draw_on = generator.device if generator is not None else device
        z = torch.randn(sum(g.numel() for g in grads), generator=generator, dtype=dtype, device=draw_on).to(device)
        chunks = [c.view_as(g) for c, g in zip(z.split([g.numel() for g in grads]), grads, strict=True)]
        torch._foreach_add_(grads, chunks, alpha=std)
    return len(targets)


def gradient_noise_(
    params: Iterable[nn.Parameter | torch.Tensor],
    step: int,
    *,
    eta: float,
    gamma: float = 0.55,
    generator: torch.Generator | None = None,
) -> float:
    """Annealed gradient noise in place (paper Sec. 3): adds ``N(0, eta / (1 + step)^gamma)`` to every
    entry of every ``p.grad`` (see :func:`add_gradient_noise_`). Call it after gradient clipping and before
    ``optimizer.step()``. Returns the standard deviation used."""
    std = noise_std(step, eta=eta, gamma=gamma)
    add_gradient_noise_(params, std, generator=generator)
    return std
