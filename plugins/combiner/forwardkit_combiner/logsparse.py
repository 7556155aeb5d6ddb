"""Combiner-Logsparse (paper §4.2, Fig. 1(E); official ``_SelfAttLogn``), LM only, vectorised per level.

0-indexed: the prefix ``[0, i)`` is the disjoint union, over the levels l whose bit is set in i, of the
aligned dyadic block of size ``2^l`` just before i's level-l block: ``[(B - 1) 2^l, B 2^l)`` with
``B = i >> l`` odd. ``Omega_i^0 = {i}`` plus, for odd i, ``{i - 1}`` (the level-0 block, a single token taken
directly, as the official code does); every higher level with its bit set is a region whose abstraction is
computed once per block (``O(L)`` summaries over all levels). Query i has ``popcount(i) + 1`` terms, at
most ``bit_length(L - 1) + 1``; cost ``O(L log L d)``.

Level count: ``bit_length(L - 1)`` levels cover every ``i < L``. The official code uses
``ceil(log2(L - 1))``, one level short when ``L - 1`` is a power of two (e.g. ``L = 17``: i = 16 would see
only itself); the two agree otherwise (L = 196: 8 levels).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from forwardkit_combiner.grid import NEG
from forwardkit_combiner.joint import joint_softmax, local_softmax
from forwardkit_combiner.summaries import Summary, shift

__all__ = ["combiner_logsparse", "level_count", "level_mask"]


def level_count(length: int) -> int:
    """Levels of the dyadic decomposition of every prefix of a length-``length`` sequence."""
    return max(length - 1, 0).bit_length()


def level_mask(length: int, level: int, device: torch.device | None = None) -> Tensor:
    """``(L,)`` bool: query i has a level-``level`` term (bit ``level`` of i is set)."""
    return ((torch.arange(length, device=device) >> level) & 1) == 1


def _level_summaries(q: Tensor, k: Tensor, v: Tensor, c: int, query_summary: Summary,
                     key_summary: Summary) -> tuple[Tensor, Tensor]:
    """Key and value abstractions of the ``L // c`` whole blocks of size ``c``: ``(B, h, L // c, d | d_v)``."""
    b, h, length, d = k.shape
    if c == 1:  # the level-0 "region" {i - 1} is a direct term (paper: Omega^0 holds i - 1 for odd i)
        return k, v
    nb = length // c
    qb, kb = q[:, :, : nb * c].reshape(b, h, nb, c, d), k[:, :, : nb * c].reshape(b, h, nb, c, d)
    vb = v[:, :, : nb * c].reshape(b, h, nb, c, v.shape[-1])
    k_hat = key_summary.pool(kb, dim=3)
    local = local_softmax(torch.einsum("bhnd,bhncd->bhnc", query_summary.pool(qb, dim=3), kb))
    return k_hat, torch.einsum("bhnc,bhncd->bhnd", local, vb)


def _previous_block(x: Tensor, blocks: int) -> Tensor:
    """``out[beta] = x[beta - 1]`` for the ``blocks`` query blocks (block 0 gets zeros, always masked)."""
    return shift(x[:, :, :blocks], dim=2) if x.shape[2] >= blocks else shift(F.pad(x, (0, 0, 0, 1)), dim=2)


def combiner_logsparse(q: Tensor, k: Tensor, v: Tensor, *, query_summary: Summary, key_summary: Summary,
                       dropout_p: float = 0.0) -> Tensor:
    """Combiner-Logsparse on heads: q (pre-scaled), k ``(B, h, L, d)``, v ``(B, h, L, d_v)`` -> ``(B, h, L, d_v)``."""
    b, h, length, d = q.shape
    logits = [(q * k).sum(-1, keepdim=True)]                      # the direct term {i}
    values: list[tuple[int, Tensor]] = []
    for level in range(level_count(length)):
        c = 2 ** level
        blocks = math.ceil(length / c)
        k_hat, v_hat = _level_summaries(q, k, v, c, query_summary, key_summary)
        k_prev, v_prev = _previous_block(k_hat, blocks), _previous_block(v_hat, blocks)
        q_blocks = F.pad(q, (0, 0, 0, blocks * c - length)).reshape(b, h, blocks, c, d)
        lg = torch.einsum("bhncd,bhnd->bhnc", q_blocks, k_prev).reshape(b, h, blocks * c)[:, :, :length]
        logits.append(lg.masked_fill(~level_mask(length, level, q.device), NEG)[..., None])
        values.append((c, v_prev))
    weights = joint_softmax(logits, dropout_p=dropout_p)
    out = weights[0] * v
    for w, (c, v_prev) in zip(weights[1:], values, strict=True):
        blocks = v_prev.shape[2]
        w_blocks = F.pad(w, (0, 0, 0, blocks * c - length)).reshape(b, h, blocks, c, 1)
        out = out + (w_blocks * v_prev[:, :, :, None, :]).reshape(b, h, blocks * c, -1)[:, :, :length]
    return out
