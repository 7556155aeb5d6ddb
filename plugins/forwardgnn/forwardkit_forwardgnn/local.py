"""What the forward rules share: one Adam per GNN layer, the model check, layer-local steps.

No error signal crosses layers: every layer's loss is computed from the *detached* output of the layer
below, and its backward pass reaches only that layer's parameters (paper sec. 3). A rule calls
``ctx.after_backward()`` once per step, after every layer's gradient is final, and skips the updates
when a callback stopped the run there. Each rule also owns its inference (``predict``, what evaluation
scores): the model stays a plain GNN stack.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from forwardkit.errors import ForwardkitError
from forwardkit.interfaces import LearningRule, RunContext


class LocalRule(LearningRule):
    """Base of the layer-local rules: ``optimizers[i]`` updates block ``i`` of a ``local_gnn`` model."""

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.optimizers: list[torch.optim.Optimizer] = []

    def setup(self, model: nn.Module, ctx: RunContext) -> None:
        if not all(hasattr(model, a) for a in ("layers", "block", "graph", "augment")):
            raise ForwardkitError(f"{type(self).__name__} trains the blocks of a 'local_gnn' model, got "
                                  f"{type(model).__name__}")
        self.check_model(model)
        if ctx.world_size > 1:
            raise ForwardkitError(f"{type(self).__name__} trains layer by layer and does not support DDP runs")
        self.optimizers = [torch.optim.Adam(layer.parameters(), lr=self.config.lr,
                                            weight_decay=self.config.weight_decay)
                           for layer in model.layers]  # type: ignore[union-attr]

    def check_model(self, model: Any) -> None:
        """Refuse a model whose architecture this rule cannot train (default: any ``local_gnn``)."""

    @staticmethod
    def node_scores(scores: Tensor, graph: Any) -> Tensor:
        """Per-node class scores ``(M, C)`` of a union graph as the task wants them: ``(B, N, C)``."""
        return scores.view(graph.num_graphs, graph.nodes_per_graph, -1)

    def zero_grad(self) -> None:
        for opt in self.optimizers:
            opt.zero_grad(set_to_none=True)

    def finish_step(self, metrics: dict[str, float], ctx: RunContext, layers: list[int]) -> bool:
        """Let callbacks see the final gradients, then update ``layers`` unless the run was stopped there."""
        ctx.last_metrics = metrics
        ctx.after_backward()
        if ctx.should_stop:
            return False
        for i in layers:
            self.optimizers[i].step()
        return True

    def state_dict(self) -> dict[str, Any]:
        return {"optimizers": [opt.state_dict() for opt in self.optimizers]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        saved = state.get("optimizers", [])
        if saved:
            assert len(saved) == len(self.optimizers), "setup() must run on the same model before load_state_dict()"
        for opt, s in zip(self.optimizers, saved, strict=False):
            opt.load_state_dict(s)
