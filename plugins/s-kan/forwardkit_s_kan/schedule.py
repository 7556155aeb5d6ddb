"""The three-phase S-KAN training schedule as a callback that composes with any learning rule (backprop)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any, ClassVar

from torch import Tensor

from forwardkit.interfaces import Callback, RunContext
from forwardkit_s_kan.config import SKANPhaseScheduleConfig
from forwardkit_s_kan.prune import prune_skan, select_, skan_layers


def phase_at(step: int, total: int, fracs: tuple[float, float, float]) -> int:
    """The phase (1, 2 or 3) of optimisation step ``step`` (0-based) of ``total``: phase 2 starts at step
    ``round(f1 total)``, phase 3 at ``round((f1 + f2) total)``."""
    s2 = round(fracs[0] * total)
    s3 = round((fracs[0] + fracs[1]) * total)
    return 1 if step < s2 else 2 if step < s3 else 3


def selection_histogram(model: Any) -> dict[str, int]:
    """How many nodes (over every S-KAN layer of ``model``) keep each space."""
    counts: Counter[str] = Counter()
    for _, layer in skan_layers(model):
        for kept in layer.selected():
            counts.update(kept)
    return dict(sorted(counts.items()))


class SKANPhaseSchedule(Callback):
    """S-KAN's phases over the run's step budget (reconstruction): 1, every space and the selection logits train
    jointly; 2, at step ``round(f1 T)`` each S-KAN layer keeps its top-K spaces per node (``select_top_k`` of
    the mixer; masked weights exactly 0 and no gradient) and training continues; 3, at ``round((f1+f2) T)``
    the selection is final (pruned: the masked branches no longer run, and ``skan_prune`` removes them after
    training, or this callback does in the loop with ``prune_in_loop``); fine-tuning continues unless
    ``finetune_after_prune`` is False. The masks are model buffers (saved with the weights); the phase and the
    selection histogram are this callback's state."""

    Config = SKANPhaseScheduleConfig
    config: SKANPhaseScheduleConfig
    conformance_configs: ClassVar[tuple[dict[str, Any], ...]] = ({"phase_fracs": (0.3, 0.4, 0.3)},)
    conformance_experiment: ClassVar[dict[str, Any]] = {
        "data": {"name": "kan_function_suite", "task": 3, "n_train": 160, "n_val": 20, "n_test": 20},
        "model": {"name": "skan_regressor", "hidden": 3, "pool": ["chebyshev", "fourier"]},
        "trainer": {"batch_size": 32, "epochs": 2},
    }

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.phase = 1
        self.switch_steps: list[int] = []
        self.histogram: dict[str, int] = {}
        self._pending_prune = False

    def _top_k(self, layer: Any, model: Any) -> int:
        for module in model.modules():
            k = getattr(getattr(module, "config", None), "select_top_k", None)
            if k is not None and any(m is layer for m in module.modules()):
                return int(k)
        return 1

    def _advance(self, ctx: RunContext) -> None:
        target = phase_at(ctx.step, ctx.total_steps, self.config.phase_fracs)
        model = ctx.model
        while self.phase < target:
            self.phase += 1
            self.switch_steps.append(int(ctx.step))
            if self.phase == 2:
                for _, layer in skan_layers(model):
                    layer.select(self._top_k(layer, model))
                self.histogram = selection_histogram(model)
            elif self.phase == 3:
                if self.config.prune_in_loop:
                    self._pending_prune = True
                if not self.config.finetune_after_prune:
                    ctx.request_stop("S-KAN phase 3 reached and finetune_after_prune is False")

    def on_fit_start(self, ctx: RunContext) -> None:
        self._advance(ctx)

    def on_batch_start(self, batch: dict[str, Tensor], ctx: RunContext) -> dict[str, Tensor]:
        self._advance(ctx)
        return batch

    def on_epoch_end(self, ctx: RunContext) -> bool:
        if self._pending_prune:
            self._pending_prune = False
            prune_skan(ctx.model, inplace=True)
            return True
        return False

    def state_dict(self) -> dict[str, Any]:
        return {"phase": self.phase, "switch_steps": list(self.switch_steps), "histogram": dict(self.histogram)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.phase = int(state["phase"])
        self.switch_steps = [int(s) for s in state["switch_steps"]]
        self.histogram = {str(k): int(v) for k, v in dict(state["histogram"]).items()}


__all__ = ["SKANPhaseSchedule", "phase_at", "select_", "selection_histogram"]
