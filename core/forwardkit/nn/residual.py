"""What residual blocks put around their branches: stochastic depth and per-channel scales.

- :class:`DropPath` / :func:`drop_path`: stochastic depth (Huang et al. 2016, sec. 3), a residual branch
  dropped per sample; :func:`drop_path_schedule` rises its rate linearly with depth.
- :class:`Scale`: a learnable per-channel vector, LayerScale (Touvron et al. 2021, CaiT eq. 4) on a
  branch, ResScale (Yu et al. 2023, MetaFormer baselines sec. 3.2) on a shortcut.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

__all__ = ["DropPath", "Scale", "drop_path", "drop_path_schedule", "optional_scale"]


def drop_path(x: Tensor, p: float, training: bool) -> Tensor:
    """Stochastic depth on a residual branch ``x`` of shape ``(B, ...)``: in training, each sample's
    branch is zeroed with probability ``p`` and the kept ones scaled by ``1 / (1 - p)`` (so the
    expectation is unchanged); in evaluation, ``x`` itself."""
    if p == 0.0 or not training:
        return x
    keep = 1.0 - p
    mask = torch.empty((x.shape[0],) + (1,) * (x.dim() - 1), dtype=x.dtype, device=x.device).bernoulli_(keep)
    return x * mask / keep


class DropPath(nn.Module):
    """Module form of :func:`drop_path` with drop probability ``p`` in ``[0, 1)``; any shape ``(B, ...)``."""

    def __init__(self, *, p: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"drop path probability must be in [0, 1), got {p}")
        self.p = float(p)

    def forward(self, x: Tensor) -> Tensor:
        return drop_path(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def drop_path_schedule(rate: float, depths: Sequence[int]) -> list[list[float]]:
    """Stochastic-depth rates rising linearly from 0 to ``rate`` over all ``sum(depths)`` blocks (Huang
    et al. 2016, eq. 4 with ``p_L = rate``), split per stage: one list of rates per entry of ``depths``."""
    total = sum(depths)
    flat = [rate * i / (total - 1) if total > 1 else 0.0 for i in range(total)]
    out, start = [], 0
    for depth in depths:
        out.append(flat[start : start + depth])
        start += depth
    return out


class Scale(nn.Module):
    """A per-channel vector ``scale`` (shape ``(C,)``, initialised to ``init_value``) multiplying
    ``(B, *spatial, C)`` tokens: LayerScale when it scales a branch, ResScale when it scales a shortcut.
    ``trainable=False`` keeps it fixed."""

    def __init__(self, *, dim: int, init_value: float = 1.0, trainable: bool = True) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.full((dim,), float(init_value)), requires_grad=trainable)

    def forward(self, x: Tensor) -> Tensor:
        return x * self.scale

    def extra_repr(self) -> str:
        return f"{self.scale.shape[0]}"


def optional_scale(dim: int, init_value: float | None) -> nn.Module:
    """``Scale(dim=dim, init_value=init_value)``, or :class:`torch.nn.Identity` when ``init_value`` is None
    (a block without that scale, and without its parameter)."""
    return nn.Identity() if init_value is None else Scale(dim=dim, init_value=init_value)
