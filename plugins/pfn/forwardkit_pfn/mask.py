"""The PFN's train/query attention mask (paper sec. 4, Fig. 2; official ``transformer.py``, generate_D_q_matrix).

A sequence of T tokens holds s training points (positions 0..s-1, tokens Enc_x(x) + Enc_y(y)) and T - s queries
(positions s..T-1, tokens Enc_x(x)). Entry M[row, col] says whether token ``row`` may attend to token ``col``:

    allowed(row, col)  <=>  col < s  or  (col == row and query_self_attention)

so training tokens attend to every training token, and each query attends to the training tokens and to itself,
never to another query: the queries' outputs are independent of each other, and the training tokens' hidden states
do not depend on any query. With ``query_self_attention=False`` (the paper's Fig. 2 draws queries attending only to
the training set) a query row with no training column (s = 0) would have no key at all; it then attends to itself,
so the softmax stays defined.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["d_q_matrix_reference", "pfn_attention_mask"]


def pfn_attention_mask(seq_len: int, eval_pos: int | Tensor, *, query_self_attention: bool = True,
                       device: torch.device | None = None) -> Tensor:
    """Boolean mask (True: may attend) for ``seq_len`` tokens whose first ``eval_pos`` are training points.

    ``eval_pos`` an int gives ``(T, T)``; a tensor ``(B,)`` (one s per dataset) gives ``(B, T, T)``.
    """
    pos = torch.arange(seq_len, device=device)
    s = torch.as_tensor(eval_pos, device=device)
    col, row = pos.view(1, -1), pos.view(-1, 1)
    if s.dim() == 1:
        s = s.view(-1, 1, 1)
    train_col = col < s  # (T, T) broadcast or (B, T, T)
    diagonal = col == row
    if query_self_attention:
        return train_col | diagonal
    return train_col | (diagonal & (s == 0))


def d_q_matrix_reference(sz: int, query_size: int) -> Tensor:
    """The official additive mask, written as ``transformer.py`` does: 0 where allowed, -inf where blocked;
    ``(sz, sz)`` for ``sz - query_size`` training points (always with the query's self-attention)."""
    train_size = sz - query_size
    mask = torch.zeros(sz, sz) == 0
    mask[:, train_size:].zero_()
    mask |= torch.eye(sz) == 1
    return mask.float().masked_fill(mask == 0, float("-inf")).masked_fill(mask == 1, 0.0)
