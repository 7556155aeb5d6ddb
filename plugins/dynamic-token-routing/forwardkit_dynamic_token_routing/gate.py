"""RoutingGate: the per-token, data-dependent, differentiable 3-way gate of one routing-space node.

Card ("Mechanism", a reconstruction: the paper's gate equations were not available): gate logits
``G = W_g LN(x) + b`` with three outputs per token, T (Transformer block), I (identity) and D (down-move), and
weights ``w = max(0, tanh(G / T))`` (``relu_tanh``): exact zeros, so an edge of weight 0 need not be computed.
The weights are not normalised (T, I, D need not sum to 1). ``sigmoid`` and ``gumbel_sigmoid`` are the
alternatives the card names; they are never exactly 0, so at inference they are made hard, ``1(G > 0)``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from forwardkit_dynamic_token_routing.config import GateActivation, RoutingGateConfig


def gate_weights(logits: Tensor, *, activation: GateActivation = "relu_tanh", temperature: float = 1.0,
                 training: bool = False, hard_at_eval: bool = True, straight_through: bool = False) -> Tensor:
    """Gate weights ``w`` ``(..., 3)`` from logits ``G`` ``(..., 3)``.

    ``relu_tanh``: ``max(0, tanh(G / T))``, in ``[0, 1)``, exactly 0 for ``G <= 0``, differentiable where
    ``G > 0``. ``sigmoid``: ``sigmoid(G / T)``. ``gumbel_sigmoid``: in training ``sigmoid((G + g) / T)`` with
    ``g = log u - log(1 - u)`` logistic noise (the binary Gumbel trick), in eval plain sigmoid. In eval with
    ``hard_at_eval`` the sigmoid gates become ``1(G > 0)`` (relu_tanh keeps its weights: their zeros already are
    the hard decisions). ``straight_through`` (training only): forward ``1(w > 0)`` (sigmoid: ``1(G > 0)``),
    backward the gradient of ``w``.
    """
    z = logits / temperature
    if activation == "relu_tanh":
        w = torch.relu(torch.tanh(z))
        hard = (w > 0).to(w.dtype)
    elif activation in ("sigmoid", "gumbel_sigmoid"):
        if activation == "gumbel_sigmoid" and training:
            u = torch.rand_like(z).clamp_(1e-6, 1 - 1e-6)
            z = z + (torch.log(u) - torch.log1p(-u)) / temperature
        w = torch.sigmoid(z)
        hard = (z > 0).to(w.dtype)
    else:
        raise ValueError(f"unknown gate activation {activation!r}")
    if training:
        return hard + w - w.detach() if straight_through else w
    if hard_at_eval and activation != "relu_tanh":
        return hard
    return w


class RoutingGate(nn.Module):
    """One node's gate: ``(B, *spatial, C)`` tokens -> ``(B, *spatial, 3)`` weights ``(w_T, w_I, w_D)``.

    ``LN`` (no affine-free shortcut: its own weight and bias) then ``Linear(C, 3)`` with trunc-normal(0.02)
    weights and the configured initial biases; :func:`gate_weights` turns the logits into weights. Not a
    registered component (its output is not token-shaped); it lives inside every ``dynamic_routing_vit`` node.
    """

    def __init__(self, *, dim: int, config: RoutingGateConfig | None = None, norm_eps: float = 1e-6,
                 **overrides: Any) -> None:
        super().__init__()
        self.config = RoutingGateConfig.model_validate({**(config.model_dump() if config else {}), **overrides})
        self.norm = nn.LayerNorm(dim, eps=norm_eps)
        self.proj = nn.Linear(dim, 3)
        nn.init.trunc_normal_(self.proj.weight, std=0.02)
        with torch.no_grad():
            self.proj.bias.copy_(torch.tensor(self.config.init_bias))

    def logits(self, x: Tensor) -> Tensor:
        """``G = W_g LN(x) + b``: ``(..., C) -> (..., 3)``."""
        return self.proj(self.norm(x))

    def forward(self, x: Tensor) -> Tensor:
        cfg = self.config
        return gate_weights(self.logits(x), activation=cfg.activation, temperature=cfg.temperature,
                            training=self.training, hard_at_eval=cfg.hard_at_eval,
                            straight_through=cfg.straight_through)
