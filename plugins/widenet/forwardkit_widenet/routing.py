"""The router of a top-k MoE (paper eqs. 2-3 and "Balanced Loading"): noisy softmax gating, top-k choice, each
choice's position in its expert's buffer, the capacity that drops overflowing choices, and the load-balance loss.

Token tensors are flattened: ``tokens`` ``(N, C)`` with ``N = B * prod(spatial)``; a routing holds ``(N, K)``
tensors, one column per choice (column 0 is each token's most probable expert).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass
class Routing:
    """The router's decision for ``N`` tokens: ``probs`` ``(N, E)`` softmax of the (noisy) logits, ``index``
    ``(N, K)`` the chosen experts (descending probability), ``gates`` ``(N, K)`` their combine weights (the chosen
    probabilities, renormalised over the K when asked)."""

    probs: Tensor
    index: Tensor
    gates: Tensor


def route(tokens: Tensor, weight: Tensor, *, top_k: int, noise_std: float = 0.0, normalize: bool = False) -> Routing:
    """Paper eq. 2: ``g(x) = TopK(softmax(W_r x + eps))`` with ``eps ~ N(0, noise_std^2)`` (pass 0 outside training).

    ``tokens`` ``(N, C)``, router ``weight`` ``(E, C)`` (no bias, as the authors' ``Dense(use_bias=False)``). The
    logits and probabilities are computed in float32 whatever the input dtype (as ColossalAI's router does)."""
    logits = F.linear(tokens.float(), weight.float())
    if noise_std > 0:
        logits = logits + torch.randn_like(logits) * noise_std
    probs = logits.softmax(dim=-1)
    gates, index = probs.topk(top_k, dim=-1)
    if normalize:
        gates = gates / gates.sum(dim=-1, keepdim=True)
    return Routing(probs=probs, index=index, gates=gates)


def expert_capacity(num_tokens: int, *, num_experts: int, top_k: int, factor: float, min_capacity: int) -> int:
    """Buffer size of each expert for one call: ``max(min_capacity, floor(factor * K * N / E))`` (the authors'
    ``int(N * C * K // E)``), never more than ``N`` (a token sends at most one choice to an expert)."""
    return min(num_tokens, max(min_capacity, math.floor(factor * top_k * num_tokens / num_experts)))


def _flat_order(index: Tensor, priority: Literal["choice", "token"]) -> Tensor:
    """The ``N * K`` choices as one vector in the order they claim buffer slots."""
    return index.t().reshape(-1) if priority == "choice" else index.reshape(-1)


def _unflatten(flat: Tensor, shape: torch.Size, priority: Literal["choice", "token"]) -> Tensor:
    n, k = shape
    return flat.view(k, n).t() if priority == "choice" else flat.view(n, k)


def positions_in_experts(index: Tensor, num_experts: int, *,
                         priority: Literal["choice", "token"] = "choice") -> Tensor:
    """Each choice's 0-based slot in its expert's buffer, by sorting (no one-hot tensor): ``index`` ``(N, K)`` ->
    ``(N, K)`` int64.

    The choices are put in priority order (``'choice'``: all first choices, token by token, then all second
    choices...; ``'token'``: token by token), stably sorted by expert; a choice's slot is its rank in that sort
    minus the start of its expert's run."""
    flat = _flat_order(index, priority)
    order = torch.argsort(flat, stable=True)
    counts = torch.zeros(num_experts, dtype=torch.long, device=flat.device).scatter_add_(
        0, flat, torch.ones_like(flat))
    starts = counts.cumsum(0) - counts
    ranks = torch.empty_like(order).scatter_(0, order, torch.arange(flat.numel(), device=flat.device))
    return _unflatten(ranks - starts[flat], index.shape, priority)


def positions_reference(index: Tensor, num_experts: int, *,
                        priority: Literal["choice", "token"] = "choice") -> Tensor:
    """The same slots the paper-literal way (the authors' ``cumsum`` of one-hot masks, 0-based): a running count
    of earlier choices of the same expert, ``O(N K E)`` memory."""
    flat = _flat_order(index, priority)
    onehot = F.one_hot(flat, num_experts)
    before = (onehot.cumsum(0) - onehot) * onehot
    return _unflatten(before.sum(-1), index.shape, priority)


def load_balance_loss(probs: Tensor, index: Tensor, *, kind: Literal["topk", "switch"] = "topk") -> Tensor:
    """Load-balance loss of one MoE call, ``E * sum_i m_i P_i`` (paper "Balanced Loading"; Switch Transformer).

    ``P_i`` = mean router probability of expert i over the tokens (differentiable), ``m_i`` = share of the
    tokens' choices that went to expert i (an index count, no gradient): over the top-k choices divided by K
    (``'topk'``, the authors' ``load_balanced_loss(probs, mask_sum / K)``) or over the first choices only
    (``'switch'``). 1 when routing is uniform; ``E`` when every token sends its first choice to one expert with
    probability 1 (``'switch'``, or ``'topk'`` with K = 1). ``probs`` ``(N, E)``, ``index`` ``(N, K)``."""
    num_experts = probs.shape[-1]
    chosen = index[:, :1] if kind == "switch" else index
    density = F.one_hot(chosen, num_experts).sum(1).to(probs.dtype).mean(0) / chosen.shape[1]
    return num_experts * (density * probs.mean(0)).sum()
