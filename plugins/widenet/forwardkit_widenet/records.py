"""What MoE layers remember of their calls: one :class:`RoutingRecord` per call since the last reset.

A shared MoE is called once per block, so its records list the blocks in depth order; the load-balance loss is
one per call (paper "Balanced Loading": the loss is computed per MoE layer call even though the router is shared).
Whoever runs a forward pass resets the records first (``WideNetViT.forward``, the ``widenet`` adapter's pre-hook,
``moe_aux_loss``, the ``expert_load`` analyzer), so they hold exactly the calls of the last forward.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn

#: a layer keeps at most this many records (a guard against growth when nobody resets it)
MAX_RECORDS = 256


@dataclass
class RoutingRecord:
    """One MoE call over ``N`` tokens: ``index`` ``(N, K)`` chosen experts, ``kept`` ``(N, K)`` which choices fit
    the capacity, ``gates`` ``(N, K)`` the combine weights actually applied (0 where dropped), the ``capacity`` per
    expert, and the call's load-balance loss (a scalar with its graph, or None)."""

    index: Tensor
    kept: Tensor
    gates: Tensor
    capacity: int
    num_experts: int
    aux_loss: Tensor | None

    @property
    def num_tokens(self) -> int:
        return int(self.index.shape[0])

    def dropped_rate(self) -> float:
        """Share of the choices dropped by the capacity."""
        return 1.0 - float(self.kept.float().mean())

    def dropped_at(self, capacity: int) -> float:
        """Share of the choices that a capacity of ``capacity`` per expert would drop (order does not matter)."""
        counts = torch.bincount(self.index.reshape(-1), minlength=self.num_experts)
        return float((counts - capacity).clamp(min=0).sum()) / self.index.numel()


class RoutingRecorder:
    """Mixin of MoE modules: ``records`` of the calls since :meth:`reset_routing`."""

    records: list[RoutingRecord]

    def _init_records(self) -> None:
        self.records = []

    def reset_routing(self) -> None:
        """Forget every recorded call."""
        self.records.clear()

    def _record(self, record: RoutingRecord) -> None:
        if torch.compiler.is_exporting():  # an exported program is a pure function: no side records
            return
        self.records.append(record)
        if len(self.records) > MAX_RECORDS:
            del self.records[0]

    @property
    def last_routing(self) -> RoutingRecord | None:
        """The record of the last call (None before any)."""
        return self.records[-1] if self.records else None

    @property
    def last_aux_loss(self) -> Tensor | None:
        """The load-balance loss of the last call (None before any, or when the layer computes none)."""
        last = self.last_routing
        return None if last is None else last.aux_loss


def moe_layers(model: nn.Module) -> list[tuple[str, RoutingRecorder]]:
    """Every MoE layer of ``model`` (each once, shared ones included), in module order."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, RoutingRecorder)]


def reset_routing(model: nn.Module) -> None:
    """Clear the records of every MoE layer of ``model``."""
    for _, layer in moe_layers(model):
        layer.reset_routing()


def reset_routing_hook(module: nn.Module, args: Any) -> None:
    """A forward pre-hook: clear the records before each forward (what the ``widenet`` adapter registers)."""
    reset_routing(module)


def routing_calls(model: nn.Module) -> Iterator[tuple[str, int, RoutingRecord]]:
    """``(layer name, call number, record)`` of every recorded call: layers in module order, calls in order."""
    for name, layer in moe_layers(model):
        for i, record in enumerate(layer.records):
            yield name, i, record


def total_aux_loss(model: nn.Module, *, reduce: Literal["sum", "mean"] = "sum") -> Tensor | None:
    """Sum (or mean) of the load-balance losses of every recorded MoE call, None when there is none."""
    losses = [r.aux_loss for _, _, r in routing_calls(model) if r.aux_loss is not None]
    if not losses:
        return None
    total = torch.stack(losses).sum()
    return total / len(losses) if reduce == "mean" else total
