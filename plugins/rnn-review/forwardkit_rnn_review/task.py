"""``sequence_tagging``: per-position classification (a label at every step, as in two-sided tagging)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from forwardkit.interfaces import Task
from forwardkit_rnn_review.config import SequenceTaggingConfig


def _flat(output: Tensor, batch: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
    """Logits ``(B, L, K)`` and labels ``(B, L)`` as ``(B*L, K)`` and ``(B*L,)``."""
    y = batch["y"].long()
    if output.shape[:-1] != y.shape:
        raise ValueError(f"sequence_tagging needs logits (B, L, K) for labels (B, L); got {tuple(output.shape)} "
                         f"for {tuple(y.shape)}")
    return output.reshape(-1, output.shape[-1]), y.reshape(-1)


class SequenceTagging(Task):
    """Logits ``(B, L, K)`` against labels ``y`` ``(B, L)``: the cross-entropy averaged over every position
    of every sequence; ``accuracy`` and ``loss`` are (sum, count) pairs counted per position."""

    Config = SequenceTaggingConfig
    config: SequenceTaggingConfig
    primary_metric = "accuracy"
    mode = "max"

    def example(self, batch_size: int = 8, *, generator: torch.Generator | None = None) -> tuple[Tensor, dict]:
        length, classes = 5, 3
        logits = torch.randn(batch_size, length, classes, generator=generator)
        return logits, {"y": torch.randint(0, classes, (batch_size, length), generator=generator)}

    def loss(self, output: Tensor, batch: Mapping[str, Tensor]) -> Tensor:
        logits, y = _flat(output, batch)
        return F.cross_entropy(logits, y, label_smoothing=self.config.label_smoothing)

    def metrics(self, output: Any, batch: Mapping[str, Tensor]) -> dict[str, tuple[float, int]]:
        logits, y = _flat(output, batch)
        n = int(y.numel())
        return {"loss": (float(F.cross_entropy(logits, y, reduction="sum")), n),
                "accuracy": (float((logits.argmax(-1) == y).sum()), n)}
