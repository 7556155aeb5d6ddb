"""BudgetConstraintLoss: the budget constraint on the routing gates, as a learning rule composed with backprop.

Card ("Mechanism", a guess modelled on Li et al. 2020): ``L = CE + lambda * L_B`` with
``L_B = (C / C_max - mu)^2``, C the cost of the executed routing and C_max that of the full grid. Here C is the
batch mean of the per-image grid FLOPs (:meth:`RoutingTrace.grid_flops`), so images may spend more or less than
the budget as long as the batch meets it; with the ``straight_through`` estimator its value is the executed
cost and its gradient flows through the gate weights.

How the loss reaches the trainer: forwardkit's trainer adds only the task loss and adapters' ``loss(model,
batch, output)`` to ``ctx.loss_fn``; a model cannot contribute a loss term itself. This rule therefore wraps
another learning rule (``backprop`` by default, any registered rule that computes its loss through
``ctx.loss_fn``): during its ``step`` the context's loss function returns ``loss + lambda_t * L_B``, read from
the routing trace the model left in ``last_routing``. ``lambda_t`` ramps linearly from 0 over
``warmup_epochs`` (a function of ``ctx.step``, so a resumed run continues exactly). A model without a routing
trace (a static path, any other model) trains with the plain rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from torch import Tensor, nn

from forwardkit.interfaces import LearningRule, RunContext
from forwardkit_dynamic_token_routing.config import BudgetConstraintLossConfig
from forwardkit_dynamic_token_routing.model import TINY


def budget_loss(cost: Tensor, max_cost: float, target_ratio: float) -> Tensor:
    """``L_B = (C / C_max - mu)^2`` for a cost ``C`` (a scalar tensor, or per image ``(B,)``: their mean is C)."""
    return (cost.mean() / max_cost - target_ratio) ** 2


def warmup_weight(weight: float, warmup_epochs: float, step: int, steps_per_epoch: int) -> float:
    """``lambda_t = lambda * min(1, epochs done / warmup_epochs)`` at optimizer step ``step`` (0-based)."""
    if warmup_epochs <= 0:
        return weight
    return weight * min(1.0, step / max(steps_per_epoch, 1) / warmup_epochs)


class BudgetConstraintLoss(LearningRule):
    """Another learning rule's update with ``lambda * (C / C_max - mu)^2`` added to its loss (see module doc).

    Metrics per step: the rule's own, plus ``budget_loss`` (unweighted ``L_B``), ``budget_weight`` (lambda_t)
    and ``flops_ratio`` (executed grid FLOPs / C_max, batch mean) when the model routed the batch.
    """

    Config = BudgetConstraintLossConfig
    config: BudgetConstraintLossConfig
    conformance_models: ClassVar[tuple[Any, ...]] = (TINY,)
    conformance_experiment: ClassVar[dict[str, Any]] = {
        "data": {"name": "multi_scale_digits", "canvas": 16, "min_size": 6, "max_size": 14, "train_size": 128,
                 "test_size": 32, "fragment_size": 4},
        "model": {k: v for k, v in TINY.items() if k != "num_classes"},
    }

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.inner: LearningRule = self.config.rule.build()
        self._last: dict[str, float] = {}

    def setup(self, model: nn.Module, ctx: RunContext) -> None:
        self.inner.setup(model, ctx)

    def model_changed(self, model: nn.Module, ctx: RunContext) -> None:
        self.inner.model_changed(model, ctx)

    def budget_term(self, model: nn.Module, ctx: RunContext) -> Tensor | None:
        """``lambda_t * L_B`` for the routing ``model`` left by its last forward pass (None: no routing)."""
        trace = getattr(model, "last_routing", None)
        if trace is None or not trace.nodes:
            return None
        cfg = self.config
        cost = trace.grid_flops(cfg.estimator)
        loss = budget_loss(cost, trace.max_flops, cfg.target_ratio)
        lam = warmup_weight(cfg.weight, cfg.warmup_epochs, ctx.step, ctx.steps_per_epoch)
        self._last = {"budget_loss": float(loss.detach()), "budget_weight": lam,
                      "flops_ratio": float(trace.grid_flops("hard").mean()) / trace.max_flops}
        return lam * loss

    def step(self, batch: Mapping[str, Tensor], ctx: RunContext) -> dict[str, float]:
        base = ctx.loss_fn
        assert base is not None, "the trainer sets ctx.loss_fn before training"

        def loss_fn(output: Any, batch_: Mapping[str, Tensor]) -> Tensor:
            loss = base(output, batch_)
            extra = self.budget_term(ctx.model, ctx)
            return loss if extra is None else loss + extra

        self._last = {}
        ctx.loss_fn = loss_fn
        try:
            metrics = dict(self.inner.step(batch, ctx))
        finally:
            ctx.loss_fn = base
        metrics.update(self._last)
        return metrics

    def predict(self, model: nn.Module, batch: Mapping[str, Tensor]) -> Any:
        return self.inner.predict(model, batch)

    def state_dict(self) -> dict[str, Any]:
        return {"rule": self.inner.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.inner.load_state_dict(state["rule"])

