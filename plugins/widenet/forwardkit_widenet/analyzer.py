"""``ExpertLoadAnalyzer``: how the MoE layers of a model route, call by call (for a shared MoE, block by block).

The paper's argument for individual LayerNorms (sec. "Individual LayerNorm") is that the shared router sees
differently scaled tokens at each depth and so routes them differently. Per MoE call this reports the expert load
(share of the choices each expert receives), its normalised entropy (1 = balanced, 0 = one expert takes all), the
share of choices dropped by the capacity (as routed in eval, and as the training capacity would drop them), and
the agreement of first choices between consecutive calls on the same tokens (1 = every token keeps its expert
from one block to the next: the blocks do not route differently).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from forwardkit.data import forward_batch
from forwardkit.interfaces import Analysis, Analyzer
from forwardkit_widenet.config import ExpertLoadConfig
from forwardkit_widenet.records import RoutingRecord, moe_layers, reset_routing, routing_calls
from forwardkit_widenet.vit import SMALL_WIDENET


@dataclass
class CallStats:
    """What one MoE call (one block of a shared MoE) routed, summed over the analysed batches."""

    layer: str
    call: int
    num_experts: int
    choices: Tensor  # (E,) choices per expert
    first: Tensor  # (E,) first choices per expert
    total: int = 0
    dropped: int = 0
    dropped_train: float = 0.0
    agree: int = 0
    agree_total: int = 0
    top1: list[Tensor] = field(default_factory=list)

    def add(self, record: RoutingRecord, train_capacity: int) -> None:
        self.choices += torch.bincount(record.index.reshape(-1), minlength=self.num_experts)
        self.first += torch.bincount(record.index[:, 0], minlength=self.num_experts)
        self.total += record.index.numel()
        self.dropped += int((~record.kept).sum())
        self.dropped_train += record.dropped_at(train_capacity) * record.index.numel()

    def load(self) -> Tensor:
        return self.choices.float() / max(self.total, 1)

    def entropy(self) -> float:
        """Entropy of the load over the experts divided by log E (1 with one expert)."""
        p = self.load()
        h = float(-(p[p > 0] * p[p > 0].log()).sum())
        return h / math.log(self.num_experts) if self.num_experts > 1 else 1.0


def _train_capacity(model: nn.Module, layer: str, num_tokens: int) -> int:
    module = dict(moe_layers(model))[layer]
    capacity = getattr(module, "capacity", None)
    return int(capacity(num_tokens, training=True)) if callable(capacity) else num_tokens


class ExpertLoadAnalyzer(Analyzer):
    """Per-call expert load, load entropy, dropped-choice rates and routing agreement of every MoE layer.

    Numbers: ``load_entropy``, ``dropped_rate``, ``dropped_rate_train_capacity`` and ``routing_agreement``
    (means over the calls), ``calls``, and per call ``call<t>/load_entropy``, ``call<t>/dropped_rate``,
    ``call<t>/expert<i>_load``. Tables ``expert_load`` (call, layer, expert, load, first-choice load) and
    ``calls``; figure ``expert_load`` (a heat map)."""

    Config = ExpertLoadConfig
    config: ExpertLoadConfig
    conformance_models: ClassVar[tuple[Any, ...]] = (SMALL_WIDENET,)

    def analyze(self, model: nn.Module, data: Iterable[Any] | None = None) -> Analysis:
        if not moe_layers(model):
            raise ValueError(f"expert_load needs a model with MoE layers (MoEFFN); {type(model).__name__} has none")
        if data is None:
            raise ValueError("expert_load routes data: pass batches (the trainer passes a few test batches)")
        stats = self._route(model, data)
        return self._analysis(stats)

    @torch.no_grad()
    def _route(self, model: nn.Module, data: Iterable[Any]) -> list[CallStats]:
        was_training = model.training
        model.eval()
        stats: dict[tuple[str, int], CallStats] = {}
        try:
            for i, batch in enumerate(data):
                if i >= self.config.max_batches:
                    break
                reset_routing(model)
                forward_batch(model, batch)
                previous: RoutingRecord | None = None
                for layer, call, record in routing_calls(model):
                    entry = stats.setdefault((layer, call), CallStats(
                        layer, call, record.num_experts, torch.zeros(record.num_experts, dtype=torch.long),
                        torch.zeros(record.num_experts, dtype=torch.long)))
                    entry.add(record, _train_capacity(model, layer, record.num_tokens))
                    if previous is not None and previous.num_tokens == record.num_tokens:
                        entry.agree += int((previous.index[:, 0] == record.index[:, 0]).sum())
                        entry.agree_total += record.num_tokens
                    previous = record
        finally:
            reset_routing(model)
            model.train(was_training)
        return list(stats.values())

    def _analysis(self, stats: list[CallStats]) -> Analysis:
        numbers: dict[str, float] = {"calls": float(len(stats))}
        load_rows: list[dict[str, Any]] = []
        call_rows: list[dict[str, Any]] = []
        for t, s in enumerate(stats):
            load, first = s.load(), s.first.float() / max(int(s.first.sum()), 1)
            dropped = s.dropped / max(s.total, 1)
            agreement = s.agree / s.agree_total if s.agree_total else None
            numbers[f"call{t}/load_entropy"] = s.entropy()
            numbers[f"call{t}/dropped_rate"] = dropped
            for i in range(s.num_experts):
                numbers[f"call{t}/expert{i}_load"] = float(load[i])
                load_rows.append({"call": t, "layer": s.layer, "layer_call": s.call, "expert": i,
                                  "load": float(load[i]), "first_choice_load": float(first[i])})
            call_rows.append({"call": t, "layer": s.layer, "layer_call": s.call, "load_entropy": s.entropy(),
                              "dropped_rate": dropped, "dropped_rate_train_capacity": s.dropped_train / max(s.total, 1),
                              "agreement_with_previous": agreement if agreement is not None else ""})
        agreements = [s.agree / s.agree_total for s in stats if s.agree_total]
        numbers["load_entropy"] = sum(s.entropy() for s in stats) / len(stats)
        numbers["dropped_rate"] = sum(s.dropped for s in stats) / max(sum(s.total for s in stats), 1)
        numbers["dropped_rate_train_capacity"] = (sum(s.dropped_train for s in stats)
                                                  / max(sum(s.total for s in stats), 1))
        if agreements:
            numbers["routing_agreement"] = sum(agreements) / len(agreements)
        figures = {"expert_load": _heatmap(stats)} if self.config.figure else {}
        return Analysis(numbers=numbers, tables={"expert_load": load_rows, "calls": call_rows}, figures=figures)


def _heatmap(stats: list[CallStats]) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    width = max(s.num_experts for s in stats)
    grid = torch.full((len(stats), width), float("nan"))
    for t, s in enumerate(stats):
        grid[t, : s.num_experts] = s.load()
    fig, ax = plt.subplots(figsize=(1.2 + 0.5 * width, 1.0 + 0.35 * len(stats)))
    image = ax.imshow(grid.numpy(), cmap="viridis", vmin=0.0, aspect="auto")
    ax.set_xlabel("expert")
    ax.set_ylabel("MoE call (block)")
    ax.set_title("share of the choices per expert")
    fig.colorbar(image, ax=ax)
    return fig
