"""The memory bank of LOOK (card: "Mechanism", step 6): one detached unit embedding per training image, its label,
and whether the slot has been written yet."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from forwardkit_look_pretraining.knn import momentum_update


class MemoryBank:
    """``vectors`` ``(N, d)`` unit rows, ``labels`` ``(N,)`` (-1: unknown), ``filled`` ``(N,)`` bool.

    ``init='first_epoch_forward'``: new slots are empty (never neighbours) until written; ``'random_unit'``: new slots
    hold random unit vectors (drawn from ``(seed, first new row)``, so growth is deterministic) of unknown label and
    count as filled. The bank grows to ``max(idx) + 1`` slots when ``size`` is None.
    """

    def __init__(self, *, dim: int, init: str, size: int | None = None, seed: int = 0,
                 device: torch.device | None = None) -> None:
        self.dim, self.init, self.seed = int(dim), init, int(seed)
        self.device = device or torch.device("cpu")
        self.fixed_size = size
        self.vectors = torch.zeros(0, self.dim, device=self.device)
        self.labels = torch.zeros(0, dtype=torch.long, device=self.device)
        self.filled = torch.zeros(0, dtype=torch.bool, device=self.device)
        if size is not None:
            self.grow(size)

    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    def grow(self, n: int) -> None:
        """Make room for ``n`` slots (new ones empty, or random unit vectors for ``random_unit``)."""
        old = len(self)
        if n <= old:
            return
        extra = n - old
        if self.init == "random_unit":
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + old)
            new = F.normalize(torch.randn(extra, self.dim, generator=gen), dim=1).to(self.device)
            filled = torch.ones(extra, dtype=torch.bool, device=self.device)
        else:
            new = torch.zeros(extra, self.dim, device=self.device)
            filled = torch.zeros(extra, dtype=torch.bool, device=self.device)
        self.vectors = torch.cat([self.vectors, new])
        self.labels = torch.cat([self.labels, torch.full((extra,), -1, dtype=torch.long, device=self.device)])
        self.filled = torch.cat([self.filled, filled])

    def check_indices(self, idx: Tensor) -> None:
        """Grow for ``idx`` (or refuse an index outside a fixed-size bank)."""
        top = int(idx.max()) + 1 if idx.numel() else 0
        if int(idx.min()) < 0 if idx.numel() else False:
            raise ValueError(f"look_loss: dataset indices must be >= 0, got {int(idx.min())}")
        if self.fixed_size is not None and top > self.fixed_size:
            raise ValueError(f"look_loss: index {top - 1} is outside the bank of bank_size={self.fixed_size} slots")
        self.grow(top)

    @torch.no_grad()
    def write_new(self, idx: Tensor, z: Tensor, labels: Tensor) -> None:
        """First visit ('first_epoch_forward'): write the embeddings and labels of the slots not yet filled."""
        new = ~self.filled[idx]
        if bool(new.any()):
            rows = idx[new]
            self.vectors[rows] = z.detach()[new].to(self.vectors.dtype)
            self.labels[rows] = labels[new]
            self.filled[rows] = True

    @torch.no_grad()
    def update(self, idx: Tensor, z: Tensor, labels: Tensor, momentum: float) -> None:
        """After the step: ``M_i <- normalize(m M_i + (1 - m) z_i)`` (``knn.momentum_update``) and the labels; a
        slot never written before (random_unit's random vector is its M_i) is marked filled."""
        momentum_update(self.vectors, idx, z, momentum)
        self.labels[idx] = labels
        self.filled[idx] = True

    def valid(self) -> Tensor | None:
        """The slots that may be neighbours (None: all)."""
        return None if bool(self.filled.all()) else self.filled

    def state_dict(self) -> dict[str, Any]:
        return {"vectors": self.vectors.detach().cpu().clone(), "labels": self.labels.cpu().clone(),
                "filled": self.filled.cpu().clone()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.vectors = state["vectors"].clone().to(self.device)
        self.labels = state["labels"].clone().long().to(self.device)
        self.filled = state["filled"].clone().bool().to(self.device)
