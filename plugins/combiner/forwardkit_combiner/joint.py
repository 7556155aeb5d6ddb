"""The one normaliser of eq. 9: direct logits and region logits share the partition function ``Z(x_i)``.

Normalising the direct terms and the region terms separately is the common bug the card warns about;
every factorisation concatenates its logit blocks along the last axis and calls :func:`joint_softmax` once.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["joint_softmax", "local_softmax"]


def joint_softmax(blocks: list[Tensor], *, dropout_p: float = 0.0) -> list[Tensor]:
    """``softmax(cat(blocks, -1))`` split back into the blocks' widths (eq. 9), with attention dropout
    ``dropout_p`` on the weights (pass 0 in evaluation). Blocks ``(..., n_b)`` share their leading axes."""
    widths = [int(b.shape[-1]) for b in blocks]
    weights = F.softmax(torch.cat(blocks, dim=-1), dim=-1)
    if dropout_p > 0:
        weights = F.dropout(weights, p=dropout_p)
    return list(weights.split(widths, dim=-1))


def local_softmax(logits: Tensor) -> Tensor:
    """``p(j | Omega^r)`` (eq. 7, local expectation): normalised inside the region only."""
    return F.softmax(logits, dim=-1)

