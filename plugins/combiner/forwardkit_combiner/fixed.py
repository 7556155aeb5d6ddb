"""Combiner-Fixed (paper §4.1, eq. 10; official ``_SelfAttSqrtn``), vectorised: reshapes, einsum, one softmax.

The ``L`` tokens form ``n`` segments of ``s``. For query i in segment a:

* direct set ``Omega_i^0`` = segment a (MLM), or its part ``j <= i`` (LM);
* regions ``Omega_i^r`` = every other segment r (MLM), or every earlier one ``r < a`` (LM). A region's key
  ``k_hat_r`` and query ``q_hat_r`` are pools of its members (§3.2), its value the local expectation
  ``v_hat_r = sum_j softmax_j(q_hat_r k_j) v_j`` normalised inside the segment; an earlier segment lies
  wholly in the past, so its bidirectional summary is causal.

One softmax over ``[q_i k_j (j in Omega^0) ; q_i k_hat_r (r = 1..n_i)]`` (eq. 9). Cost ``O(L (s + 2n) d)``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from forwardkit_combiner.grid import NEG
from forwardkit_combiner.joint import joint_softmax, local_softmax
from forwardkit_combiner.summaries import Summary

__all__ = ["combiner_fixed", "fixed_masks"]


def fixed_masks(n: int, s: int, *, causal: bool, device: torch.device | None = None) -> tuple[Tensor, Tensor]:
    """Allowed terms: direct ``(s, s)`` (query offset, key offset in the segment) and regions ``(n, n)``
    (query segment a, region segment r)."""
    if causal:
        direct = torch.ones(s, s, dtype=torch.bool, device=device).tril()
        seg = torch.arange(n, device=device)
        return direct, seg[None, :] < seg[:, None]
    return torch.ones(s, s, dtype=torch.bool, device=device), ~torch.eye(n, dtype=torch.bool, device=device)


def combiner_fixed(q: Tensor, k: Tensor, v: Tensor, *, segment_len: int, causal: bool, query_summary: Summary,
                   key_summary: Summary, dropout_p: float = 0.0) -> Tensor:
    """Combiner-Fixed on heads: q (pre-scaled), k ``(B, h, L, d)``, v ``(B, h, L, d_v)`` -> ``(B, h, L, d_v)``;
    ``segment_len`` = s divides L."""
    b, h, length, d = q.shape
    s = segment_len
    n = length // s
    qs, ks = q.reshape(b, h, n, s, d), k.reshape(b, h, n, s, d)
    vs = v.reshape(b, h, n, s, v.shape[-1])
    allowed_direct, allowed_region = fixed_masks(n, s, causal=causal, device=q.device)
    direct = (qs @ ks.transpose(-1, -2)).masked_fill(~allowed_direct, NEG)        # (B, h, n, s, s)
    k_hat = key_summary.pool(ks, dim=3)                                            # (B, h, n, d)
    q_hat = query_summary.pool(qs, dim=3)
    local = local_softmax(torch.einsum("bhrd,bhrjd->bhrj", q_hat, ks))             # p(j | Omega^r)
    v_hat = torch.einsum("bhrj,bhrjd->bhrd", local, vs)                            # local expectations
    region = torch.einsum("bhasd,bhrd->bhasr", qs, k_hat)                          # (B, h, n, s, n)
    region = region.masked_fill(~allowed_region[:, None, :], NEG)
    w_direct, w_region = joint_softmax([direct, region], dropout_p=dropout_p)
    out = w_direct @ vs + torch.einsum("bhasr,bhrd->bhasd", w_region, v_hat)
    return out.reshape(b, h, length, v.shape[-1])
