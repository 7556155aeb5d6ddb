"""Running the experts of a top-k MoE on the tokens the router chose (paper eq. 1: ``MoE(x) = sum_{i in TopK}
g_i(x) e_i(x)``), three ways that agree:

* :func:`sorted_moe` (the fast kernel): every kept choice gets a slot of its expert's capacity buffer by sorting
  (:func:`~forwardkit_widenet.routing.positions_in_experts`); tokens are gathered into an ``(E, capacity, C)``
  buffer (``index_select``), the E experts run as batched matmuls, and each token gathers back its K outputs.
  Memory and time are linear in the token count;
* :func:`einsum_moe` (the authors' TF code and GShard): the same slots as one-hot ``(N, E, capacity)`` dispatch
  and combine tensors contracted with einsums, quadratic in the token count;
* :func:`dense_moe_reference` (paper eq. 1 literally): every expert on every token, weighted by the sparse gate
  vector; no capacity, so it equals the other two exactly when no choice is dropped.

All take ``tokens`` ``(N, C)`` and return ``(N, C)``; the experts' weights are stacked, ``w1`` ``(E, C, H)``,
``b1`` ``(E, H)``, ``w2`` ``(E, H, C)``, ``b2`` ``(E, C)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from forwardkit_widenet.routing import Routing, positions_in_experts


@dataclass
class ExpertWeights:
    """The E expert FFNs ``e_i(x) = drop(W2_i drop(act(W1_i x + b1_i)) + b2_i)`` as stacked tensors."""

    w1: Tensor
    b1: Tensor | None
    w2: Tensor
    b2: Tensor | None
    act: Callable[[Tensor], Tensor]
    drop: float = 0.0
    training: bool = False

    @property
    def num_experts(self) -> int:
        return int(self.w1.shape[0])

    def dropout(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.drop, self.training) if self.drop > 0 else x


def run_experts(buffer: Tensor, experts: ExpertWeights) -> Tensor:
    """Expert i on row block i of ``buffer`` ``(E, M, C)`` -> ``(E, M, C)``: two batched matmuls."""
    w = experts
    h = torch.bmm(buffer, w.w1) if w.b1 is None else torch.baddbmm(w.b1.unsqueeze(1), buffer, w.w1)
    h = w.dropout(w.act(h))
    y = torch.bmm(h, w.w2) if w.b2 is None else torch.baddbmm(w.b2.unsqueeze(1), h, w.w2)
    return w.dropout(y)


def kept_slots(routing: Routing, num_experts: int, capacity: int,
               priority: Literal["choice", "token"]) -> tuple[Tensor, Tensor, int]:
    """``(slot, kept, stride)``: ``kept`` ``(N, K)`` marks the choices that fit their expert's capacity, ``slot``
    ``(N, K)`` is their flat buffer slot ``expert * stride + position`` (``E * stride``, a discarded slot, for the
    dropped ones). ``stride`` is the capacity, shrunk eagerly to the fullest expert's count (the buffer needs no
    more rows; traced code keeps the static capacity)."""
    pos = positions_in_experts(routing.index, num_experts, priority=priority)
    kept = pos < capacity
    stride = capacity
    if not (torch.compiler.is_compiling() or torch.compiler.is_exporting()):
        stride = max(int(torch.where(kept, pos, -1).max()) + 1, 1)
    slot = torch.where(kept, routing.index * stride + pos, torch.full_like(pos, num_experts * stride))
    return slot, kept, stride


def sorted_moe(tokens: Tensor, routing: Routing, experts: ExpertWeights, *, capacity: int,
               priority: Literal["choice", "token"] = "choice") -> tuple[Tensor, Tensor]:
    """The MoE output ``(N, C)`` and the kept mask ``(N, K)``, by sort and gather (see the module docstring).

    Slot ``s`` of the ``(E * stride, C)`` buffer (``stride <= capacity``, see :func:`kept_slots`) holds the token
    that claimed it (an all-zero row when none did); a dropped choice contributes nothing, so a token whose every
    choice is dropped gets output 0."""
    n, c = tokens.shape
    k = routing.index.shape[1]
    e = experts.num_experts
    slot, kept, stride = kept_slots(routing, e, capacity, priority)
    ids = torch.arange(n, device=tokens.device).unsqueeze(1).expand(n, k).reshape(-1)
    owner = torch.full((e * stride + 1,), n, dtype=torch.long, device=tokens.device)
    owner = owner.scatter(0, slot.reshape(-1), ids)[: e * stride]  # the discarded slot is cut off
    padded = torch.cat([tokens, tokens.new_zeros(1, c)])
    buffer = padded.index_select(0, owner).view(e, stride, c)
    out = run_experts(buffer, experts).reshape(e * stride, c)
    out = torch.cat([out, out.new_zeros(1, c)])
    weights = (routing.gates * kept).to(out.dtype)
    gathered = out.index_select(0, slot.reshape(-1)).view(n, k, c)
    return (gathered * weights.unsqueeze(-1)).sum(1), kept


def einsum_moe(tokens: Tensor, routing: Routing, experts: ExpertWeights, *, capacity: int,
               priority: Literal["choice", "token"] = "choice") -> tuple[Tensor, Tensor]:
    """The same output as :func:`sorted_moe` with one-hot dispatch and combine tensors ``(N, E, capacity)``, as
    the authors' ``Switch`` layer (``einsum("ab,acd->cdb")`` in, ``einsum("abc,xba->xc")`` out) and GShard."""
    e = experts.num_experts
    pos = positions_in_experts(routing.index, e, priority=priority)
    kept = pos < capacity
    where = F.one_hot(torch.where(kept, pos, torch.full_like(pos, capacity)), capacity + 1)[..., :capacity]
    expert_hot = F.one_hot(routing.index, e).to(tokens.dtype)
    dispatch = torch.einsum("nke,nkm->nem", expert_hot, where.to(tokens.dtype))
    combine = torch.einsum("nke,nkm,nk->nem", expert_hot, where.to(tokens.dtype),
                           (routing.gates * kept).to(tokens.dtype))
    buffer = torch.einsum("nem,nc->emc", dispatch, tokens)
    return torch.einsum("nem,emc->nc", combine, run_experts(buffer, experts)), kept


def dense_moe_reference(tokens: Tensor, routing: Routing, experts: ExpertWeights) -> Tensor:
    """Paper eq. 1 literally: ``sum_i g_i(x) e_i(x)`` with every expert evaluated on every token and ``g`` the
    sparse gate vector (zero outside the top-k); no capacity. ``(N, C) -> (N, C)``."""
    e = experts.num_experts
    every = run_experts(tokens.unsqueeze(0).expand(e, -1, -1), experts)  # (E, N, C)
    gate = torch.zeros(tokens.shape[0], e, dtype=every.dtype, device=tokens.device)
    gate = gate.scatter(1, routing.index, routing.gates.to(every.dtype))
    return torch.einsum("ne,enc->nc", gate, every)
