"""The ``scheduled_drop_path`` callback: ScheduledDropPath (paper sec. 4.1) as a trainer modifier.

Before every training batch it sets, on every :class:`~forwardkit_nasnet.cell.NasNetCell` of the model, the keep
probability ``keep_t`` of :func:`~forwardkit_nasnet.droppath.scheduled_keep_prob` for the global step ``t`` (its
own counter of the steps taken) and ``T`` (``total_steps``, else the trainer's total steps, fixed at the first
batch and kept in the state, so that a resumed run, or one whose epochs changed, keeps the schedule it started
with). The cells apply it to every non-identity path in training mode; evaluation never drops.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from torch import Tensor, nn

from forwardkit.interfaces import Callback
from forwardkit.interfaces.context import RunContext
from forwardkit_nasnet.cell import NasNetCell
from forwardkit_nasnet.config import ScheduledDropPathConfig
from forwardkit_nasnet.droppath import scheduled_keep_prob
from forwardkit_nasnet.network import TINY_NASNET


def set_drop_path(model: nn.Module, step: int, total_steps: int, *, keep_prob: float,
                  layer_scaling: bool = True) -> dict[int, float]:
    """Set ``keep_t`` on every NASNet cell of ``model`` for ``step`` of ``total_steps``; returns
    ``{cell_index: keep_t}`` (functional form of the callback)."""
    out = {}
    for module in model.modules():
        if isinstance(module, NasNetCell):
            keep = scheduled_keep_prob(keep_prob, module.cell_index, module.total_cells, step, total_steps,
                                       layer_scaling=layer_scaling)
            module.drop_keep_prob = keep
            out[module.cell_index] = keep
    return out


class ScheduledDropPath(Callback):
    """ScheduledDropPath on a ``nasnet_network`` (or any model holding NASNet cells): the keep probability of each
    cell's paths falls linearly from 1 at step 0 to its final value at step T (``layer_scaling``: deeper cells
    to lower values, the authors' "v3"). Logs ``drop_path/keep_last_cell``. State: the step counter and T."""

    Config = ScheduledDropPathConfig
    config: ScheduledDropPathConfig
    conformance_experiment: ClassVar[dict[str, Any]] = {
        "data": {"name": "digits", "val_fraction": 0.0, "test_fraction": 0.9},
        "model": dict(TINY_NASNET),
        "trainer": {"epochs": 2, "batch_size": 16, "max_steps": 7},
    }

    def __init__(self, config: ScheduledDropPathConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.step = 0
        self.total_steps: int | None = None
        self.last_keep: float = 1.0

    def _total(self, ctx: RunContext) -> int:
        if self.total_steps is None:
            self.total_steps = int(self.config.total_steps or ctx.total_steps)
        return self.total_steps

    def on_batch_start(self, batch: dict[str, Tensor], ctx: RunContext) -> dict[str, Tensor]:
        keeps = set_drop_path(ctx.model, self.step, self._total(ctx), keep_prob=self.config.keep_prob,
                              layer_scaling=self.config.layer_scaling)
        if keeps:
            self.last_keep = keeps[max(keeps)]
        return batch

    def on_step_end(self, metrics: Mapping[str, float], ctx: RunContext) -> None:
        self.step += 1
        ctx.extra.setdefault("step_metrics", {})["drop_path/keep_last_cell"] = self.last_keep

    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step, "total_steps": self.total_steps, "last_keep": self.last_keep}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.step = int(state["step"])
        self.total_steps = None if state["total_steps"] is None else int(state["total_steps"])
        self.last_keep = float(state["last_keep"])
