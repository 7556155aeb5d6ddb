"""Callback: a training-loop modifier that composes with any learning rule.

Events, in loop order (docs/training.md, "Who owns what"): ``on_fit_start``, ``on_epoch_start``,
``on_batch_start`` (may return a transformed batch), ``on_after_backward`` (gradients are on the
parameters and may be changed), ``on_step_end`` (with the step's metrics), ``on_epoch_end`` (may change
the model; return True and the learning rule rebuilds its optimizer), ``on_fit_end``. Around every
evaluation (validation, the final test, a compressor's test) ``on_evaluate_start`` may return another
module to evaluate instead of the training model (averaged weights: EMA, SWA), and ``on_evaluate_end``
sees the metrics. Callbacks run in ascending ``priority`` order (ties by their position in the
experiment), never by registration luck. ``state_dict`` holds everything needed to resume exactly
(counters, RNG state); ``on_resume`` re-applies, on resume, structural changes a callback made to a model
that does not record its own architecture."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from torch import Tensor, nn

from forwardkit.interfaces.base import Component
from forwardkit.interfaces.context import RunContext


class Callback(Component):
    """Base class of callbacks; every event is a no-op unless overridden."""

    #: lower runs earlier; builtin guards use negative priorities so they see gradients first
    priority: ClassVar[int] = 0

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        self._init_config(config, overrides)

    def on_fit_start(self, ctx: RunContext) -> None: ...

    def on_resume(self, ctx: RunContext) -> None:
        """On resume only, after every callback's ``load_state_dict`` and after the model's recorded
        architecture is rebuilt (:mod:`forwardkit.engine.architecture`), before ``on_fit_start``, the
        learning rule's ``setup`` and the loading of the checkpoint's weights: re-apply structural changes
        this callback made to ``ctx.model`` (a pruned or grown plain model) from its restored state, so the
        weights fit. Default: nothing."""

    def on_epoch_start(self, ctx: RunContext) -> None: ...

    def on_batch_start(self, batch: dict[str, Tensor], ctx: RunContext) -> dict[str, Tensor]:
        return batch

    def on_after_backward(self, ctx: RunContext) -> None: ...

    def on_step_end(self, metrics: Mapping[str, float], ctx: RunContext) -> None: ...

    def on_epoch_end(self, ctx: RunContext) -> bool:
        """Return True when the model was changed (the learning rule then rebuilds its optimizer)."""
        return False

    def on_fit_end(self, ctx: RunContext) -> None: ...

    def on_evaluate_start(self, split: str, ctx: RunContext) -> nn.Module | None:
        """Before the trainer evaluates ``split``: return a module to evaluate instead of the training
        model (it must take the same batches), or None. When several callbacks return one, the last in
        priority order wins."""
        return None

    def on_evaluate_end(self, split: str, metrics: Mapping[str, float], ctx: RunContext) -> None:
        """After the evaluation of ``split``, with its metrics (``{"val/accuracy": ...}``)."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what ``state_dict`` returned."""
