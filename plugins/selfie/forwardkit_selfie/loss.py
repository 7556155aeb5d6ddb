"""Selfie's loss (paper's method; the card's Mechanism steps 4-6): for every masked location ``i`` of an image, the
query ``v_i = u + pos(i)`` scores each masked patch ``t`` of the same image by the dot product ``v_i . h_t``; a
softmax cross-entropy picks the patch that was at ``i``. The loss is the mean over the masked locations and the
batch; all locations are predicted in one pass (the paper's efficient mask prediction).

:func:`selfie_loss` is the batched form (one ``bmm`` per batch); :func:`selfie_loss_reference` is the card's text
line by line (a loop over images and locations), and a test shows that both agree.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def selfie_logits(queries: Tensor, candidates: Tensor) -> Tensor:
    """``(B, m, d)`` queries ``v_i`` and ``(B, m, d)`` candidates ``h_t`` -> ``(B, m, m)`` logits ``v_i . h_t``.

    Row ``i`` scores the candidates for location ``i``; candidate ``i`` is the correct one (the masked patches are
    listed in the order of their locations). Negatives are the other masked patches of the same image only."""
    return torch.bmm(queries, candidates.transpose(1, 2))


def selfie_loss(logits: Tensor, temperature: float = 1.0) -> tuple[Tensor, Tensor]:
    """``(B, m, m)`` logits -> ``(loss, top1)``: the mean cross-entropy of ``logits / temperature`` with target
    ``i`` in row ``i``, and the share of rows whose argmax is ``i`` (chance: ``1 / m``)."""
    b, m, _ = logits.shape
    target = torch.arange(m, device=logits.device).expand(b, m)
    flat = (logits / temperature).reshape(b * m, m)
    loss = F.cross_entropy(flat, target.reshape(-1))
    top1 = (flat.argmax(dim=-1) == target.reshape(-1)).float().mean()
    return loss, top1


def selfie_loss_reference(queries: Tensor, candidates: Tensor, temperature: float = 1.0) -> Tensor:
    """The card's step 6 literally: for each image and each masked location ``i``,
    ``-log( exp(v_i . h_i / T) / sum_t exp(v_i . h_t / T) )``, averaged over all of them."""
    b, m, _ = queries.shape
    total = queries.new_zeros(())
    for n in range(b):
        for i in range(m):
            scores = [float(queries[n, i] @ candidates[n, t]) / temperature for t in range(m)]
            top = max(scores)
            log_norm = top + math.log(sum(math.exp(s - top) for s in scores))
            total = total + (log_norm - scores[i])
    return total / (b * m)
