"""Small training and evaluation helpers on lists of labelled batches (used by the compressor's optional
retraining and by the ranking analyzer's stand-alone training; experiments train through the trainer)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def labelled(data: Iterable[Any] | None) -> list[Mapping[str, Tensor]]:
    """The batches of ``data`` that carry images ``x`` and integer labels ``y``."""
    return [b for b in (data or []) if isinstance(b, Mapping) and "x" in b and "y" in b
            and not b["y"].is_floating_point()]


def concat(batches: list[Mapping[str, Tensor]]) -> tuple[Tensor, Tensor]:
    """All images and labels of ``batches``."""
    return torch.cat([b["x"] for b in batches]), torch.cat([b["y"] for b in batches])


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 256) -> float:
    """Top-1 accuracy of ``model`` in eval mode on images ``x`` and labels ``y`` (the mode is restored)."""
    was = model.training
    model.eval()
    correct = sum(int((model(x[i : i + batch_size]).argmax(-1) == y[i : i + batch_size]).sum())
                  for i in range(0, len(x), batch_size))
    model.train(was)
    return correct / max(len(x), 1)


def fit(model: nn.Module, x: Tensor, y: Tensor, *, epochs: int, lr: float, batch_size: int = 64,
        weight_decay: float = 0.05, seed: int = 0) -> list[float]:
    """AdamW on cross-entropy for ``epochs`` shuffled passes over ``(x, y)``; returns the mean loss per pass."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    model.train()
    losses = []
    for _ in range(epochs):
        order, total = torch.randperm(len(x), generator=gen), 0.0
        for i in range(0, len(x), batch_size):
            idx = order[i : i + batch_size]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        losses.append(total / max(len(x), 1))
    model.eval()
    return losses
