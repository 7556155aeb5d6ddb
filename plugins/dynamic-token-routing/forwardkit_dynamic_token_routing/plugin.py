"""Registration of the dynamic-token-routing components (import paths only, no torch).

``RoutingGate`` (forwardkit_dynamic_token_routing.gate) is not registered: its output is 3 gate weights per
token, not tokens, so it fits no kind; it lives inside every ``dynamic_routing_vit`` node.
"""

from __future__ import annotations

from forwardkit.hookspecs import hookimpl
from forwardkit.registry import Paper, Registrar

PAPER = Paper(title="DiT: Efficient Vision Transformers with Dynamic Token Routing", arxiv="2308.03409",
              url="https://arxiv.org/abs/2308.03409", year=2023)
_P = "forwardkit_dynamic_token_routing"


@hookimpl
def forwardkit_register(registry: Registrar) -> None:
    add = registry.add
    add("model", "dynamic_routing_vit", target=f"{_P}.model:DynamicRoutingViT",
        config=f"{_P}.config:DynamicRoutingViTConfig", paper=PAPER, functional=f"{_P}.routing:route",
        summary="routing-space ViT: per-token gates pick Transformer block / identity / down-move at every "
        "layer x scale node; soft dense in training, hard gather/scatter at inference; static_path = PVT-like")
    add("learning_rule", "budget_constraint", target=f"{_P}.budget:BudgetConstraintLoss",
        config=f"{_P}.config:BudgetConstraintLossConfig", paper=PAPER, functional=f"{_P}.budget:budget_loss",
        summary="backprop (or another rule) with lambda * (C / C_max - mu)^2 on the executed routing FLOPs added")
    add("dataset", "multi_scale_digits", target=f"{_P}.data:MultiScaleDigits",
        config=f"{_P}.config:MultiScaleDigitsConfig", paper=PAPER, functional=f"{_P}.data:render",
        summary="real MNIST digits resized to 10-36 px at random positions of a 40x40 canvas with low-contrast "
        "distractor fragments; items carry the digit size and box")
    add("analyzer", "routing_paths", target=f"{_P}.analyzer:RoutingAnalyzer",
        config=f"{_P}.config:RoutingAnalyzerConfig", paper=PAPER, functional=f"{_P}.analyzer:routing_maps",
        summary="per-node edge frequencies, realised FLOPs vs full grid and static path, size correlations")
    registry.add_reproduction(spec=f"{_P}.reproduction:SPEC")
