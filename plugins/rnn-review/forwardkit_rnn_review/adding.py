"""``adding_problem``: the adding problem (Hochreiter & Schmidhuber 1997, exp. 4; in the form of Le et al.
2015 and Arjovsky et al. 2016), the survey's example of a long time lag.

Each step carries two features, ``x(t) = (u(t), m(t))`` with ``u(t) ~ U(0, 1)`` and a marker ``m(t)`` that is
1 at exactly two steps, one drawn uniformly in the first half ``[0, T/2)`` and one in the second ``[T/2, T)``;
the target is the sum of the two marked values, ``y = sum_t m(t) u(t)``. Predicting the mean, 1, gives the
trivial mean squared error ``Var(u_1 + u_2) = 2/12 = 1/6``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from forwardkit.data import InMemoryDataset, TensorSplit
from forwardkit_rnn_review.config import AddingProblemConfig

#: the mean squared error of always predicting E[y] = 1
TRIVIAL_MSE = 1.0 / 6.0


def make_adding_problem(n: int, length: int, *, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """``n`` adding-problem sequences: inputs ``(n, length, 2)`` (value, marker) float32, targets ``(n,)``."""
    if length < 2:
        raise ValueError(f"the adding problem needs length >= 2 (a marker per half), got {length}")
    half = length // 2
    u = torch.rand(n, length, generator=generator)
    first = torch.randint(0, half, (n,), generator=generator)
    second = torch.randint(half, length, (n,), generator=generator)
    marker = torch.zeros(n, length)
    rows = torch.arange(n)
    marker[rows, first] = 1.0
    marker[rows, second] = 1.0
    return torch.stack([u, marker], dim=-1), (u * marker).sum(dim=1)


class AddingProblemDataset(InMemoryDataset):
    """The adding problem: ``x`` ``(T, 2)`` per sample, ``y`` a float scalar (``regression``); train, val and
    test drawn in that order from one generator seeded by ``seed``."""

    Config = AddingProblemConfig
    config: AddingProblemConfig

    def build(self) -> tuple[dict[str, TensorSplit], dict[str, Any]]:
        c = self.config
        gen = torch.Generator().manual_seed(c.seed)
        splits = {name: TensorSplit(*make_adding_problem(n, c.length, generator=gen))
                  for name, n in (("train", c.num_train), ("val", c.num_val), ("test", c.num_test))}
        return splits, {"task": "regression", "extra": {"trivial_mse": TRIVIAL_MSE, "length": c.length}}
