"""The routing engine: one forward pass through the L x S routing space (card, "Mechanism"; a reconstruction).

State before layer l: per scale s a node tensor ``X[s]`` ``(B, H_s, W_s, C_s)`` and an activity mask ``M[s]``
``(B, H_s, W_s)``; inactive tokens are exactly 0. ``X[0]`` is the stem output (all active), the other scales
start empty. Layer l visits the scales fine to coarse; at scale s the node input is

    U = X[s] + Down_{l,s-1}(w_D ⊙ U_{l,s-1}),   active(U) = M[s] or coarse_any(1(w_D > 0) of the finer node)

(a down-move feeds the coarser node of the same layer), the gate gives ``(w_T, w_I, w_D) = gate(U) ⊙ active``
(w_D = 0 at the coarsest scale), and

    X[s] <- w_T ⊙ Block_{l,s}(U) + w_I ⊙ U,       M[s] <- active and (w_T > 0 or w_I > 0).

A token with ``w_T = w_I = w_D = 0`` leaves the grid (early stopping): ``U`` at that token is added to its
scale's exit pool. After the last layer the head pools, per scale, the exits and the final active tokens.

Two executions compute the same numbers: ``dense`` (every node's block on every token of its grid, keys
masked, then multiplied by the gates; what training runs) and ``gather`` (the blocks and down-moves only on
the tokens whose edge weight is non-zero, gathered and scattered back; inference). Under hard gates they agree
to rounding (tested). A node with no active token in the whole batch is skipped in both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import torch
from torch import Tensor

from forwardkit_dynamic_token_routing.cost import ScaleCost, count, node_flops, straight_through
from forwardkit_dynamic_token_routing.nodes import coarse_any, coarse_max
from forwardkit_dynamic_token_routing.pooling import ScalePool

if TYPE_CHECKING:
    from forwardkit_dynamic_token_routing.model import DynamicRoutingViT

Mode = Literal["dense", "gather"]
Estimator = Literal["hard", "straight_through", "soft"]
#: ``override(layer, scale, weights, active) -> weights``: replaces a node's gate weights (tests, static paths)
Override = Callable[[int, int, Tensor, Tensor], Tensor]


@dataclass
class NodeTrace:
    """What one node did, per image and token: masks ``(B, H, W)``, the gate weights used ``(B, H, W, 3)``
    (with gradients in training), the coarse tokens its down-moves activated ``(B, H', W')`` (None at the
    coarsest scale), and whether its block or down edge ran at all in this batch."""

    layer: int
    scale: int
    active: Tensor
    weights: Tensor
    transform: Tensor
    identity: Tensor
    down: Tensor
    exits: Tensor
    keys: Tensor
    coarse: Tensor | None


@dataclass
class RoutingTrace:
    """The routing of one batch: every node's :class:`NodeTrace` and the cost constants of the model."""

    nodes: list[NodeTrace]
    scales: list[ScaleCost]
    num_layers: int
    max_flops: float
    fixed_flops: float
    attention_keys: str = "active"

    def grid_flops(self, estimator: Estimator = "hard") -> Tensor:
        """Grid FLOPs per image ``(B,)`` of the executed routing. ``hard``: the executed count;
        ``straight_through``: the same value with gradients through the gate weights (``1(w > 0)`` replaced
        by ``1(w > 0) + w - sg(w)``); ``soft``: the card's surrogate with ``w`` in place of ``1(w > 0)``."""
        total: Tensor | float = 0.0
        for node in self.nodes:
            sc = self.scales[node.scale]
            w_t, w_d = node.weights[..., 0], node.weights[..., 2]
            if estimator == "hard":
                n_q: Tensor = count(node.transform)
                coarse = count(node.coarse) if node.coarse is not None else None
            else:
                t = straight_through(node.transform, w_t) if estimator == "straight_through" else w_t
                n_q = t.flatten(1).sum(1)
                coarse = None
                if node.coarse is not None:
                    d = straight_through(node.down, w_d) if estimator == "straight_through" else w_d
                    coarse = coarse_max(d).flatten(1).sum(1)
            runs = (count(node.transform) > 0).to(torch.float32)  # the block runs for this image
            n_k = count(node.active) * runs if self.attention_keys == "active" else n_q
            total = total + node_flops(sc, n_active=count(node.active), n_keys=n_k, n_q=n_q,
                                       n_coarse=coarse if coarse is not None else 0.0, runs_mixer=runs)
        if isinstance(total, float):
            return torch.zeros(self.batch_size())
        return total

    def flops(self) -> Tensor:
        """Total FLOPs per image ``(B,)``: the executed grid plus stem and head."""
        return self.grid_flops("hard") + self.fixed_flops

    def batch_size(self) -> int:
        return int(self.nodes[0].active.shape[0]) if self.nodes else 0


@dataclass
class RoutingOutput:
    """Logits ``(B, num_classes)`` and the routing trace."""

    logits: Tensor
    trace: RoutingTrace


def _weights(model: DynamicRoutingViT, layer: int, scale: int, u: Tensor, active: Tensor, mode: Mode,
             override: Override | None) -> Tensor:
    """The node's gate weights ``(B, H, W, 3)``, zero outside ``active`` (and w_D at the coarsest scale)."""
    mask = active[..., None].to(u.dtype)
    table = model.static_weights
    if table is not None:
        w = u.new_tensor(table[layer][scale]).expand(*active.shape, 3) * mask
    elif mode == "gather":
        w = u.new_zeros(*active.shape, 3)
        w[active] = model.node(layer, scale).gate(u[active])
    else:
        w = model.node(layer, scale).gate(u) * mask
    if override is not None:
        w = override(layer, scale, w, active) * mask
    if scale == model.num_scales - 1:
        w = w * w.new_tensor([1.0, 1.0, 0.0])
    return w


def route(model: DynamicRoutingViT, x: Tensor, *, mode: Mode = "dense",
          override: Override | None = None) -> RoutingOutput:
    """Images ``(B, H, W, C_in)`` -> :class:`RoutingOutput` through ``model``'s routing space (see module doc)."""
    u0 = model.embed(x)
    b = u0.shape[0]
    sides = model.sides
    widths = model.widths
    xs = [u0] + [u0.new_zeros(b, sides[s], sides[s], widths[s]) for s in range(1, model.num_scales)]
    ms = [torch.ones(b, sides[0], sides[0], dtype=torch.bool, device=x.device)] + [
        torch.zeros(b, sides[s], sides[s], dtype=torch.bool, device=x.device) for s in range(1, model.num_scales)]
    pools = [ScalePool(model.config.exit_pooling, u0, b, c) for c in widths]
    traces: list[NodeTrace] = []
    keys_active = model.config.attention_keys == "active"
    for layer in range(model.num_layers):
        inflow: tuple[Tensor, Tensor] | None = None
        for s in range(model.num_scales):
            u, active = xs[s], ms[s]
            if inflow is not None:
                u, active = u + inflow[0], active | inflow[1]
            inflow = None
            if not bool(active.any()):
                continue
            node = model.node(layer, s)
            w = _weights(model, layer, s, u, active, mode, override)
            w_t, w_i, w_d = w[..., 0:1], w[..., 1:2], w[..., 2:3]
            dt, di, dd = (w[..., 0] > 0) & active, (w[..., 1] > 0) & active, (w[..., 2] > 0) & active
            keys = active if keys_active else dt
            new = w_i * u
            if bool(dt.any()):
                if mode == "dense":
                    new = w_t * node.block.dense(u, keys, active) + new
                else:
                    ran = keys & dt.flatten(1).any(1)[:, None, None]  # no keys for an image without queries
                    new = new.index_put(torch.nonzero(dt, as_tuple=True),
                                        w_t[dt] * node.block.sparse(u, ran, dt, active), accumulate=True)
            exits = active & ~(dt | di | dd)
            if bool(exits.any()):
                pools[s].add(u, exits)
            coarse = None
            if node.down is not None:
                coarse = coarse_any(dd)
                if bool(coarse.any()):
                    z = u * w_d
                    if mode == "dense":
                        moved = node.down.dense(z) * coarse[..., None].to(z.dtype)
                    else:
                        moved = z.new_zeros(*coarse.shape, widths[s + 1])
                        moved[coarse] = node.down.sparse(z, coarse)
                    inflow = (moved, coarse)
            xs[s], ms[s] = new, active & (dt | di)
            traces.append(NodeTrace(layer, s, active, w, dt, di, dd, exits, keys, coarse))
    for s in range(model.num_scales):
        pools[s].add(xs[s], ms[s])
    logits = model.head([pool.result() for pool in pools])
    trace = RoutingTrace(traces, model.scale_costs, model.num_layers, model.max_grid_flops, model.fixed_flops,
                         model.config.attention_keys)
    return RoutingOutput(logits, trace)
