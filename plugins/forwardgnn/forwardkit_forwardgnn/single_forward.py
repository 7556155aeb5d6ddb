"""``single_forward_gnn``: the negative-free single-forward rule (SF), trained greedily layer by layer.

Per layer ``l`` (paper sec. 3.2, "single forward"): ``h = ReLU(Conv_l(norm(x_{l-1}.detach()), aug_edges))``
on the graph augmented with one virtual node per class; the logits of a training node are its dot
products with the ``C`` virtual-node states divided by ``T``; the loss is their cross-entropy, and only
block ``l``'s own Adam steps. Layer ``l`` trains until ``epochs_per_layer`` steps or ``patience`` steps
without a better validation accuracy (of the ensemble of layers ``1..l``); its best weights are restored
and the next layer starts from its fixed output. After the last layer the rule stops the run.

Inference (:meth:`SingleForwardGNN.predict`, what evaluation scores) with the layers trained so far:
``argmax_c sum_{l<=k} softmax(h_l[v] . h_l[vn_c] / T)`` on the graph with the training nodes' virtual
edges (validation and test nodes have none); the scores returned are ``log(mean_l softmax(...))``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit.errors import ForwardkitError
from forwardkit.interfaces import RunContext
from forwardkit_forwardgnn.config import SingleForwardConfig
from forwardkit_forwardgnn.graph import Graph, prototype_logits
from forwardkit_forwardgnn.local import LocalRule

SMALL_GRAPH: dict[str, Any] = {"name": "sbm_graph", "num_blocks": 3, "block_size": 12, "feat_dim": 6,
                               "p_in": 0.3, "p_out": 0.05}
TRAINER: dict[str, Any] = {"epochs": 10, "batch_size": 1}


def sf_logits(h: Tensor, graph: Graph, num_classes: int, temperature: float) -> Tensor:
    """SF logits of the training nodes: ``h_v . h_vn[c] / T`` -> ``(N_train, C)``; ``h`` ``(M + B*C, H)``."""
    return prototype_logits(h, graph, num_classes, temperature)[graph.train_mask]


def ensemble_scores(embeddings: list[Tensor], graph: Graph, num_classes: int, temperature: float) -> Tensor:
    """``log(mean_l softmax(h_l[v] . h_l[vn] / T))`` over layer states ``h_l`` ``(M + B*C, H)`` -> ``(M, C)``."""
    probs = [F.softmax(prototype_logits(h, graph, num_classes, temperature), dim=-1) for h in embeddings]
    return torch.stack(probs).mean(0).clamp_min(1e-12).log()


def single_forward_loss(h: Tensor, graph: Graph, num_classes: int, temperature: float = 1.0) -> Tensor:
    """SF loss of one layer: cross-entropy of :func:`sf_logits` against the training labels (scalar)."""
    return F.cross_entropy(sf_logits(h, graph, num_classes, temperature), graph.y[graph.train_mask])


class SingleForwardGNN(LocalRule):
    """Greedy layer-by-layer SF training of a ``local_gnn`` model; predicts with the virtual-node prototypes."""

    Config = SingleForwardConfig
    conformance_configs: ClassVar[list[dict[str, Any]]] = [
        {"epochs_per_layer": 4, "val_every": 1, "patience": 2},
        {"epochs_per_layer": 4, "val_every": 1, "patience": 2, "edge_direction": "unidirection", "temperature": 0.5}]
    conformance_models: ClassVar[list[dict[str, Any]]] = [
        {"name": "local_gnn", "hidden": 8, "in_features": 6, "num_classes": 3}]
    conformance_experiment: ClassVar[dict[str, Any]] = {
        "data": SMALL_GRAPH, "model": {"name": "local_gnn", "hidden": 8}, "trainer": TRAINER}

    def __init__(self, config: SingleForwardConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.layer = 0
        self.epoch_in_layer = 0
        self.best = -1.0
        self.since_best = 0
        self.best_weights: dict[str, Tensor] | None = None

    def check_model(self, model: Any) -> None:
        if model.config.label_input or model.config.top_down:
            raise ForwardkitError("single_forward_gnn trains plain blocks: set model.label_input and "
                                  "model.top_down to false")

    @property
    def bidirectional(self) -> bool:
        return self.config.edge_direction == "bidirection"

    def trained_layers(self, model: Any) -> int:
        """Blocks the prediction uses: the finished ones and the one in training (all after training)."""
        return min(self.layer + 1, model.num_layers)

    def scores(self, model: Any, g: Graph, upto: int | None = None) -> Tensor:
        """SF class scores ``(M, C)`` of every real node with the first ``upto`` blocks (default: trained)."""
        x, ei = model.augment(g, bidirectional=self.bidirectional)
        k = self.trained_layers(model) if upto is None else upto
        return ensemble_scores(model.bottom_up(x, ei, k), g, model.num_classes, self.config.temperature)

    def predict(self, model: nn.Module, batch: Mapping[str, Tensor]) -> Tensor:
        """SF prediction ``(B, N, C)``: log of the mean per-layer softmax over the virtual nodes."""
        g = model.graph(batch)  # type: ignore[operator]
        return self.node_scores(self.scores(model, g), g)

    def step(self, batch: Mapping[str, Tensor], ctx: RunContext) -> dict[str, float]:
        model: Any = ctx.model
        n = model.config.num_layers
        if self.layer >= n:  # every layer is trained
            ctx.request_stop("single_forward_gnn: all layers trained")
            return {"loss": 0.0, "layer": float(n)}
        g = model.graph(batch)
        x, ei = model.augment(g, bidirectional=self.bidirectional)
        with torch.no_grad():  # the fixed outputs of the finished layers
            for i in range(self.layer):
                x = model.block(i, x, ei)
        self.zero_grad()
        h = model.block(self.layer, x.detach(), ei)
        loss = single_forward_loss(h, g, model.num_classes, self.config.temperature)
        loss.backward()
        metrics = {"loss": float(loss.detach()), "layer": float(self.layer + 1)}
        if not self.finish_step(metrics, ctx, [self.layer]):
            return metrics
        self.epoch_in_layer += 1
        cfg = self.config
        if g.val_mask is not None and g.val_mask.any() and self.epoch_in_layer % cfg.val_every == 0:
            acc = self._val_accuracy(model, g)
            metrics["val_accuracy"] = acc
            if acc > self.best:
                self.best, self.since_best = acc, 0
                self.best_weights = {k: v.detach().clone() for k, v in model.layers[self.layer].state_dict().items()}
            else:
                self.since_best += cfg.val_every
        out_of_patience = cfg.patience >= 0 and self.since_best >= cfg.patience
        if self.epoch_in_layer >= cfg.epochs_per_layer or out_of_patience:
            self._next_layer(model)
        return metrics

    @torch.no_grad()
    def _val_accuracy(self, model: Any, g: Graph) -> float:
        """Validation accuracy of the ensemble of layers ``1..l`` (the layer in training included)."""
        scores = self.scores(model, g, upto=self.layer + 1)
        assert g.val_mask is not None
        return float((scores[g.val_mask].argmax(-1) == g.y[g.val_mask]).float().mean())

    def _next_layer(self, model: Any) -> None:
        """Restore the finished layer's best-validation weights and move on to the next layer."""
        if self.best_weights is not None:
            model.layers[self.layer].load_state_dict(self.best_weights)
        self.layer += 1
        self.epoch_in_layer, self.best, self.since_best, self.best_weights = 0, -1.0, 0, None

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "layer": self.layer, "epoch_in_layer": self.epoch_in_layer,
                "best": self.best, "since_best": self.since_best, "best_weights": self.best_weights}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.layer, self.epoch_in_layer = int(state["layer"]), int(state["epoch_in_layer"])
        self.best, self.since_best = float(state["best"]), int(state["since_best"])
        best = state.get("best_weights")
        self.best_weights = None if best is None else {k: v.clone() for k, v in best.items()}
