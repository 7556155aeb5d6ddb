"""The digital twin of a physical layer, as physics-aware training fits it (Wright et al. 2022, arXiv 2104.13386).

An MLP on standardised inputs and outputs, ``u (N, D) -> y (N, M)``: ``y = mlp((u - mu_u) / s_u) * s_y + mu_y``,
fitted by full-batch Adam on the mean squared error of ``n_probe`` measured pairs. Its statistics are buffers,
so the twin's whole state is in its ``state_dict``.
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class DigitalTwin(nn.Module):
    """``(N, D) -> (N, M)``: ``layers`` hidden GELU layers of width ``hidden`` between standardisations."""

    in_mean: Tensor
    in_std: Tensor
    out_mean: Tensor
    out_std: Tensor

    def __init__(self, in_dim: int, out_dim: int, hidden: int = 256, layers: int = 2) -> None:
        super().__init__()
        dims = [in_dim] + [hidden] * layers
        blocks: list[nn.Module] = []
        for a, b in itertools.pairwise(dims):
            blocks += [nn.Linear(a, b), nn.GELU()]
        blocks.append(nn.Linear(dims[-1], out_dim))
        self.mlp = nn.Sequential(*blocks)
        for name, size in (("in_mean", in_dim), ("in_std", in_dim), ("out_mean", out_dim), ("out_std", out_dim)):
            self.register_buffer(name, torch.zeros(size) if "mean" in name else torch.ones(size))

    def forward(self, u: Tensor) -> Tensor:
        return self.mlp((u - self.in_mean) / self.in_std) * self.out_std + self.out_mean

    def fit(self, u: Tensor, y: Tensor, *, steps: int, lr: float) -> float:
        """Fit on measured pairs ``u`` ``(N, D)``, ``y`` ``(N, M)`` (full-batch Adam on the standardised MSE);
        returns the relative error ``||twin(u) - y||^2 / ||y - mean(y)||^2`` after the fit."""
        with torch.no_grad():
            self.in_mean.copy_(u.mean(0))
            self.in_std.copy_(u.std(0).clamp_min(1e-6))
            self.out_mean.copy_(y.mean(0))
            self.out_std.copy_(y.std(0).clamp_min(1e-6))
        target = (y - self.out_mean) / self.out_std
        opt = torch.optim.Adam(self.mlp.parameters(), lr=lr)
        x = (u - self.in_mean) / self.in_std
        for _ in range(steps):
            opt.zero_grad(set_to_none=True)
            F.mse_loss(self.mlp(x), target).backward()
            opt.step()
        with torch.no_grad():
            return float((self(u) - y).square().sum() / (y - y.mean(0)).square().sum().clamp_min(1e-12))
