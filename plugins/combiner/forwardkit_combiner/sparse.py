"""The sparse baselines Combiner converts (paper Fig. 1(A)-(C)), as dense boolean masks (for comparison only: O(L^2)).

0-indexed positions, ``n`` segments (rows) of ``s`` (see :mod:`.grid`):

* Fixed (Sparse Transformer, §4.1): own segment ``j // s == i // s`` and the segments' summary columns
  ``j mod s == s - 1`` (the paper's 1-indexed ``j mod s = 0``: the last token of each segment, Child et al.'s
  "fixed" pattern with c = 1); LM: ``j <= i`` as well.
* Axial (§4.3): own row and own column; LM: ``j <= i``.
* Logsparse (§4.2, LM): ``i`` and the suffix sums of the bits of i, i.e. the last token
  ``((i >> l) << l) - 1`` of every dyadic block of the decomposition of ``[0, i)`` (bit l of i set).

Each mixer is masked softmax attention over the flattened tokens (``torch``'s scaled_dot_product_attention)
with the same projections as :class:`~forwardkit_combiner.attention.CombinerAttention`.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from forwardkit_combiner.config import LogSparseAttentionConfig, SparseAxialAttentionConfig, SparseFixedAttentionConfig
from forwardkit_combiner.grid import segments
from forwardkit_combiner.heads import HeadsAttention
from forwardkit_combiner.logsparse import level_count

__all__ = ["LogSparseAttention", "SparseAxialAttention", "SparseFixedAttention", "axial_mask", "fixed_mask",
           "logsparse_mask", "masked_attention"]


def _causal(mask: Tensor, causal: bool) -> Tensor:
    return mask & torch.ones_like(mask).tril() if causal else mask


def fixed_mask(length: int, segment_len: int, *, causal: bool, device: Any = None) -> Tensor:
    """``(L, L)`` bool, ``[i, j]`` True where i attends to j in the Fixed sparse pattern."""
    pos = torch.arange(length, device=device)
    same = (pos[:, None] // segment_len) == (pos[None, :] // segment_len)
    summary = (pos[None, :] % segment_len) == segment_len - 1
    return _causal(same | summary, causal)


def axial_mask(length: int, row_len: int, *, causal: bool, device: Any = None) -> Tensor:
    """``(L, L)`` bool: own row or own column of the ``(L / row_len) x row_len`` matrix."""
    pos = torch.arange(length, device=device)
    same_row = (pos[:, None] // row_len) == (pos[None, :] // row_len)
    same_col = (pos[:, None] % row_len) == (pos[None, :] % row_len)
    return _causal(same_row | same_col, causal)


def logsparse_mask(length: int, *, device: Any = None) -> Tensor:
    """``(L, L)`` bool: i attends to itself and to ``((i >> l) << l) - 1`` for every bit l set in i."""
    pos = torch.arange(length, device=device)
    mask = torch.eye(length, dtype=torch.bool, device=device)
    for level in range(level_count(length)):
        has = ((pos >> level) & 1) == 1
        target = ((pos >> level) << level) - 1
        mask = mask | (has[:, None] & (pos[None, :] == target[:, None]))
    return mask


def masked_attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor, *, dropout_p: float = 0.0) -> Tensor:
    """``softmax(q k^T + M) v`` with q pre-scaled, a boolean ``(L, L)`` mask: ``(B, h, L, d_v)``."""
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p, scale=1.0)


class _MaskedAttention(HeadsAttention):
    def mask(self, spatial: tuple[int, ...], device: Any = None) -> Tensor:  # pragma: no cover - subclasses
        raise NotImplementedError

    def attend(self, q: Tensor, k: Tensor, v: Tensor, spatial: tuple[int, ...], tokens: Tensor) -> Tensor:
        p = self.config.attn_dropout if self.training else 0.0
        return masked_attention(q, k, v, self.mask(spatial, q.device), dropout_p=p)


class _SegmentedMasked(_MaskedAttention):
    def supports(self, spatial: tuple[int, ...]) -> bool:
        if len(spatial) not in self.ranks:
            return False
        try:
            segments(spatial, self.config.segment_len)
        except ValueError:
            return False
        return True

    def unsupported_reason(self, spatial: tuple[int, ...]) -> str:
        try:
            segments(spatial, self.config.segment_len)
        except ValueError as exc:
            return f"{type(self).__name__}: {exc}"
        return super().unsupported_reason(spatial)


class SparseFixedAttention(_SegmentedMasked):
    """Fixed sparse attention (Fig. 1(A)) on ``(B, *spatial, C)``; see :func:`fixed_mask`."""

    Config = SparseFixedAttentionConfig
    config: SparseFixedAttentionConfig

    def mask(self, spatial: tuple[int, ...], device: Any = None) -> Tensor:
        _, s = segments(spatial, self.config.segment_len)
        return fixed_mask(math.prod(spatial), s, causal=self.causal, device=device)


class SparseAxialAttention(_SegmentedMasked):
    """Axial sparse attention (Fig. 1(C)) on ``(B, *spatial, C)``; see :func:`axial_mask`."""

    Config = SparseAxialAttentionConfig
    config: SparseAxialAttentionConfig

    def mask(self, spatial: tuple[int, ...], device: Any = None) -> Tensor:
        _, s = segments(spatial, self.config.segment_len)
        return axial_mask(math.prod(spatial), s, causal=self.causal, device=device)


class LogSparseAttention(_MaskedAttention):
    """Logsparse attention (Fig. 1(B), LM) on ``(B, *spatial, C)``; see :func:`logsparse_mask`."""

    Config = LogSparseAttentionConfig
    config: LogSparseAttentionConfig

    def mask(self, spatial: tuple[int, ...], device: Any = None) -> Tensor:
        return logsparse_mask(math.prod(spatial), device=device)
