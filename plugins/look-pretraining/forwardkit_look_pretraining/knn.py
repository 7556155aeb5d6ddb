"""The LOOK loss: a leave-one-out, distance-weighted k-nearest-neighbour classifier over a memory bank (paper sec. 3).

Notation (the card's "Mechanism", steps 1-5): ``z`` ``(B, d)`` unit-norm embeddings of the batch, ``bank`` ``(N, d)``
detached unit-norm embeddings of the training set with labels ``bank_labels`` ``(N,)``, ``idx`` ``(B,)`` each sample's
own slot. For every sample i::

    s_ij = z_i . M_j                      for j != idx_i              (1, leave-one-out)
    N_k(i) = the k largest s_ij                                        (2)
    w_ij = exp(s_ij / tau),  j in N_k(i)                               (3)
    p_i = sum_{j in N_k(i), y_j = y_i} w_ij / sum_{j in N_k(i)} w_ij   (4)
    loss_i = -log p_i,   loss = mean_i loss_i                          (5)

Gradients reach ``z`` only (the bank is a constant). Two implementations:

* :func:`look_loss_reference` follows the steps literally on the full ``(B, N)`` similarity matrix;
* :func:`look_loss` (the one the rule uses) finds the neighbours without gradients, chunk by chunk of the bank with
  a running top-k (memory ``O(B (chunk + k))``), then recomputes only the ``B x k`` chosen similarities with
  gradients. The tests check that both agree (values and gradients), for any chunk size.

Bank slots may be *invalid* (``valid`` False: not filled yet, never a neighbour) or of *unknown label* (-1: a
neighbour that is never a positive). With k = N - 1 the loss is memory-bank NCA (Wu et al. 2018,
:func:`nca_loss_reference`); with tau -> 0 it becomes the 1-NN leave-one-out error.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "EMPTY_POLICIES",
    "knn_class_log_probs",
    "knn_log_prob",
    "look_loss",
    "look_loss_reference",
    "momentum_update",
    "nca_loss_reference",
    "nearest_positive",
    "topk_neighbours",
]

EMPTY_POLICIES = ("eps", "append_nearest_positive")
NEG_INF = float("-inf")


def _masked_similarity(z: Tensor, rows: Tensor, start: int, *, idx: Tensor | None, valid: Tensor | None) -> Tensor:
    """``z @ rows.T`` ``(B, n)`` for bank rows ``start .. start + n``, -inf at each sample's own slot and at
    invalid slots."""
    s = z @ rows.T
    n = rows.shape[0]
    if valid is not None:
        s = s.masked_fill(~valid[start:start + n].unsqueeze(0), NEG_INF)
    if idx is not None:
        own = idx - start
        hit = (own >= 0) & (own < n)
        if bool(hit.any()):
            s[torch.nonzero(hit).squeeze(1), own[hit]] = NEG_INF
    return s


@torch.no_grad()
def topk_neighbours(z: Tensor, bank: Tensor, *, k: int, idx: Tensor | None = None, valid: Tensor | None = None,
                    chunk_size: int = 4096) -> tuple[Tensor, Tensor]:
    """The k most similar bank slots of every row of ``z`` ``(B, d)`` among ``bank`` ``(N, d)`` (steps 1-2), own
    slot ``idx`` and invalid slots excluded; returns ``(similarities, indices)`` ``(B, k')`` with
    ``k' = min(k, N)``, sorted by decreasing similarity. Rows with fewer candidates have -inf similarities
    (index arbitrary) in the missing places. Computed in chunks of ``chunk_size`` bank rows with a running top-k."""
    n = bank.shape[0]
    kk = min(k, n)
    best_s = z.new_full((z.shape[0], 0), NEG_INF)
    best_i = torch.zeros((z.shape[0], 0), dtype=torch.long, device=z.device)
    for start in range(0, n, chunk_size):
        s = _masked_similarity(z, bank[start:start + chunk_size], start, idx=idx, valid=valid)
        ks = min(kk, s.shape[1])
        cs, ci = s.topk(ks, dim=1)
        cand_s = torch.cat([best_s, cs], dim=1)
        cand_i = torch.cat([best_i, ci + start], dim=1)
        top_s, pos = cand_s.topk(min(kk, cand_s.shape[1]), dim=1)
        best_s, best_i = top_s, cand_i.gather(1, pos)
    return best_s, best_i


@torch.no_grad()
def nearest_positive(z: Tensor, bank: Tensor, bank_labels: Tensor, labels: Tensor, *, idx: Tensor | None = None,
                     valid: Tensor | None = None, chunk_size: int = 4096) -> tuple[Tensor, Tensor]:
    """The most similar same-label bank slot of every row (own and invalid slots excluded): ``(similarity,
    index)`` ``(B,)``, similarity -inf where the bank holds no positive."""
    best_s = z.new_full((z.shape[0],), NEG_INF)
    best_i = torch.zeros(z.shape[0], dtype=torch.long, device=z.device)
    for start in range(0, bank.shape[0], chunk_size):
        rows = bank[start:start + chunk_size]
        s = _masked_similarity(z, rows, start, idx=idx, valid=valid)
        same = bank_labels[start:start + rows.shape[0]].unsqueeze(0) == labels.unsqueeze(1)
        s = s.masked_fill(~same, NEG_INF)
        cs, ci = s.max(dim=1)
        better = cs > best_s
        best_s = torch.where(better, cs, best_s)
        best_i = torch.where(better, ci + start, best_i)
    return best_s, best_i


def knn_log_prob(sims: Tensor, positive: Tensor, present: Tensor, *, tau: float) -> Tensor:
    """log p_i of steps 3-4 from the neighbours' similarities ``sims`` ``(B, k)`` (with gradients), which of them
    share the label (``positive``, bool) and which exist (``present``, bool); -inf where no neighbour is
    positive. Computed as a difference of log-sum-exps (no overflow for small tau)."""
    logits = sims / tau
    all_ = logits.masked_fill(~present, NEG_INF)
    pos = logits.masked_fill(~(positive & present), NEG_INF)
    return torch.logsumexp(pos, dim=1) - torch.logsumexp(all_, dim=1)


def _reduce(log_p: Tensor, present_rows: Tensor, *, eps: float, empty_policy: str, reduction: str) -> Tensor:
    """Step 5: ``-log p`` (``-log(p + eps)`` for the 'eps' policy), rows without any neighbour left out."""
    if empty_policy == "eps":
        loss = -torch.log(torch.exp(log_p) + eps)
    else:  # append_nearest_positive: p > 0 whenever the bank holds a positive; otherwise the eps fallback
        loss = torch.where(torch.isfinite(log_p), -log_p, torch.full_like(log_p, -float(torch.log(torch.tensor(eps)))))
    loss = torch.where(present_rows, loss, torch.zeros_like(loss))
    if reduction == "none":
        return loss
    count = int(present_rows.sum())
    return loss.sum() / max(count, 1)


def _check(z: Tensor, bank: Tensor, bank_labels: Tensor, labels: Tensor, empty_policy: str) -> None:
    if z.dim() != 2 or bank.dim() != 2 or z.shape[1] != bank.shape[1]:
        raise ValueError(f"look_loss: z must be (B, d) and bank (N, d) with the same d, got {tuple(z.shape)} and "
                         f"{tuple(bank.shape)}")
    if bank_labels.shape != (bank.shape[0],) or labels.shape != (z.shape[0],):
        raise ValueError(f"look_loss: bank_labels must be (N,) and labels (B,), got {tuple(bank_labels.shape)} and "
                         f"{tuple(labels.shape)}")
    if empty_policy not in EMPTY_POLICIES:
        raise ValueError(f"empty_policy must be one of {EMPTY_POLICIES}, got {empty_policy!r}")


def look_loss(z: Tensor, bank: Tensor, bank_labels: Tensor, labels: Tensor, *, k: int, tau: float,
              idx: Tensor | None = None, valid: Tensor | None = None, empty_policy: str = "eps", eps: float = 1e-8,
              chunk_size: int = 4096, reduction: str = "mean") -> Tensor:
    """The LOOK loss (steps 1-5) of ``z`` ``(B, d)`` (unit rows, with gradients) against ``bank`` ``(N, d)``
    (detached here) with ``bank_labels`` ``(N,)`` (-1: unknown), for the batch's ``labels`` ``(B,)``; ``idx``
    ``(B,)`` each sample's own slot (excluded: leave-one-out), ``valid`` ``(N,)`` bool the slots that may be
    neighbours. ``reduction``: 'mean' (over rows with at least one neighbour) or 'none' ``(B,)``. The chunked
    top-k of :func:`topk_neighbours` chooses the neighbours; only their ``B x k`` similarities carry gradients.
    Equal to :func:`look_loss_reference` (tested)."""
    _check(z, bank, bank_labels, labels, empty_policy)
    bank = bank.detach()
    top_s, top_i = topk_neighbours(z.detach(), bank, k=k, idx=idx, valid=valid, chunk_size=chunk_size)
    present = torch.isfinite(top_s)
    if empty_policy == "append_nearest_positive":
        ps, pi = nearest_positive(z.detach(), bank, bank_labels, labels, idx=idx, valid=valid, chunk_size=chunk_size)
        already = (top_i == pi.unsqueeze(1)) & present
        extra = torch.isfinite(ps) & ~already.any(dim=1)
        top_i = torch.cat([top_i, pi.unsqueeze(1)], dim=1)
        present = torch.cat([present, extra.unsqueeze(1)], dim=1)
    sims = torch.einsum("bd,bkd->bk", z, bank[top_i])  # the chosen similarities, now with gradients
    positive = bank_labels[top_i] == labels.unsqueeze(1)
    log_p = knn_log_prob(sims, positive, present, tau=tau)
    return _reduce(log_p, present.any(dim=1), eps=eps, empty_policy=empty_policy, reduction=reduction)


def look_loss_reference(z: Tensor, bank: Tensor, bank_labels: Tensor, labels: Tensor, *, k: int, tau: float,
                        idx: Tensor | None = None, valid: Tensor | None = None, empty_policy: str = "eps",
                        eps: float = 1e-8, reduction: str = "mean") -> Tensor:
    """The card's steps 1-5 written out on the full ``(B, N)`` similarity matrix (the paper-literal reference of
    :func:`look_loss`; same arguments, no chunking)."""
    _check(z, bank, bank_labels, labels, empty_policy)
    s = z @ bank.detach().T  # (1) s_ij for every slot
    if valid is not None:
        s = s.masked_fill(~valid.unsqueeze(0), NEG_INF)
    if idx is not None:  # leave-one-out: the own slot is never a neighbour
        s = s.masked_fill(F.one_hot(idx, bank.shape[0]).bool(), NEG_INF)
    top_s, top_i = s.topk(min(k, bank.shape[0]), dim=1)  # (2) N_k(i)
    present = torch.isfinite(top_s)
    positive = bank_labels[top_i] == labels.unsqueeze(1)
    if empty_policy == "append_nearest_positive":
        same = (bank_labels.unsqueeze(0) == labels.unsqueeze(1))
        pos_s, pos_i = s.masked_fill(~same, NEG_INF).max(dim=1)
        extra = torch.isfinite(pos_s) & ~((top_i == pos_i.unsqueeze(1)) & present).any(dim=1)
        top_s = torch.cat([top_s, pos_s.unsqueeze(1)], dim=1)
        present = torch.cat([present, extra.unsqueeze(1)], dim=1)
        positive = torch.cat([positive, torch.ones_like(extra).unsqueeze(1)], dim=1)
    w = torch.exp(top_s.masked_fill(~present, 0.0) / tau) * present  # (3) w_ij
    p = (w * positive).sum(dim=1) / w.sum(dim=1).clamp_min(torch.finfo(w.dtype).tiny)  # (4)
    rows = present.any(dim=1)
    if empty_policy == "eps":
        loss = -torch.log(p + eps)  # (5)
    else:
        loss = torch.where(p > 0, -torch.log(p.clamp_min(torch.finfo(p.dtype).tiny)),
                           torch.full_like(p, -float(torch.log(torch.tensor(eps)))))
    loss = torch.where(rows, loss, torch.zeros_like(loss))
    return loss if reduction == "none" else loss.sum() / max(int(rows.sum()), 1)


def nca_loss_reference(z: Tensor, bank: Tensor, bank_labels: Tensor, labels: Tensor, *, tau: float,
                       idx: Tensor) -> Tensor:
    """Memory-bank NCA (Wu et al. 2018, eq. 3-4): ``-log sum_{j != i, y_j = y_i} softmax_j(s_ij / tau)`` over all
    other bank slots, averaged: LOOK with k = N - 1. ``z`` ``(B, d)``, ``bank`` ``(N, d)``, ``idx`` ``(B,)``."""
    logits = (z @ bank.detach().T) / tau
    logits = logits.masked_fill(F.one_hot(idx, bank.shape[0]).bool(), NEG_INF)
    prob = torch.softmax(logits, dim=1)
    same = (bank_labels.unsqueeze(0) == labels.unsqueeze(1)).to(prob.dtype)
    return -torch.log((prob * same).sum(dim=1)).mean()


@torch.no_grad()
def momentum_update(bank: Tensor, idx: Tensor, z: Tensor, momentum: float) -> None:
    """Step 6, in place: ``M_i <- normalize(m M_i + (1 - m) z_i)`` for the rows ``idx`` ``(B,)`` of ``bank``
    ``(N, d)`` with the batch's detached embeddings ``z`` ``(B, d)`` (m = 0: overwrite). A slot named twice in one
    batch takes its last occurrence."""
    new = F.normalize(momentum * bank[idx] + (1.0 - momentum) * z.detach().to(bank.dtype), dim=1)
    bank[idx] = new


@torch.no_grad()
def knn_class_log_probs(z: Tensor, bank: Tensor, bank_labels: Tensor, *, num_classes: int, k: int, tau: float,
                        valid: Tensor | None = None, chunk_size: int = 4096, eps: float = 1e-8) -> Tensor:
    """Inference with the LOOK head (steps 1-4 without leave-one-out, for samples outside the bank): the log of
    the weighted k-NN class probabilities ``(B, num_classes)`` (``log(p_c + eps)``, renormalised), usable as
    logits by a cross-entropy task. Unknown-label slots (-1) vote for no class."""
    top_s, top_i = topk_neighbours(z, bank, k=k, valid=valid, chunk_size=chunk_size)
    present = torch.isfinite(top_s)
    w = torch.exp((top_s.masked_fill(~present, NEG_INF) - top_s[:, :1].clamp_min(-1.0)) / tau) * present
    lab = bank_labels[top_i]
    known = (lab >= 0) & present
    votes = z.new_zeros(z.shape[0], num_classes)
    votes.scatter_add_(1, lab.clamp_min(0), w * known)
    p = votes / votes.sum(dim=1, keepdim=True).clamp_min(torch.finfo(votes.dtype).tiny)
    return torch.log_softmax(torch.log(p + eps), dim=1)
