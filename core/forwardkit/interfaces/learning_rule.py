"""LearningRule: how parameters change from a batch.

Contract (docs/concepts.md): ``setup(model, ctx)`` once before training (build optimizers, hooks),
``step(batch, ctx) -> metrics`` for each batch (the rule does the forward, its own update and returns
float metrics such as ``{"loss": ...}``), ``state_dict()/load_state_dict()`` holding everything needed
to resume exactly (optimizer state included). ``model_changed(model, ctx)`` is called when a callback
changed the model at an epoch end (growth, unfreezing) so the rule can rebuild its optimizer.
``predict(model, batch)`` is the output evaluation scores (default: the model's forward); a rule whose
inference is not a plain forward pass (forward-forward: the label of highest goodness) overrides it.
``backprop`` is the builtin rule; papers add forward-forward, local, Hebbian and boosting-style rules.

A rule that learns at test time (test-time adaptation, transductive inference) sets
``adapts_at_test_time = True`` and implements ``begin_episode(model, ctx)`` and ``adapt(model, batch,
ctx)``; an experiment names it under ``test_time.rule`` (docs/training.md, "Test-time learning"). The
batches it sees carry no target keys: labels are never visible to it. A rule that only adapts at test
time and cannot train (``tent``) also sets ``trains = False``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from forwardkit.interfaces.base import Component
from forwardkit.interfaces.context import RunContext
from forwardkit.interfaces.model import forward_batch


class LearningRule(Component):
    """Base class of learning rules."""

    #: True for a rule that learns from unlabelled evaluation batches (``begin_episode`` / ``adapt``)
    adapts_at_test_time: ClassVar[bool] = False
    #: False for a rule that only adapts at test time and refuses to train (``step``): the conformance
    #: kit then skips its training checks ("adapts at test time only") and runs ``check_test_time``
    trains: ClassVar[bool] = True

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        self._init_config(config, overrides)

    def setup(self, model: nn.Module, ctx: RunContext) -> None:
        """Prepare to train ``model`` (create optimizers, register hooks)."""

    def step(self, batch: Mapping[str, Tensor], ctx: RunContext) -> dict[str, float]:  # pragma: no cover
        """Update parameters from one batch; return float metrics."""
        raise NotImplementedError

    def predict(self, model: nn.Module, batch: Mapping[str, Tensor]) -> Any:
        """The output the task's metrics score for ``batch`` in evaluation (the model is in eval mode,
        gradients are off). Default: ``model.forward_batch(batch)``."""
        return forward_batch(model, batch)

    def model_changed(self, model: nn.Module, ctx: RunContext) -> None:
        """The model's parameters changed shape or trainability; rebuild what depends on them."""
        self.setup(model, ctx)

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what ``state_dict`` returned."""

    def begin_episode(self, model: nn.Module, ctx: RunContext) -> None:
        """Test-time rules: prepare to adapt ``model`` from the start of an episode (choose the parameters,
        build the optimizer). The model and this rule are fresh at every episode start when the episode
        resets."""
        raise NotImplementedError(f"{type(self).__name__} does not adapt at test time")

    def adapt(self, model: nn.Module, batch: Mapping[str, Tensor], ctx: RunContext) -> Any | None:
        """Test-time rules: learn from one evaluation batch *without its targets*; return the output to
        score for this batch (e.g. the forward computed before the update), or None to have
        ``predict(model, batch)`` scored after the update."""
        raise NotImplementedError(f"{type(self).__name__} does not adapt at test time")


def finish_step(optimizer: torch.optim.Optimizer, ctx: RunContext, metrics: dict[str, float], *,
                clip_norm: float | None = None, lr: float | None = None) -> bool:
    """The end of a gradient rule's ``step``, after ``loss.backward()``: the order every rule keeps.

    1. with ``clip_norm``, clip the gradients of all of ``optimizer``'s parameters to that total norm and put the
       norm before clipping in ``metrics["grad_norm"]``;
    2. publish ``metrics`` as ``ctx.last_metrics`` and run the callbacks' ``on_after_backward`` (they see the
       clipped gradients and may change them, or ask to stop);
    3. when a callback asked to stop (``ctx.should_stop``), return False without updating;
    4. otherwise set every parameter group's learning rate to ``lr`` (when given) and take the optimizer step.

    Returns True when the parameters were updated, so a rule counts its updates only then.
    """
    if clip_norm is not None:
        params = [p for group in optimizer.param_groups for p in group["params"]]
        metrics["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(params, clip_norm))
    ctx.last_metrics = metrics
    ctx.after_backward()
    if ctx.should_stop:
        return False
    if lr is not None:
        for group in optimizer.param_groups:
            group["lr"] = lr
    optimizer.step()
    return True
