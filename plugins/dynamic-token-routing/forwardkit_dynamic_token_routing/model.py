"""DynamicRoutingViT: the routing-space ViT of DiT (card, "Mechanism" and "Components"; a reconstruction).

Images ``(B, H, W, C_in)`` -> stem (``stem_stride`` x ``stem_stride`` patch embedding + LN + learned position
embedding) -> scale-0 tokens ``(B, H/r, W/r, C_0)`` -> the L x S routing space of
:mod:`forwardkit_dynamic_token_routing.routing` (per node a :class:`RoutingGate`, a :class:`NodeBlock` and,
below the coarsest scale, a :class:`DownEdge`) -> per scale the mean of the exited and final tokens ->
``sum_s Linear_s(LN_s(pool_s))`` -> LN -> linear classifier ``(B, num_classes)``.

Training runs the dense masked form with soft gates; evaluation the gather/scatter form with hard gates (or the
dense form, ``inference='dense'``). With ``static_path`` the gates are fixed 0/1 and the forward pass is the
plain static network (:meth:`DynamicRoutingViT.static_forward`): the PVT-like baseline, same parameters.
"""

from __future__ import annotations

from typing import Any, ClassVar, cast

import torch
from torch import Tensor, nn

from forwardkit.interfaces import Model
from forwardkit.nn import PatchEmbed, hidden_width, init_weights
from forwardkit_dynamic_token_routing.config import DynamicRoutingViTConfig
from forwardkit_dynamic_token_routing.cost import ScaleCost, grid_max_flops, path_flops
from forwardkit_dynamic_token_routing.gate import RoutingGate
from forwardkit_dynamic_token_routing.nodes import DownEdge, NodeBlock
from forwardkit_dynamic_token_routing.paths import path_weights, reached, resolve_path
from forwardkit_dynamic_token_routing.pooling import ScalePool
from forwardkit_dynamic_token_routing.routing import Mode, Override, RoutingOutput, RoutingTrace, route

#: a small instance for the conformance kit of the rule and analyzer (16 px, 2 scales, 2 layers)
TINY: dict[str, Any] = {"name": "dynamic_routing_vit", "img_size": 16, "stem_stride": 2, "num_scales": 2,
                        "num_layers": 2, "widths": [8, 16], "heads": [1, 2], "num_classes": 4}


class RoutingNode(nn.Module):
    """Node (l, s): its gate, its Transformer block and (below the coarsest scale) its down edge."""

    def __init__(self, *, gate: RoutingGate, block: NodeBlock, down: DownEdge | None) -> None:
        super().__init__()
        self.gate = gate
        self.block = block
        self.down = down


class RoutingHead(nn.Module):
    """``sum_s Linear(C_s, C_h)(LN(pool_s))`` -> LN -> ``Linear(C_h, classes)``; ``C_h`` = the coarsest width."""

    def __init__(self, *, widths: list[int], num_classes: int, norm_eps: float) -> None:
        super().__init__()
        hid = widths[-1]
        self.norms = nn.ModuleList(nn.LayerNorm(c, eps=norm_eps) for c in widths)
        self.projs = nn.ModuleList(nn.Linear(c, hid) for c in widths)
        self.norm = nn.LayerNorm(hid, eps=norm_eps)
        self.fc = nn.Linear(hid, num_classes)

    def forward(self, pooled: list[Tensor]) -> Tensor:
        """Per scale ``(B, C_s)`` -> logits ``(B, num_classes)``."""
        z = sum(proj(norm(p)) for proj, norm, p in zip(self.projs, self.norms, pooled, strict=True))
        assert isinstance(z, Tensor)
        return self.fc(self.norm(z))


class DynamicRoutingViT(Model):
    """The routing-space ViT (see the module docstring and :mod:`~forwardkit_dynamic_token_routing.routing`).

    ``forward(x)`` returns logits and leaves the batch's :class:`RoutingTrace` in ``last_routing`` (None for a
    static path), which the ``budget_constraint`` learning rule reads; :meth:`forward_routing` returns both and
    takes a mode and a gate override.
    """

    Config = DynamicRoutingViTConfig
    config: DynamicRoutingViTConfig
    expected_failures: ClassVar[dict[str, str]] = {
        "check_export": "inference gathers the tokens whose edge weight is non-zero: per-node token counts depend "
        "on the input (data-dependent shapes), and empty nodes are skipped by a data-dependent branch",
    }
    conformance_configs: ClassVar[tuple[dict[str, Any], ...]] = (
        {**{k: v for k, v in TINY.items() if k != "name"}, "num_scales": 3, "num_layers": 3, "widths": [8, 16, 16],
         "heads": [1, 2, 2]},
        {**{k: v for k, v in TINY.items() if k != "name"}, "attention_keys": "transformed", "inference": "dense",
         "gate": {"activation": "gumbel_sigmoid", "straight_through": True}},
    )

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        cfg = self.config
        self.num_scales, self.num_layers = cfg.num_scales, cfg.num_layers
        self.widths, self.sides = cfg.scale_widths(), cfg.grid_sides()
        c0, side0 = self.widths[0], self.sides[0]
        self.stem = PatchEmbed(rank=2, in_channels=cfg.in_channels, dim=c0, patch_size=cfg.stem_stride,
                               norm="layernorm", norm_eps=cfg.norm_eps)
        self.pos_embed = nn.Parameter(torch.zeros(1, side0, side0, c0))
        self.nodes = nn.ModuleList(
            nn.ModuleList(self._node(s) for s in range(self.num_scales)) for _ in range(self.num_layers))
        self.head = RoutingHead(widths=self.widths, num_classes=cfg.num_classes, norm_eps=cfg.norm_eps)
        self.apply(init_weights)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        for node in self.all_nodes():
            with torch.no_grad():
                node.gate.proj.bias.copy_(torch.tensor(cfg.gate.init_bias))
        self.static_path = resolve_path(cfg.static_path, self.num_layers, self.num_scales)
        self.static_weights = path_weights(self.static_path) if self.static_path is not None else None
        self.scale_costs = self._scale_costs()
        self.max_grid_flops = grid_max_flops(self.scale_costs, self.num_layers)
        self.fixed_flops = self._fixed_flops()
        #: the routing of the last forward pass (None for a static path)
        self.last_routing: RoutingTrace | None = None

    # ---- construction -------------------------------------------------------------------------------
    def _node(self, s: int) -> RoutingNode:
        cfg = self.config
        c, side = self.widths[s], self.sides[s]
        mixer = None
        if cfg.token_mixer is not None:
            mixer = cfg.token_mixer.build_for_input((side, side), dim=c)
        block = NodeBlock(dim=c, heads=cfg.scale_heads()[s], mlp_ratio=cfg.mlp_ratio, norm_eps=cfg.norm_eps,
                          mixer=mixer)
        down = DownEdge(dim=c, out_dim=self.widths[s + 1], norm_eps=cfg.norm_eps) if s + 1 < self.num_scales else None
        return RoutingNode(gate=RoutingGate(dim=c, config=cfg.gate, norm_eps=cfg.norm_eps), block=block, down=down)

    def _scale_costs(self) -> list[ScaleCost]:
        out = []
        for s, (c, side) in enumerate(zip(self.widths, self.sides, strict=True)):
            last = s + 1 == self.num_scales
            mixer = self.node(0, s).block.mixer
            out.append(ScaleCost(
                dim=c, hidden=hidden_width(c, mlp_ratio=self.config.mlp_ratio), tokens=side * side,
                next_dim=None if last else self.widths[s + 1],
                next_tokens=None if last else self.sides[s + 1] ** 2,
                mixer_flops=None if mixer is None else _dense_flops(mixer, (1, side, side, c))))
        return out

    def _fixed_flops(self) -> float:
        cfg = self.config
        stem = 2 * cfg.stem_stride ** 2 * cfg.in_channels * self.widths[0] * self.sides[0] ** 2
        hid = self.widths[-1]
        return float(stem + sum(2 * c * hid for c in self.widths) + 2 * hid * cfg.num_classes)

    @classmethod
    def fields_from_metadata(cls, metadata: Any) -> dict[str, Any]:
        """Also ``img_size`` from a square ``(H, W, C)`` input shape."""
        out = super().fields_from_metadata(metadata)
        shape = tuple(metadata.input_shape)
        if len(shape) == 3:
            if shape[0] != shape[1]:
                raise ValueError(f"dynamic_routing_vit needs square images, got input shape {shape}")
            out["img_size"] = shape[0]
        return out

    # ---- pieces -------------------------------------------------------------------------------------
    def all_nodes(self) -> list[RoutingNode]:
        return [self.node(layer, s) for layer in range(self.num_layers) for s in range(self.num_scales)]

    def node(self, layer: int, scale: int) -> RoutingNode:
        """The node of layer ``layer`` (0-based) and scale ``scale``."""
        return cast(RoutingNode, cast(nn.ModuleList, self.nodes[layer])[scale])

    def embed(self, x: Tensor) -> Tensor:
        """``(B, H, W, C_in)`` -> scale-0 tokens ``(B, H/r, W/r, C_0)`` (stem + position embedding)."""
        cfg = self.config
        if x.dim() != 4 or tuple(x.shape[1:]) != (cfg.img_size, cfg.img_size, cfg.in_channels):
            raise ValueError(f"dynamic_routing_vit expects (B, {cfg.img_size}, {cfg.img_size}, {cfg.in_channels}) "
                             f"channels-last images, got {tuple(x.shape)}")
        return self.stem(x) + self.pos_embed

    def static_flops(self) -> float:
        """Total FLOPs per image of this model's static path (``static_path``, else the 'pvt' path)."""
        path = self.static_path or resolve_path("pvt", self.num_layers, self.num_scales)
        assert path is not None
        return path_flops(self.scale_costs, path, reached(path), self.config.attention_keys) + self.fixed_flops

    # ---- forward ------------------------------------------------------------------------------------
    def forward_routing(self, x: Tensor, *, mode: Mode | None = None,
                        override: Override | None = None) -> RoutingOutput:
        """Logits and routing trace through the routing engine (also for a static path). ``mode``: 'dense' or
        'gather' (default: dense in training, the configured ``inference`` in eval); ``override(layer, scale,
        weights, active)`` replaces node gate weights ``(B, H, W, 3)``."""
        chosen: Mode = mode or ("dense" if self.training else self.config.inference)
        out = route(self, x, mode=chosen, override=override)
        self.last_routing = out.trace
        return out

    def forward(self, x: Tensor) -> Tensor:
        if self.static_path is not None:
            self.last_routing = None
            return self.static_forward(x)
        return self.forward_routing(x).logits

    def static_forward(self, x: Tensor) -> Tensor:
        """The static network of ``static_path`` written plainly (no gates, no masks): per layer, fine to coarse,
        ``x_s <- [T] Block(x_s) + [I] x_s`` and ``x_{s+1} += [D] Down(x_s)``; a node with no edge sends its
        tokens to the exit pool. With 0/1 gates the routing engine computes exactly this (tested bit for bit)."""
        if self.static_path is None:
            raise ValueError("static_forward needs a static_path")
        u0 = self.embed(x)
        b = u0.shape[0]
        xs: list[Tensor | None] = [u0] + [None] * (self.num_scales - 1)
        pools = [ScalePool(self.config.exit_pooling, u0, b, c) for c in self.widths]
        for layer, row in enumerate(self.static_path):
            inflow: Tensor | None = None
            for s, edges in enumerate(row):
                u = xs[s]
                if inflow is not None:
                    u = inflow if u is None else u + inflow
                inflow = None
                if u is None:
                    continue
                node = self.node(layer, s)
                if "D" in edges and node.down is not None:
                    inflow = node.down.dense(u)
                new = node.block.plain(u) if "T" in edges else None
                if "I" in edges:
                    new = u if new is None else new + u
                if not edges:  # early stop: every token of the node exits
                    pools[s].add(u)
                xs[s] = new
        for s, xs_s in enumerate(xs):
            if xs_s is not None:
                pools[s].add(xs_s)
        return self.head([pool.result() for pool in pools])

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        cfg = self.config
        x = torch.randn(batch_size, cfg.img_size, cfg.img_size, cfg.in_channels, generator=generator)
        y = torch.randint(0, cfg.num_classes, (batch_size,), generator=generator)
        return {"x": x, "y": y}


def _dense_flops(module: nn.Module, shape: tuple[int, ...]) -> float:
    """FLOPs of one call of a token mixer on a zero input of ``shape`` (torch's counter, x 2 of the MACs)."""
    from forwardkit.measure import count_macs

    x = torch.zeros(shape)
    was = module.training
    module.eval()
    try:
        return 2.0 * count_macs(lambda: module(x))
    finally:
        module.train(was)
