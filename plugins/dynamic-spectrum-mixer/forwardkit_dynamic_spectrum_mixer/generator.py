"""The dynamic spectrum weight generation layer (card step 5, a reconstruction).

The abstract says DSM "adopts a dynamic spectrum weight generation layer as the spectrum bands selector,
which could emphasize informative frequency bands while diminishing others". Reconstruction: from the
global average of the tokens ``g = GAP(z)`` ``(B, C)``,

    logits = W_2 GELU(W_1 g + b_1) + b_2        (B, K * C) -> (B, K, C)
    a = 2 * sigmoid(logits)                      band gates in (0, 2), 1 at zero logits,

with ``W_1: C -> max(1, C // r)``. ``W_2`` and ``b_2`` start at zero (card: the mixer starts as the
identity, ``a = 1``); they are held as plain parameters rather than an ``nn.Linear``, so that a holder's
initialisation of every Linear (the MetaFormer's truncated normal) keeps that start. A consequence: at
initialisation the first layer ``W_1`` receives an exactly zero gradient (it only reaches the output
through ``W_2 = 0``); it starts to learn after the first update of ``W_2`` (as a zero-initialised gate).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def band_gates(logits: Tensor) -> Tensor:
    """``a = 2 sigmoid(logits)`` (card step 5): gates in (0, 2), exactly 1 at zero logits."""
    return 2.0 * torch.sigmoid(logits)


class SpectrumWeightGenerator(nn.Module):
    """Per-sample logits ``(B, K, C)`` of the band weights from tokens ``(B, *spatial, C)`` (card step 5)."""

    def __init__(self, *, dim: int, num_bands: int, reduction: int = 4) -> None:
        super().__init__()
        self.dim, self.num_bands = dim, num_bands
        hidden = max(1, dim // reduction)
        self.reduce = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.expand_weight = nn.Parameter(torch.zeros(num_bands * dim, hidden))
        self.expand_bias = nn.Parameter(torch.zeros(num_bands * dim))

    def forward(self, z: Tensor) -> Tensor:
        """``z`` ``(B, *spatial, C)`` -> logits ``(B, K, C)``: ``W_2 GELU(W_1 GAP(z) + b_1) + b_2``."""
        g = z.mean(dim=tuple(range(1, z.dim() - 1)))  # GAP over the spatial axes: (B, C)
        hidden = self.act(self.reduce(g))
        logits = F.linear(hidden, self.expand_weight, self.expand_bias)
        return logits.reshape(z.shape[0], self.num_bands, self.dim)
