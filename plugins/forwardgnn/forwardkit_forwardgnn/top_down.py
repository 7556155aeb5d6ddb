"""``top_down_single_forward_gnn``: SF with top-down signals (paper sec. 3.3), all layers every step.

Each step is one "time step". Top-To-Loss (``mode: to_loss``, plain model): layer ``l`` computes ``h_l``
from ``s_{l-1}`` (this step's, fresh from below) and is scored with ``mean(h_l, s_{l+1}, ..., s_L)``, the
upper states being the previous step's (detached); its gradient norm is clipped; then ``s_l <- norm(h_l)``.
Top-To-Input (``mode: to_input``, model with ``top_down: true``): layer ``l`` takes
``concat(norm(s_{l-1}), norm(s_{l+1}))``, the top state being the label matrix; with ``alternating_update``
even blocks update first and odd ones see their new states. Each layer's loss is the SF virtual-node
cross-entropy; no gradient crosses layers. The states live in the rule (and its checkpoint); they
belong to the graph being trained on.

Inference (:meth:`TopDownSingleForwardGNN.predict`): Top-To-Loss sums the per-layer softmaxes of the
Top-To-Loss embeddings of one bottom-up pass; Top-To-Input iterates the state update ``test_time_steps``
times from a bottom-up pass and sums the per-layer softmaxes of iterations ``accumulate_from_step ..``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from forwardkit.errors import ForwardkitError
from forwardkit.interfaces import RunContext
from forwardkit_forwardgnn.config import TopDownConfig
from forwardkit_forwardgnn.graph import Graph, l2_normalize, top_label_state
from forwardkit_forwardgnn.local import LocalRule
from forwardkit_forwardgnn.single_forward import SMALL_GRAPH, TRAINER, ensemble_scores, single_forward_loss


def top_to_loss_embeddings(h: Tensor, upper_states: list[Tensor]) -> Tensor:
    """Top-To-Loss embedding of one layer: ``mean(h_l, s_{l+1}, ..., s_L)``, all ``(M', H)``."""
    return torch.stack([h, *upper_states]).mean(0)


class TopDownSingleForwardGNN(LocalRule):
    """Top-To-Loss / Top-To-Input training (``mode``) of a ``local_gnn`` model, and their prediction."""

    Config = TopDownConfig
    # the kit runs Top-To-Input (the mode with a different architecture); the plugin's tests run Top-To-Loss
    conformance_configs: ClassVar[list[dict[str, Any]]] = [
        {"mode": "to_input", "test_time_steps": 3, "accumulate_from_step": 1}]
    conformance_models: ClassVar[list[dict[str, Any]]] = [
        {"name": "local_gnn", "hidden": 8, "in_features": 6, "num_classes": 3, "num_layers": 3, "top_down": True}]
    conformance_experiment: ClassVar[dict[str, Any]] = {
        "data": SMALL_GRAPH, "trainer": TRAINER,
        "model": {"name": "local_gnn", "hidden": 8, "num_layers": 3, "top_down": True}}

    def __init__(self, config: TopDownConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.states: list[Tensor] = []  # s_1 .. s_L of the previous step

    @property
    def to_input(self) -> bool:
        return self.config.mode == "to_input"

    @property
    def bidirectional(self) -> bool:
        return self.config.edge_direction == "bidirection"

    def check_model(self, model: Any) -> None:
        if model.config.label_input or model.config.top_down != self.to_input:
            raise ForwardkitError(f"top_down_single_forward_gnn with mode {self.config.mode!r} needs a local_gnn "
                                  f"with top_down: {str(self.to_input).lower()} and label_input: false")

    def update_order(self, n: int) -> list[list[int]]:
        """Groups of blocks updated together: even (0-based) blocks, then odd ones, when alternating."""
        if self.config.alternating_update:
            return [list(range(0, n, 2)), list(range(1, n, 2))]
        return [list(range(n))]

    def top_state(self, model: Any, g: Graph) -> Tensor:
        return top_label_state(g, model.num_classes, self.config.unlabeled_fill)

    def step(self, batch: Mapping[str, Tensor], ctx: RunContext) -> dict[str, float]:
        model: Any = ctx.model
        g = model.graph(batch)
        x, ei = model.augment(g, bidirectional=self.bidirectional)
        n = model.num_layers
        if len(self.states) != n or self.states[0].shape[0] != x.shape[0]:
            self.states = self._initial_states(model, x, ei)
        self.zero_grad()
        losses = self._top_to_input(model, g, x, ei) if self.to_input else self._top_to_loss(model, g, x, ei)
        metrics = {f"loss_l{i + 1}": v for i, v in enumerate(losses)}
        metrics["loss"] = float(sum(losses))
        self.finish_step(metrics, ctx, list(range(n)))
        return metrics

    @torch.no_grad()
    def _initial_states(self, model: Any, x: Tensor, ei: Tensor) -> list[Tensor]:
        if self.to_input:
            return model.top_input_initial(x, ei)
        return [l2_normalize(h) for h in model.bottom_up(x, ei)]

    def _top_to_loss(self, model: Any, g: Graph, x: Tensor, ei: Tensor) -> list[float]:
        losses = []
        below = x
        for i in range(model.num_layers):
            h = model.block(i, below.detach(), ei)
            emb = top_to_loss_embeddings(h, [s.detach() for s in self.states[i + 1:]])
            loss = single_forward_loss(emb, g, model.num_classes, self.config.temperature)
            loss.backward()
            if self.config.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(model.layers[i].parameters(), self.config.grad_clip)
            losses.append(float(loss.detach()))
            self.states[i] = l2_normalize(h).detach()
            below = self.states[i]
        return losses

    def _top_to_input(self, model: Any, g: Graph, x: Tensor, ei: Tensor) -> list[float]:
        states = [x, *self.states, self.top_state(model, g)]
        losses: dict[int, float] = {}
        for group in self.update_order(model.num_layers):
            new = {}
            for i in group:
                h = model.top_input_block(i, [s.detach() for s in states], ei)
                loss = single_forward_loss(h, g, model.num_classes, self.config.temperature)
                loss.backward()
                losses[i] = float(loss.detach())
                new[i] = h.detach()
            for i, h in new.items():
                states[i + 1] = h
        self.states = states[1:-1]
        return [losses[i] for i in sorted(losses)]

    # ---- inference ------------------------------------------------------------------------------
    def scores(self, model: Any, g: Graph) -> Tensor:
        """Class scores ``(M, C)`` of every real node: log of the mean of the kept per-layer softmaxes."""
        cfg = self.config
        x, ei = model.augment(g, bidirectional=self.bidirectional)
        if not self.to_input:
            hs = model.bottom_up(x, ei)
            states = [l2_normalize(h) for h in hs]
            embs = [top_to_loss_embeddings(h, states[i + 1:]) for i, h in enumerate(hs)]
            return ensemble_scores(embs, g, model.num_classes, cfg.temperature)
        states = [x, *model.top_input_initial(x, ei), self.top_state(model, g)]
        kept: list[Tensor] = []
        for t in range(cfg.test_time_steps):
            for group in self.update_order(model.num_layers):
                new = {i: model.top_input_block(i, states, ei) for i in group}
                for i, h in new.items():
                    states[i + 1] = h
            if t >= cfg.accumulate_from_step:
                kept.extend(states[1: model.num_layers + 1])
        return ensemble_scores(kept, g, model.num_classes, cfg.temperature)

    def predict(self, model: nn.Module, batch: Mapping[str, Tensor]) -> Tensor:
        """Top-down prediction ``(B, N, C)`` (see the module docstring)."""
        g = model.graph(batch)  # type: ignore[operator]
        return self.node_scores(self.scores(model, g), g)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "states": list(self.states)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.states = [s.clone() for s in state.get("states", [])]
