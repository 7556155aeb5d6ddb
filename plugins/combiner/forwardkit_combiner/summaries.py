"""Region abstractions (paper §3.2): the key ``k_Omega`` and query ``q_Omega`` of a set of positions.

``p(Omega^r | i) ~ exp(q_i k_Omega^T / sqrt(d))`` and ``p(j | Omega^r) ~ exp(q_Omega k_j^T / sqrt(d))`` need one
vector per region from the keys / queries of its members. The paper uses max-pooling ("good empirical results
without additional parameters") or DeepSets; the official TF code also has mean and sum. A :class:`Summary`
pools over a whole axis (:meth:`Summary.pool`), over the strict prefix or suffix of every position along an
axis (:meth:`Summary.prefix`, the cumulative max of Combiner-Axial's vertical/horizontal variants), or over
an axis without the position itself (:meth:`Summary.except_self`, Combiner-Axial-horizontal's row without
``col_i``). Queries arrive already scaled by ``1 / sqrt(d)``; max and mean commute with that positive
scale, so ``maxpool(q / sqrt(d)) k^T = maxpool(q) k^T / sqrt(d)``, the in-region logits of the official code.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

__all__ = ["Summary", "shift"]

SummaryKind = Literal["max", "mean", "deepset"]


def shift(x: Tensor, dim: int, *, reverse: bool = False, fill: float = 0.0) -> Tensor:
    """``x`` moved one step along ``dim``: ``out[t] = x[t - 1]`` (``reverse``: ``x[t + 1]``), the vacated end
    filled with ``fill`` (the official code's ``shift_right`` / ``shift_left``)."""
    size = x.shape[dim]
    pad = torch.full_like(x.narrow(dim, 0, 1), fill)
    if size == 1:
        return pad
    if reverse:
        return torch.cat([x.narrow(dim, 1, size - 1), pad], dim=dim)
    return torch.cat([pad, x.narrow(dim, 0, size - 1)], dim=dim)


class Summary(nn.Module):
    """``pool_{j in Omega} x_j`` over the last-but-one-or-other axis of ``(..., d)`` tensors.

    ``max``: elementwise max; ``mean``: average; ``deepset``: ``rho(max_j relu(phi(x_j)))`` (Zaheer et al.
    2017, max-pooled DeepSets) with ``phi, rho: Linear(d, d)`` shared by the heads. The value for an empty set
    (the first position of a strict prefix) is ``post(0)``: finite, and always masked by the caller.
    """

    def __init__(self, *, kind: SummaryKind, head_dim: int) -> None:
        super().__init__()
        self.kind = kind
        self.phi = nn.Linear(head_dim, head_dim) if kind == "deepset" else None
        self.rho = nn.Linear(head_dim, head_dim) if kind == "deepset" else None

    def _pre(self, x: Tensor) -> Tensor:
        return torch.relu(self.phi(x)) if self.phi is not None else x

    def _post(self, x: Tensor) -> Tensor:
        return self.rho(x) if self.rho is not None else x

    def pool(self, x: Tensor, dim: int) -> Tensor:
        """Pool over the whole axis ``dim`` (kept as size 1 is dropped): ``(..., n, ..., d) -> (..., ..., d)``."""
        h = self._pre(x)
        pooled = h.mean(dim=dim) if self.kind == "mean" else h.amax(dim=dim)
        return self._post(pooled)

    def prefix(self, x: Tensor, dim: int, *, reverse: bool = False) -> Tensor:
        """Strict prefix pools along ``dim`` (same shape as ``x``): position t gets the pool of the positions
        ``< t`` (``reverse``: ``> t``); position 0 (the last, reversed) gets the empty-set value."""
        h = self._pre(x)
        if reverse:
            h = h.flip(dim)
        if self.kind == "mean":
            count = torch.arange(1, h.shape[dim] + 1, device=h.device, dtype=h.dtype)
            count = count.reshape([-1 if a == (dim % h.dim()) else 1 for a in range(h.dim())])
            running = h.cumsum(dim) / count
        else:
            running = torch.cummax(h, dim=dim).values
        out = shift(running, dim)
        if reverse:
            out = out.flip(dim)
        return self._post(out)

    def except_self(self, x: Tensor, dim: int) -> Tensor:
        """Pool over the axis ``dim`` without the position itself (same shape as ``x``); a size-1 axis gives
        the empty-set value."""
        h = self._pre(x)
        size = h.shape[dim]
        if self.kind == "mean":
            out = (h.sum(dim=dim, keepdim=True) - h) / max(size - 1, 1)
        else:
            low = shift(torch.cummax(h, dim=dim).values, dim, fill=float("-inf"))
            high = shift(torch.cummax(h.flip(dim), dim=dim).values, dim, fill=float("-inf")).flip(dim)
            both = torch.maximum(low, high)
            out = torch.where(torch.isinf(both), torch.zeros_like(both), both)
        return self._post(out)
