"""``forward_link_pred_gnn``: forward learning for link prediction (the paper's "FL" link-prediction rule).

Each layer, on the detached output of the layer below (message passing over the training edges), scores
the batch's labelled pairs with ``out = z_u * z_v`` (``(K, H)``): logit ``sum(out)`` (``dot``, the FL
score) or ``sum(out^2) - theta`` (FF goodness), and minimises its own BCE against ``edge_label`` (1 for a
training edge, 0 for a sampled non-edge). Inference (:meth:`ForwardLinkPredGNN.predict`) averages the
per-layer edge probabilities and returns the logit of that mean.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit.errors import ForwardkitError
from forwardkit.interfaces import RunContext
from forwardkit_forwardgnn.config import ForwardLinkPredConfig
from forwardkit_forwardgnn.graph import Graph, link_logits
from forwardkit_forwardgnn.local import LocalRule
from forwardkit_forwardgnn.model import LocalGNNStack
from forwardkit_forwardgnn.single_forward import SMALL_GRAPH, TRAINER


def link_loss(z: Tensor, pairs: Tensor, label: Tensor, score: str = "dot", theta: float = 2.0) -> Tensor:
    """One layer's BCE of :func:`link_logits` of ``z`` ``(M, H)`` on ``pairs`` ``(2, K)`` against ``label`` ``(K,)``."""
    return F.binary_cross_entropy_with_logits(link_logits(z, pairs, score, theta), label)


class LinkExampleGNN(LocalGNNStack):
    """A ``local_gnn`` whose example batches are link batches (for the conformance kit only)."""

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """The plain example graphs plus 6 labelled node pairs each (3 edges, 3 non-edges)."""
        out = super().example_batch(batch_size, generator=generator)
        out["edge_label_index"] = torch.randint(0, 10, (batch_size, 2, 6), generator=generator)
        out["edge_label"] = (torch.arange(6) < 3).float().expand(batch_size, 6).clone()
        return out


def link_test_model() -> LinkExampleGNN:
    """The kit's model for the link rule: 8-wide blocks on 6 features."""
    return LinkExampleGNN(hidden=8, in_features=6, num_classes=3)


class ForwardLinkPredGNN(LocalRule):
    """Layer-local link prediction on a plain ``local_gnn`` model; predicts the mean per-layer edge probability."""

    Config = ForwardLinkPredConfig
    conformance_configs: ClassVar[list[dict[str, Any]]] = [{"score": "dot"}, {"score": "ff_goodness"}]
    conformance_models: ClassVar[list[Any]] = [link_test_model]
    conformance_experiment: ClassVar[dict[str, Any]] = {
        "data": {**SMALL_GRAPH, "task": "link"}, "model": {"name": "local_gnn", "hidden": 8}, "trainer": TRAINER}

    def check_model(self, model: Any) -> None:
        if model.config.label_input or model.config.top_down:
            raise ForwardkitError("forward_link_pred_gnn trains plain blocks: set model.label_input and "
                                  "model.top_down to false")

    def step(self, batch: Mapping[str, Tensor], ctx: RunContext) -> dict[str, float]:
        model: Any = ctx.model
        cfg = self.config
        g = model.graph(batch)
        assert g.edge_label_index is not None and g.edge_label is not None, "a link batch needs edge labels"
        self.zero_grad()
        x = g.x
        metrics: dict[str, float] = {}
        for i in range(model.num_layers):
            z = model.block(i, x.detach(), g.edge_index)
            loss = link_loss(z, g.edge_label_index, g.edge_label, cfg.score, cfg.theta)
            loss.backward()
            metrics[f"loss_l{i + 1}"] = float(loss.detach())
            x = z.detach()
        metrics["loss"] = sum(metrics.values())
        self.finish_step(metrics, ctx, list(range(model.num_layers)))
        return metrics

    def edge_scores(self, model: Any, g: Graph) -> Tensor:
        """Logit of ``mean_l sigmoid(score_l(u, v))`` for the pairs ``g.edge_label_index``: ``(K,)``."""
        assert g.edge_label_index is not None, "a link batch needs 'edge_label_index'"
        hs = model.bottom_up(g.x, g.edge_index)
        probs = torch.stack([torch.sigmoid(link_logits(h, g.edge_label_index, self.config.score, self.config.theta))
                             for h in hs]).mean(0).clamp(1e-6, 1 - 1e-6)
        return probs.log() - (1 - probs).log()

    def predict(self, model: nn.Module, batch: Mapping[str, Tensor]) -> Tensor:
        """Edge logits ``(B, K)`` of the batch's labelled pairs (see :meth:`edge_scores`)."""
        g = model.graph(batch)  # type: ignore[operator]
        return self.edge_scores(model, g).view(g.num_graphs, -1)
