"""The per-scale pool the head reads: the tokens that left the grid at a scale (early stopping) and the tokens
still active there after the last layer (card, "Mechanism": "per scale, average-pool the exit buffer and the
final tokens"), by ``exit_pooling``: their mean, or their channel-wise maximum."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

Pooling = Literal["mean", "max"]


class ScalePool:
    """Running pool of one scale over a batch: ``add`` tokens ``(B, H, W, C)`` (those in ``mask`` ``(B, H, W)``,
    every token when None); ``result()`` ``(B, C)``, zeros for an image that pooled no token."""

    def __init__(self, mode: Pooling, like: Tensor, batch: int, dim: int) -> None:
        self.mode = mode
        self.count = like.new_zeros(batch)
        self.value = like.new_zeros(batch, dim) if mode == "mean" else like.new_full((batch, dim), float("-inf"))

    def add(self, tokens: Tensor, mask: Tensor | None = None) -> None:
        if mask is None:
            self.count = self.count + float(tokens.shape[1] * tokens.shape[2])
        else:
            self.count = self.count + mask.flatten(1).to(tokens.dtype).sum(1)
        if self.mode == "mean":
            kept = tokens if mask is None else tokens * mask[..., None].to(tokens.dtype)
            self.value = self.value + kept.sum((1, 2))
        else:
            kept = tokens if mask is None else tokens.masked_fill(~mask[..., None], float("-inf"))
            self.value = torch.maximum(self.value, kept.amax((1, 2)))

    def result(self) -> Tensor:
        if self.mode == "mean":
            return self.value / self.count.clamp(min=1.0)[:, None]
        return torch.where(self.count[:, None] > 0, self.value, torch.zeros_like(self.value))
