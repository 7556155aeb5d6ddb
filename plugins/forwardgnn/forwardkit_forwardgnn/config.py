"""Configs of the forwardgnn components (torch-free: discovery, ``forwardkit show`` and validation import it)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from forwardkit.config import ComponentConfig

EdgeDirection = Literal["bidirection", "unidirection"]
Fill = Literal["uniform", "zero"]


class LocalGNNStackConfig(ComponentConfig):
    """A plain stack of ``norm -> Conv -> ReLU`` GNN blocks (its forward: a linear head on the last block).

    Only structure lives here; how a forward learning rule predicts (virtual-node prototypes, goodness of
    candidate labels, top-down iterations) is the rule's ``predict``.
    """

    in_features: int = Field(16, ge=1, description="node feature width F (filled from the dataset)")
    num_classes: int = Field(3, ge=2, description="number of node classes C (filled from the dataset)")
    conv: Literal["gcn", "sage", "gat"] = Field("gcn", description="message passing of every block")
    hidden: int = Field(128, ge=1, description="width H of every block's output")
    num_layers: int = Field(2, ge=1, le=8, description="number of GNN blocks L")
    gat_heads: int = Field(4, ge=1, description="attention heads of 'gat' (hidden % gat_heads == 0)")
    head: bool = Field(True, description="a linear classifier (H -> C) on the last block: the model's own forward "
                       "(what backprop trains); the forward rules predict without it")
    label_input: bool = Field(False, description="the first block also takes a C-wide label block (input width "
                              "F + C): the architecture of forward-forward with label appending (FF+LA)")
    top_down: bool = Field(False, description="Top-To-Input architecture: block l takes concat(norm(s_{l-1}), "
                           "norm(s_{l+1})) (width H_{l-1} + H_{l+1}, the top state being C-wide)")

    @model_validator(mode="after")
    def _check(self) -> LocalGNNStackConfig:
        if self.conv == "gat" and self.hidden % self.gat_heads:
            raise ValueError(f"hidden {self.hidden} must be divisible by gat_heads {self.gat_heads}")
        if self.label_input and self.top_down:
            raise ValueError("label_input (FF+LA) and top_down (Top-To-Input) are different architectures")
        return self


class _LocalRuleConfig(ComponentConfig):
    """Per-layer optimizer settings shared by the forward rules (each layer has its own Adam)."""

    lr: float = Field(1e-3, gt=0.0, description="Adam learning rate of every layer")
    weight_decay: float = Field(5e-4, ge=0.0, description="Adam L2 weight decay of every layer")


class _VirtualNodeConfig(_LocalRuleConfig):
    """Settings of the rules that score nodes against per-class virtual nodes (SF and its top-down forms)."""

    temperature: float = Field(1.0, gt=0.0, description="logits are dot products with the virtual nodes / temperature")
    edge_direction: EdgeDirection = Field("bidirection", description="virtual-node edges: node->virtual only, "
                                          "or both ways")


class SingleForwardConfig(_VirtualNodeConfig):
    """SF: negative-free virtual-node cross-entropy, trained greedily layer by layer."""

    epochs_per_layer: int = Field(1000, ge=1, description="most full-graph steps spent on one layer")
    val_every: int = Field(2, ge=1, description="validate (ensemble of layers 1..l) every this many steps")
    patience: int = Field(100, description="steps without a better val accuracy before the next layer; <0: never")


class ForwardForwardConfig(_LocalRuleConfig):
    """FF: each layer separates positive from negative graphs by goodness (label appended or virtual nodes)."""

    label_injection: Literal["append", "virtual_node"] = Field(
        "virtual_node", description="'append': one-hot label features (FF+LA; the model needs label_input: true); "
        "'virtual_node': an edge to the class's virtual node (FF+VN)")
    theta: float = Field(2.0, gt=0.0, description="goodness threshold: logit = goodness - theta")
    num_negatives: int = Field(-1, ge=-1, description="negative graphs per step; -1: all C-1 wrong classes")
    goodness_train: Literal["sum", "mean"] = Field("sum", description="goodness in the training loss")
    goodness_eval: Literal["sum", "mean"] = Field("mean", description="goodness at prediction (the code's mean)")
    unlabeled_fill: Fill = Field("uniform", description="FF+LA: label features of nodes without a training label")
    edge_direction: EdgeDirection = Field("bidirection", description="FF+VN: virtual-node edges one or both ways")
    seed: int = Field(0, ge=0, description="seed of the rule's own negative-sampling generator")

    @model_validator(mode="after")
    def _check(self) -> ForwardForwardConfig:
        if self.num_negatives == 0:
            raise ValueError("num_negatives must be -1 (all wrong classes) or at least 1")
        return self


class TopDownConfig(_VirtualNodeConfig):
    """SF with top-down signals: every layer trains each step, seeing the previous step's upper states."""

    mode: Literal["to_loss", "to_input"] = Field(
        "to_loss", description="'to_loss': scored with mean(h_l, s_{l+1}..s_L); 'to_input': fed the state above "
        "(the model needs top_down: true)")
    grad_clip: float | None = Field(1.0, gt=0.0, description="Top-To-Loss: clip each layer's gradient norm")
    alternating_update: bool = Field(True, description="Top-To-Input: even layers update before odd ones")
    test_time_steps: int = Field(10, ge=1, description="Top-To-Input: state iterations at prediction")
    accumulate_from_step: int = Field(2, ge=0, description="Top-To-Input: first iteration whose softmaxes count")
    unlabeled_fill: Fill = Field("uniform", description="Top-To-Input: top state of nodes without a training label")

    @model_validator(mode="after")
    def _check(self) -> TopDownConfig:
        if self.mode == "to_input" and self.accumulate_from_step >= self.test_time_steps:
            raise ValueError("accumulate_from_step must be below test_time_steps")
        return self


class ForwardLinkPredConfig(_LocalRuleConfig):
    """Forward link prediction: every layer scores the split's positive and negative edges with its own BCE."""

    score: Literal["dot", "ff_goodness"] = Field(
        "dot", description="edge logit sum(z_u * z_v) ('dot', the paper's FL) or sum((z_u * z_v)^2) - theta")
    theta: float = Field(2.0, gt=0.0, description="'ff_goodness': the goodness threshold")


class LinkPredictionConfig(ComponentConfig):
    """Binary edge classification: BCE on edge logits against ``edge_label``; accuracy at logit 0."""


class NodeClassificationConfig(ComponentConfig):
    """Masked node classification: CE and accuracy over the nodes of the batch's ``mask``."""

    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0)


class SBMGraphConfig(ComponentConfig):
    """One offline graph for transductive node classification (every split holds the whole graph)."""

    graph: Literal["sbm", "karate"] = Field(
        "sbm", description="'sbm': stochastic block model; 'karate': Zachary's karate club (networkx)"
    )
    num_blocks: int = Field(5, ge=2, le=64, description="SBM: blocks = classes C")
    block_size: int = Field(200, ge=2, description="SBM: nodes per block")
    p_in: float = Field(0.05, ge=0.0, le=1.0, description="SBM: edge probability inside a block")
    p_out: float = Field(0.005, ge=0.0, le=1.0, description="SBM: edge probability between blocks")
    feat_dim: int = Field(32, ge=1, description="SBM: feature width F")
    feat_signal: float = Field(0.5, ge=0.0, description="SBM: norm of the class mean of the Gaussian features")
    val_fraction: float = Field(0.16, gt=0.0, lt=1.0)
    test_fraction: float = Field(0.20, gt=0.0, lt=1.0)
    task: Literal["node", "link"] = Field(
        "node", description="'node': node classification; 'link': link prediction on held-out edges (1:1 negatives)"
    )
    seed: int = Field(0, ge=0, description="graph, features and split")

    @model_validator(mode="after")
    def _check(self) -> SBMGraphConfig:
        if self.val_fraction + self.test_fraction >= 0.9:
            raise ValueError("val_fraction + test_fraction must leave at least 10% for training")
        return self
