"""Equivalent spatial view of AFF (eq. 6): the dynamic global kernel irfft2(M) of every ``aff`` mixer."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn

from forwardkit.interfaces import Analysis, Analyzer

from .config import AFFKernelViewConfig
from .mixer import AFF


def equivalent_kernel(mixer: AFF, u: Tensor) -> Tensor:
    """The per-channel circular kernel ``(B, H, W, C)`` with Y = u (*) kernel for ``u`` ``(B, H, W, C)``."""
    m = mixer.mask(u)
    return torch.fft.irfftn(m, s=tuple(u.shape[1:-1]), dim=tuple(range(1, u.dim() - 1)), norm="ortho")


def radial_energy(kernel: Tensor) -> Tensor:
    """Mean squared kernel value by circular distance from the origin (rounded), for ``(B, H, W, C)`` -> (R,)."""
    h, w = kernel.shape[1:3]
    yy = torch.arange(h).view(-1, 1)
    xx = torch.arange(w).view(1, -1)
    r = torch.sqrt(torch.minimum(yy, h - yy).float() ** 2 + torch.minimum(xx, w - xx).float() ** 2).round().long()
    e = kernel.pow(2).mean(dim=(0, 3))
    return torch.stack([e[r == i].mean() for i in range(int(r.max()) + 1)])


class AFFKernelView(Analyzer):
    """Numbers: radial energy of the equivalent kernel of each ``aff`` mixer (random input of its own width)."""

    Config = AFFKernelViewConfig
    config: AFFKernelViewConfig

    def analyze(self, model: nn.Module, data: Iterable[Any] | None = None) -> Analysis:
        out = Analysis()
        s = self.config.size
        out.numbers["aff_mixers"] = float(sum(isinstance(m, AFF) for m in model.modules()))
        with torch.no_grad():
            for name, mod in model.named_modules():
                if isinstance(mod, AFF):
                    prof = radial_energy(equivalent_kernel(mod, torch.randn(self.config.batches, s, s, mod.dim)))
                    out.tables[f"radial_{name or 'mixer'}".replace(".", "_")] = [
                        {"radius": i, "energy": float(v)} for i, v in enumerate(prof)]
                    out.numbers[f"{name or 'mixer'}/far_energy_fraction"] = float(prof[len(prof) // 2:].sum()
                                                                                 / prof.sum().clamp_min(1e-30))
        return out
