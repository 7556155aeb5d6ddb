"""``two_sided_tagging``: a tagging task that needs the future as much as the past (survey sec. 4.2).

Random bits ``x(t) ~ Bernoulli(1/2)``; the label at t is ``y(t) = x(t - k) XOR x(t + k)``, a bit outside
the sequence counting as 0 (so the first k labels are ``x(t + k)`` and the last k are ``x(t - k)``). A
left-to-right tagger knows ``x(t - k)`` but not ``x(t + k)``: it is at chance wherever the future bit
matters (every position but the last k), about ``(T - k) / (2T) + k / T`` accuracy; a bidirectional one can
be exact.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from forwardkit.data import InMemoryDataset, TensorSplit
from forwardkit_rnn_review.config import TwoSidedTaggingConfig


def shifted(bits: Tensor, lag: int) -> Tensor:
    """``out[:, t] = bits[:, t - lag]`` (0 outside), for ``bits`` ``(n, T)`` and any sign of ``lag``."""
    out = torch.zeros_like(bits)
    if lag > 0:
        out[:, lag:] = bits[:, :-lag]
    elif lag < 0:
        out[:, :lag] = bits[:, -lag:]
    else:
        out = bits.clone()
    return out


def make_two_sided_tagging(n: int, length: int, lag: int, *,
                           generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """``n`` sequences: bits ``(n, length, 1)`` float32 and labels ``y(t) = x(t-lag) XOR x(t+lag)``
    ``(n, length)`` int64."""
    bits = torch.randint(0, 2, (n, length), generator=generator)
    labels = shifted(bits, lag) ^ shifted(bits, -lag)
    return bits.float().unsqueeze(-1), labels.long()


def causal_accuracy_bound(length: int, lag: int) -> float:
    """The best expected accuracy of a tagger that sees only ``x(<= t)``: chance (1/2) where the future bit
    ``x(t + lag)`` is inside the sequence, exact where it is not (the last ``lag`` positions)."""
    return ((length - lag) * 0.5 + lag) / length


class TwoSidedTaggingDataset(InMemoryDataset):
    """Two-sided tagging: ``x`` ``(T, 1)`` bits, ``y`` ``(T,)`` labels (task ``sequence_tagging``, 2 classes);
    train, val and test drawn in that order from one generator seeded by ``seed``."""

    Config = TwoSidedTaggingConfig
    config: TwoSidedTaggingConfig

    def build(self) -> tuple[dict[str, TensorSplit], dict[str, Any]]:
        c = self.config
        gen = torch.Generator().manual_seed(c.seed)
        splits = {name: TensorSplit(*make_two_sided_tagging(n, c.length, c.lag, generator=gen))
                  for name, n in (("train", c.num_train), ("val", c.num_val), ("test", c.num_test))}
        return splits, {"task": "sequence_tagging", "num_classes": 2, "class_names": ["0", "1"],
                        "extra": {"causal_accuracy_bound": causal_accuracy_bound(c.length, c.lag)}}
