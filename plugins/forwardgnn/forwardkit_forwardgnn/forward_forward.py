"""``forward_forward_gnn``: forward-forward training of GNN layers with negative graphs (paper sec. 3.1).

A positive graph carries every training node's true label, a negative graph a wrong one, injected by
appending a one-hot label to the node features (FF+LA, ``label_injection: append``, on a model with
``label_input: true``) or by an edge to the class's virtual node (FF+VN, ``label_injection:
virtual_node``). Each layer, on the detached output of the
layer below, pushes the goodness logit ``s = G(h) - theta`` (``G`` = sum or mean of ``h^2``) up on
positive training nodes and down on negative ones:
``loss_l = BCE(s_pos, 1) + mean_k BCE(s_neg_k, 0)``. Every step updates every layer (own Adam each);
the positive and the ``K`` negative graphs run as one disjoint union.

Inference (:meth:`ForwardForwardGNN.predict`): for each candidate class ``c`` every node without a
training label carries ``c`` (training nodes keep theirs), all blocks run, and the score of ``c`` is
``sum_l (G_eval(h_l) - theta)`` (``G_eval`` the mean of ``h^2`` by default, as in the code): ``C`` full passes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit.errors import ForwardkitError
from forwardkit.interfaces import RunContext
from forwardkit_forwardgnn.config import ForwardForwardConfig
from forwardkit_forwardgnn.graph import Graph, label_matrix
from forwardkit_forwardgnn.local import LocalRule
from forwardkit_forwardgnn.single_forward import SMALL_GRAPH, TRAINER


def goodness(h: Tensor, reduce: str) -> Tensor:
    """Goodness of node states ``(M, H)``: ``sum_j h_j^2`` or ``mean_j h_j^2`` -> ``(M,)`` (paper eq. 1)."""
    sq = h.pow(2)
    return sq.sum(-1) if reduce == "sum" else sq.mean(-1)


def sample_negatives(y: Tensor, num_classes: int, k: int, generator: torch.Generator) -> Tensor:
    """``k`` distinct wrong classes per node, drawn without replacement: ``y`` ``(n,)`` -> ``(n, k)``."""
    scores = torch.rand(y.shape[0], num_classes, generator=generator)
    scores[torch.arange(y.shape[0]), y] = -1.0  # never the true class
    return scores.topk(k, dim=-1).indices


def ff_logits(h: Tensor, theta: float, reduce: str = "sum") -> Tensor:
    """Goodness logits ``G(h) - theta``: ``(..., H) -> (...)`` (paper eq. 1)."""
    return goodness(h, reduce) - theta


def ff_loss(h_pos: Tensor, h_neg: Tensor, theta: float, reduce: str = "sum") -> Tensor:
    """FF loss of one layer: ``BCE(s(h_pos), 1) + mean_k BCE(s(h_neg_k), 0)``; ``h_pos`` ``(n, H)``,
    ``h_neg`` ``(K, n, H)``."""
    pos, neg = ff_logits(h_pos, theta, reduce), ff_logits(h_neg, theta, reduce)
    return (F.binary_cross_entropy_with_logits(pos, torch.ones_like(pos))
            + F.binary_cross_entropy_with_logits(neg, torch.zeros_like(neg)))


class ForwardForwardGNN(LocalRule):
    """FF+LA / FF+VN training of a ``local_gnn`` model; predicts the candidate label of highest goodness.

    ``label_injection: append`` needs a model with ``label_input: true`` (the label block is part of the
    first block's input width); ``virtual_node`` a plain one. The conformance kit runs the default (FF+VN).
    """

    Config = ForwardForwardConfig
    conformance_models: ClassVar[list[dict[str, Any]]] = [
        {"name": "local_gnn", "hidden": 8, "in_features": 6, "num_classes": 3}]
    conformance_experiment: ClassVar[dict[str, Any]] = {
        "data": SMALL_GRAPH, "model": {"name": "local_gnn", "hidden": 8}, "trainer": TRAINER}

    def __init__(self, config: ForwardForwardConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.generator = torch.Generator().manual_seed(self.config.seed)

    def check_model(self, model: Any) -> None:
        append = self.config.label_injection == "append"
        if model.config.top_down or model.config.label_input != append:
            raise ForwardkitError(
                f"forward_forward_gnn with label_injection {self.config.label_injection!r} needs a local_gnn with "
                f"label_input: {str(append).lower()} and top_down: false")

    def inputs(self, model: Any, g: Graph, labels: Tensor, label_mask: Tensor) -> tuple[Tensor, Tensor]:
        """Input features and edges of an FF graph whose nodes in ``label_mask`` carry ``labels`` ``(M,)``:
        label appending ``(M, F + C)`` (others uniform or zero) or virtual-node edges ``(M + B*C, F)``."""
        cfg = self.config
        if cfg.label_injection == "append":
            lab = label_matrix(g, model.num_classes, cfg.unlabeled_fill)
            idx = label_mask.nonzero().flatten()
            lab[idx] = F.one_hot(labels[idx], model.num_classes).to(lab.dtype)
            return model.with_labels(g, lab), g.edge_index
        return model.augment(g, bidirectional=cfg.edge_direction == "bidirection", labels=labels,
                             label_mask=label_mask)

    def candidate_scores(self, model: Any, g: Graph) -> Tensor:
        """``sum_l (G_eval(h_l) - theta)`` of every real node with each candidate class: ``(M, C)``."""
        cols = []
        everyone = torch.ones_like(g.train_mask)
        for c in range(model.num_classes):
            labels = torch.where(g.train_mask, g.y, torch.full_like(g.y, c))
            x, ei = self.inputs(model, g, labels, everyone)
            hs = model.bottom_up(x, ei)
            cols.append(sum(ff_logits(h[: g.num_nodes], self.config.theta, self.config.goodness_eval) for h in hs))
        return torch.stack(cols, dim=-1)

    def predict(self, model: nn.Module, batch: Mapping[str, Tensor]) -> Tensor:
        """FF prediction ``(B, N, C)``: the summed goodness logits of each candidate label (argmax = label)."""
        g = model.graph(batch)  # type: ignore[operator]
        return self.node_scores(self.candidate_scores(model, g), g)

    def negatives(self, y_train: Tensor, num_classes: int) -> Tensor:
        """Wrong labels ``(n_train, K)`` for the training nodes (``K = C - 1`` with ``num_negatives=-1``)."""
        k = num_classes - 1 if self.config.num_negatives < 0 else min(self.config.num_negatives, num_classes - 1)
        return sample_negatives(y_train.cpu(), num_classes, k, self.generator).to(y_train.device)

    def step(self, batch: Mapping[str, Tensor], ctx: RunContext) -> dict[str, float]:
        model: Any = ctx.model
        cfg = self.config
        g = model.graph(batch)
        train = g.train_mask.nonzero().flatten()
        negs = self.negatives(g.y[train], model.num_classes)
        graphs = [self.inputs(model, g, g.y, g.train_mask)]
        for k in range(negs.shape[1]):
            labels = g.y.clone()
            labels[train] = negs[:, k]
            graphs.append(self.inputs(model, g, labels, g.train_mask))
        size = graphs[0][0].shape[0]  # nodes of one copy (real + virtual)
        x = torch.cat([gx for gx, _ in graphs])
        ei = torch.cat([e + j * size for j, (_, e) in enumerate(graphs)], dim=1)
        self.zero_grad()
        metrics: dict[str, float] = {}
        total = 0.0
        for i in range(model.config.num_layers):
            h = model.block(i, x.detach(), ei)
            hv = h.view(len(graphs), size, -1)[:, train]  # (1 + K, n_train, H)
            loss = ff_loss(hv[0], hv[1:], cfg.theta, cfg.goodness_train)
            loss.backward()  # reaches block i only: its input is detached
            metrics[f"loss_l{i + 1}"] = float(loss.detach())
            total += metrics[f"loss_l{i + 1}"]
            x = h.detach()
        metrics["loss"] = total
        self.finish_step(metrics, ctx, list(range(model.config.num_layers)))
        return metrics

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "generator": self.generator.get_state()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        if "generator" in state:
            self.generator.set_state(state["generator"].clone())
