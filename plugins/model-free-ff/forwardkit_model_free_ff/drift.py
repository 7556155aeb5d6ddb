"""``physics_drift``: an unpredictable change of the hardware during training (card "Miniature reproduction" (4)).

At the end of epoch ``at_epoch`` every physical layer of the model is perturbed once:
``A' = A + strength * A_fresh`` (``A_fresh`` drawn like ``A`` from ``seed + k`` for block ``k``), through
:meth:`BlackBox.perturb`. The new matrices are buffers of the model, so checkpoints carry the drifted
physics; the callback remembers that it fired. A model-free rule simply keeps training on the new physics;
a rule whose model of the physics was fitted earlier (PAT with ``refit_every: 0``) now has a stale one.
The parameters do not change, so the rule keeps its optimizer state (``on_epoch_end`` returns False).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import nn

from forwardkit.errors import ForwardkitError
from forwardkit.interfaces import Callback, RunContext
from forwardkit_model_free_ff.config import PhysicsDriftConfig
from forwardkit_model_free_ff.physical import boxes
from forwardkit_model_free_ff.rule import SMALL_EXPERIMENT


def drift_physics(model: nn.Module, strength: float, seed: int) -> int:
    """Perturb every physical layer of ``model`` once (``A <- A + strength * A_fresh``); returns how many."""
    found = boxes(model)
    for k, box in enumerate(found):
        if not hasattr(box.hardware, "drift_"):
            raise ForwardkitError(f"physics_drift perturbs simulated layers (with drift_()); block {k} wraps a "
                                  f"{type(box.hardware).__name__}")
        gen = torch.Generator().manual_seed(seed + k)

        def drift(hw: Any, gen: torch.Generator = gen) -> None:
            hw.drift_(strength, gen)

        box.perturb(drift)
    return len(found)


class PhysicsDrift(Callback):
    """Drift the physics once, at the end of epoch ``at_epoch`` (see the module doc)."""

    Config = PhysicsDriftConfig
    config: PhysicsDriftConfig
    conformance_configs: ClassVar[list[dict[str, Any]]] = [{"at_epoch": 1}]
    # 3 batches an epoch: the drift (end of epoch 1) comes before the kit's mid-run checkpoint (step 5)
    conformance_experiment: ClassVar[dict[str, Any]] = {
        **SMALL_EXPERIMENT, "learning_rule": {"name": "model_free_ff", "inner_steps": 2},
        "trainer": {"epochs": 2, "batch_size": 64}}

    def __init__(self, config: PhysicsDriftConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.done = False

    def on_epoch_end(self, ctx: RunContext) -> bool:
        if not self.done and ctx.epoch + 1 >= self.config.at_epoch:
            drift_physics(ctx.model, self.config.strength, self.config.seed)
            self.done = True
        return False

    def state_dict(self) -> dict[str, Any]:
        return {"done": self.done}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.done = bool(state.get("done", False))
