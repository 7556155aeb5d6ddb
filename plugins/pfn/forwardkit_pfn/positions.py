"""The eval-position sampler (official ``utils.py``, get_weighted_single_eval_pos_sampler; paper sec. 4).

Each training batch uses ONE number of training points s for all its datasets ("single_eval_pos"); the T - s
other points are queries with a loss. Drawn uniformly, large s would weigh little (few queries); the official
"weighted" sampler draws

    P(s = k) = (1 / (T - k)) / sum_{j=0..K} 1 / (T - j),    k = 0..K   (K = max_train_points < T)

so that the expected number of query losses, P(s = k) (T - k), is the same for every k: every size of training
set contributes equally to the loss in expectation.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

__all__ = ["eval_pos_probabilities", "sample_eval_pos"]


def eval_pos_probabilities(seq_len: int, max_train_points: int,
                           kind: Literal["weighted", "uniform"] = "weighted") -> Tensor:
    """P(s = k) for k = 0..max_train_points, ``(max_train_points + 1,)`` float64."""
    if not 0 <= max_train_points < seq_len:
        raise ValueError(f"max_train_points must be in [0, seq_len), got {max_train_points} for seq_len {seq_len}")
    k = torch.arange(max_train_points + 1, dtype=torch.float64)
    weights = 1.0 / (seq_len - k) if kind == "weighted" else torch.ones_like(k)
    return weights / weights.sum()


def sample_eval_pos(seq_len: int, max_train_points: int, kind: Literal["weighted", "uniform"] = "weighted", *,
                    generator: torch.Generator | None = None, n: int = 1) -> Tensor:
    """``n`` draws of s ``(n,)`` (long) from :func:`eval_pos_probabilities`."""
    probs = eval_pos_probabilities(seq_len, max_train_points, kind)
    return torch.multinomial(probs, n, replacement=True, generator=generator)
