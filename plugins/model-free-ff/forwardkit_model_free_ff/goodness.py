"""Goodness and the layer-local loss of model-free forward-forward (card "Mechanism"; the code's ``goodness`` and
``train``).

Block ``k`` with activations ``a_k = act(W_k z_k)`` ``(B, H)`` scores

* ``cosine_to_random`` (the code): ``g_k = cos(a_k, p_k)`` with ``p_k`` a fixed random unit vector ``(H,)``,
  drawn once (``p ~ N(0, I) / ||.||``) and broadcast over the batch; scale-invariant, so the loss cannot be
  lowered by growing the weights;
* ``sum_squares`` (Hinton's FF): ``g_k = sum_j a_kj^2``;

and is trained to rank the positive sample above its negative:
``loss_k = mean_b softplus(-alpha (g_k(pos_b) - g_k(neg_b)))`` (a pairwise, SymBa-like log-sigmoid of the
goodness difference; the code's ``log(1 + exp(-threshold * delta))``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def activate(pre: Tensor, activation: str) -> Tensor:
    """``act(W z)``: ``abs`` (physical experiments), ``gelu`` (digital demo) or ``relu``; same shape."""
    if activation == "abs":
        return pre.abs()
    if activation == "gelu":
        return F.gelu(pre)
    return F.relu(pre)


def random_patterns(widths: list[int], seed: int) -> list[Tensor]:
    """The fixed goodness directions ``p_k`` of blocks of widths ``H_k``: unit vectors ``(H_k,)`` drawn from
    ``N(0, I)`` one after the other from one generator seeded with ``seed`` (the code draws p_0, p_1 likewise)."""
    gen = torch.Generator().manual_seed(seed)
    return [F.normalize(torch.randn(w, generator=gen), dim=0) for w in widths]


def goodness(a: Tensor, pattern: Tensor | None, kind: str = "cosine_to_random") -> Tensor:
    """Per-sample goodness of activations ``a`` ``(B, H)``: ``cos(a, p)`` (``pattern`` ``(H,)``) or
    ``sum_j a_j^2``; ``(B,)``."""
    if kind == "sum_squares":
        return a.square().sum(dim=-1)
    assert pattern is not None, "cosine goodness needs the block's pattern p_k"
    return F.cosine_similarity(a, pattern.to(a.dtype).unsqueeze(0), dim=-1, eps=1e-6)


def ff_pairwise_loss(g_pos: Tensor, g_neg: Tensor, alpha: float = 4.0) -> Tensor:
    """``mean_b softplus(-alpha (g_pos_b - g_neg_b))`` for goodness ``(B,)`` of positive and negative samples
    (scalar); ``log 2`` when they are equal."""
    return F.softplus(-alpha * (g_pos - g_neg)).mean()
