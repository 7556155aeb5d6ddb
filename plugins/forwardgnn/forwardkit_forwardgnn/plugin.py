"""Registration of the forwardgnn components (no torch import here: only import paths)."""

from __future__ import annotations

from forwardkit.hookspecs import hookimpl
from forwardkit.registry import Paper, Registrar

PAPER = Paper(title="Forward Learning of Graph Neural Networks", arxiv="2403.11004",
              url="https://arxiv.org/abs/2403.11004", year=2024)
_PKG = "forwardkit_forwardgnn"
_CFG = f"{_PKG}.config"


@hookimpl
def forwardkit_register(registry: Registrar) -> None:
    add = registry.add
    add("learning_rule", "single_forward_gnn", target=f"{_PKG}.single_forward:SingleForwardGNN",
        config=f"{_CFG}:SingleForwardConfig", paper=PAPER,
        summary="ForwardGNN SF: negative-free virtual-node cross-entropy per GNN layer, greedy layer by layer",
        functional=f"{_PKG}.single_forward:single_forward_loss")
    add("learning_rule", "forward_forward_gnn", target=f"{_PKG}.forward_forward:ForwardForwardGNN",
        config=f"{_CFG}:ForwardForwardConfig", paper=PAPER,
        summary="ForwardGNN FF: per-layer goodness of positive vs negative graphs (label appending or virtual nodes)",
        functional=f"{_PKG}.forward_forward:ff_loss")
    add("learning_rule", "top_down_single_forward_gnn", target=f"{_PKG}.top_down:TopDownSingleForwardGNN",
        config=f"{_CFG}:TopDownConfig", paper=PAPER,
        summary="ForwardGNN SF with top-down signals (Top-To-Loss / Top-To-Input), all layers every step",
        functional=f"{_PKG}.top_down:top_to_loss_embeddings")
    add("learning_rule", "forward_link_pred_gnn", target=f"{_PKG}.linkpred:ForwardLinkPredGNN",
        config=f"{_CFG}:ForwardLinkPredConfig", paper=PAPER,
        summary="ForwardGNN link prediction: per-layer BCE on dot (or goodness) scores of labelled node pairs",
        functional=f"{_PKG}.linkpred:link_loss")
    add("task", "link_prediction", target=f"{_PKG}.task:LinkPrediction", config=f"{_CFG}:LinkPredictionConfig",
        paper=PAPER, summary="binary edge classification on graph batches: BCE on edge logits, accuracy per edge")
    add("model", "local_gnn", target=f"{_PKG}.model:LocalGNNStack", config=f"{_CFG}:LocalGNNStackConfig",
        paper=PAPER, summary="plain stack of norm -> GCN/SAGE/GAT -> ReLU blocks (+ linear head) that the forward "
        "rules train layer by layer",
        functional=f"{_PKG}.graph:augment_with_virtual_nodes")
    add("dataset", "sbm_graph", target=f"{_PKG}.data:SBMGraph", config=f"{_CFG}:SBMGraphConfig", paper=PAPER,
        summary="offline transductive graph: stochastic block model with Gaussian features, or karate club")
    add("task", "node_classification", target=f"{_PKG}.task:NodeClassification",
        config=f"{_CFG}:NodeClassificationConfig", paper=PAPER,
        summary="masked node classification on graph batches: CE, accuracy counted per node")
    registry.add_reproduction(spec=f"{_PKG}.reproduction:SPEC")
