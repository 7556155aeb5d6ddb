"""RunContext: what the trainer shares with learning rules and callbacks during a run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn


@dataclass
class RunContext:
    """Mutable state of one run, owned by the trainer.

    Learning rules read ``model``, ``device`` and ``loss_fn``; callbacks read ``step``/``epoch`` and may
    set ``should_stop`` (with ``stop_reason``). ``extra`` is free space for plugins, namespaced by the
    plugin's name.
    """

    model: nn.Module
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    loss_fn: Callable[[Any, dict[str, torch.Tensor]], torch.Tensor] | None = None
    step: int = 0
    epoch: int = 0
    max_steps: int | None = None
    epochs: int = 1
    rank: int = 0
    world_size: int = 1
    run_dir: Path | None = None
    should_stop: bool = False
    stop_reason: str | None = None
    last_metrics: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def request_stop(self, reason: str) -> None:
        self.should_stop = True
        self.stop_reason = reason
