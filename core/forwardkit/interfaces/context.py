"""RunContext: what the trainer shares with learning rules and callbacks during a run."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn


def _no_after_backward() -> None:
    return None


@dataclass
class RunContext:
    """Mutable state of one run, owned by the trainer.

    A learning rule computes outputs with ``ctx.forward(batch)`` (which goes through DDP when the run is
    distributed), the training loss with ``ctx.loss_fn(output, batch)`` (the task's loss plus adapters'
    extra losses), and calls ``ctx.after_backward()`` once gradients are final and before it updates,
    so that callbacks can read or change them. It skips its update when ``ctx.should_stop`` was set there
    (e.g. by the NaN guard). Callbacks read ``step``/``epoch`` and may call ``request_stop``.
    ``lr_scale`` multiplies the learning rate a rule schedules (the builtin ``backprop`` applies
    ``lr * schedule(step) * lr_scale`` at every update): a callback sets it, e.g. at a phase start, to decay the
    rate per phase; it is saved in checkpoints, so a resumed run updates with the same rate.
    ``extra`` is free space for plugins, keyed by the plugin's name.
    """

    model: nn.Module
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    forward: Callable[[Mapping[str, Tensor]], Any] | None = None
    loss_fn: Callable[[Any, Mapping[str, Tensor]], Tensor] | None = None
    after_backward: Callable[[], None] = _no_after_backward
    step: int = 0
    epoch: int = 0
    steps_per_epoch: int = 1
    total_steps: int = 1
    epochs: int = 1
    rank: int = 0
    world_size: int = 1
    run_dir: Path | None = None
    should_stop: bool = False
    stop_reason: str | None = None
    checkpoint_allowed: bool = True
    #: the run was stopped because training diverged (a non-finite loss or gradient)
    diverged: bool = False
    last_metrics: dict[str, float] = field(default_factory=dict)
    #: a multiplier of the scheduled learning rate that callbacks may set (1.0: the schedule as configured)
    lr_scale: float = 1.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def request_stop(self, reason: str, *, keep_last_checkpoint: bool = False, diverged: bool = False) -> None:
        """Stop after this step; with ``keep_last_checkpoint`` no checkpoint of the current state is written;
        ``diverged`` marks a stop because training diverged (the run then exits with a non-zero status)."""
        self.should_stop = True
        self.stop_reason = reason
        if keep_last_checkpoint:
            self.checkpoint_allowed = False
        if diverged:
            self.diverged = True

    def run_forward(self, batch: Mapping[str, Tensor]) -> Any:
        """The model output for ``batch`` (through ``forward`` when set, else ``model.forward_batch``)."""
        if self.forward is not None:
            return self.forward(batch)
        from forwardkit.interfaces.model import forward_batch

        return forward_batch(self.model, batch)
