"""Paper-literal Combiner: the effective attention ``q(j | i)`` of eq. 8 built query by query from a plan.

For query i with plan ``(Omega_i^0, Omega_i^1..n_i)``::

    logits = [q_i k_j  for j in Omega_i^0] + [q_i k_Omega_r  for r = 1..n_i]       (§3.2)
    [p~(j|i) ; p(Omega_r|i)] = softmax(logits)                                   (one normaliser, eq. 9)
    p(j | Omega_r) = softmax_{j in Omega_r}(q_Omega_r k_j)                       (local expectation, eq. 7)
    q(j | i) = I(j in Omega^0) p~(j|i) + sum_r I(j in Omega_r) p(j | Omega_r) p(Omega_r | i)      (eq. 8)

and ``A(x_i) = sum_j q(j|i) v_j``. Python loops over queries and regions: for checking the vectorised
kernels on small L only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from forwardkit_combiner.partition import Plan
from forwardkit_combiner.summaries import Summary

__all__ = ["reference_attention", "reference_effective"]

#: a learned region key: (the region's value summary (B, h, d_v), its position) -> key (B, h, d)
LearnedKey = Callable[[Tensor, int], Tensor]


def reference_effective(q: Tensor, k: Tensor, v: Tensor, plans: Sequence[Plan], *, query_summary: Summary,
                        key_summary: Summary, learned_key: LearnedKey | None = None) -> Tensor:
    """``q(j | i)`` ``(B, h, L, L)`` from q (pre-scaled), k ``(B, h, L, d)`` and one plan per query (v is read only
    by a learned region key, which depends on the region's value summary)."""
    b, h, length, _ = q.shape
    out = torch.zeros(b, h, length, length, dtype=q.dtype, device=q.device)
    for i, plan in enumerate(plans):
        direct = list(plan.direct)
        logits = [torch.einsum("bhd,bhjd->bhj", q[:, :, i], k[:, :, direct]) if direct else q.new_zeros(b, h, 0)]
        locals_ = []
        for region in plan.regions:
            members = list(region.members)
            km = k[:, :, members]                                                        # (B, h, |R|, d)
            q_hat = q[:, :, region.query_at] if region.query_at is not None \
                else query_summary.pool(q[:, :, members], dim=2)
            p_local = torch.softmax(torch.einsum("bhd,bhjd->bhj", q_hat, km), dim=-1)         # (B, h, |R|)
            if region.key_at is not None:
                assert learned_key is not None, "a plan with learned keys needs learned_key"
                v_hat = (p_local[..., None] * v[:, :, members]).sum(2)
                k_hat = learned_key(v_hat, region.key_at)
            else:
                k_hat = key_summary.pool(km, dim=2)
            logits.append((q[:, :, i] * k_hat).sum(-1, keepdim=True))
            locals_.append((members, p_local))
        weights = torch.softmax(torch.cat(logits, dim=-1), dim=-1)
        if direct:
            out[:, :, i, direct] += weights[..., : len(direct)]
        for r, (members, p_local) in enumerate(locals_):
            out[:, :, i, members] += weights[..., len(direct) + r, None] * p_local
    return out


def reference_attention(q: Tensor, k: Tensor, v: Tensor, plans: Sequence[Plan], **options: object) -> Tensor:
    """``A(x_i) = sum_j q(j|i) v_j`` (eq. 8): ``(B, h, L, d_v)``; options as :func:`reference_effective`."""
    return reference_effective(q, k, v, plans, **options) @ v  # type: ignore[arg-type]
