"""``node_classification``: masked cross-entropy and accuracy over the nodes of a graph batch."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from forwardkit.interfaces import Task
from forwardkit_forwardgnn.config import LinkPredictionConfig, NodeClassificationConfig


def _masked(output: Tensor, batch: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
    """Scores ``(B, N, C)`` and labels ``(B, N)`` restricted to ``batch["mask"]``: ``(K, C)``, ``(K,)``."""
    mask = batch["mask"].bool()
    return output[mask], batch["y"][mask].long()


class NodeClassification(Task):
    """Per-node class scores ``(B, N, C)`` against labels ``y`` ``(B, N)`` on the nodes where ``mask``
    ``(B, N)`` is true (the split's nodes in a transductive graph): CE loss, accuracy (sum, count) pairs
    counted per node, so evaluation averages over nodes exactly."""

    Config = NodeClassificationConfig
    primary_metric = "accuracy"
    mode = "max"

    def example(self, batch_size: int = 8, *, generator: torch.Generator | None = None) -> tuple[Tensor, dict]:
        n, c = 6, 4
        output = torch.randn(batch_size, n, c, generator=generator)
        y = torch.randint(0, c, (batch_size, n), generator=generator)
        mask = torch.rand(batch_size, n, generator=generator) < 0.6
        mask[:, 0] = True
        return output, {"y": y, "mask": mask}

    def loss(self, output: Tensor, batch: Mapping[str, Tensor]) -> Tensor:
        scores, y = _masked(output, batch)
        return F.cross_entropy(scores, y, label_smoothing=self.config.label_smoothing)

    def metrics(self, output: Any, batch: Mapping[str, Tensor]) -> dict[str, tuple[float, int]]:
        scores, y = _masked(output, batch)
        n = int(y.shape[0])
        return {"loss": (float(F.cross_entropy(scores, y, reduction="sum")), n),
                "accuracy": (float((scores.argmax(-1) == y).sum()), n)}


class LinkPrediction(Task):
    """Edge logits ``(B, K)`` against ``edge_label`` ``(B, K)`` (1 true edge, 0 negative): BCE loss;
    accuracy at logit 0, counted per edge."""

    Config = LinkPredictionConfig
    primary_metric = "accuracy"
    mode = "max"

    def example(self, batch_size: int = 8, *, generator: torch.Generator | None = None) -> tuple[Tensor, dict]:
        output = torch.randn(batch_size, 6, generator=generator)
        label = (torch.rand(batch_size, 6, generator=generator) < 0.5).float()
        return output, {"edge_label": label}

    def loss(self, output: Tensor, batch: Mapping[str, Tensor]) -> Tensor:
        return F.binary_cross_entropy_with_logits(output, batch["edge_label"].float())

    def metrics(self, output: Any, batch: Mapping[str, Tensor]) -> dict[str, tuple[float, int]]:
        label = batch["edge_label"].float()
        n = int(label.numel())
        bce = F.binary_cross_entropy_with_logits(output, label, reduction="sum")
        return {"loss": (float(bce), n), "accuracy": (float(((output > 0).float() == label).sum()), n)}
