"""``MoEAuxLoss``: a learning rule that trains with another rule (``backprop`` by default) on the task loss plus the
MoE load-balance loss, ``L = L_task + lambda * sum_t l_bal^t`` (paper "Balanced Loading", lambda = 0.01).

A model cannot add a loss term of its own through forwardkit's interfaces (only adapters have ``loss()``); a
``WideNetViT`` (or any model with :class:`~forwardkit_widenet.moe.MoEFFN` layers) therefore trains under this rule.
It wraps ``ctx.loss_fn`` for the duration of each step: every loss evaluation adds ``lambda`` times the sum (or
mean) of the load-balance losses recorded by the MoE calls of the forward pass it scores, then clears the
records, so each micro-batch of an accumulating rule gets its own term. Do not combine it with the ``widenet``
adapter's ``aux_weight``: that adds the same term a second time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from torch import Tensor, nn

from forwardkit.config import LearningRuleSpec
from forwardkit.interfaces import LearningRule, RunContext
from forwardkit_widenet.config import MoEAuxLossConfig
from forwardkit_widenet.records import reset_routing, total_aux_loss
from forwardkit_widenet.vit import SMALL_WIDENET

#: the resume check trains a tiny WideNet on 180 of scikit-learn's digits (6 steps an epoch), validating on 90
_RESUME_EXPERIMENT: dict[str, Any] = {
    "data": {"name": "digits", "val_fraction": 0.05, "test_fraction": 0.85},
    "model": {k: v for k, v in SMALL_WIDENET.items() if k not in ("image_size", "in_channels", "num_classes")},
}


class MoEAuxLoss(LearningRule):
    """``rule`` (any registered learning rule) with ``weight * load-balance loss`` added to its training loss."""

    Config = MoEAuxLossConfig
    config: MoEAuxLossConfig
    conformance_models: ClassVar[tuple[Any, ...]] = (SMALL_WIDENET,)
    conformance_experiment: ClassVar[dict[str, Any]] = _RESUME_EXPERIMENT

    def __init__(self, config: MoEAuxLossConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.inner: LearningRule = LearningRuleSpec.parse(self.config.rule).build()
        self.last_aux = 0.0

    def setup(self, model: nn.Module, ctx: RunContext) -> None:
        self.inner.setup(model, ctx)

    def model_changed(self, model: nn.Module, ctx: RunContext) -> None:
        self.inner.model_changed(model, ctx)

    def _with_aux(self, base: Callable[[Any, Mapping[str, Tensor]], Tensor], model: nn.Module
                  ) -> Callable[[Any, Mapping[str, Tensor]], Tensor]:
        def loss_fn(output: Any, batch: Mapping[str, Tensor]) -> Tensor:
            loss = base(output, batch)
            aux = total_aux_loss(model, reduce=self.config.reduce)
            reset_routing(model)
            if aux is None or self.config.weight == 0:
                return loss
            self.last_aux = float(aux.detach())
            return loss + self.config.weight * aux.to(loss.dtype)

        return loss_fn

    def step(self, batch: Mapping[str, Tensor], ctx: RunContext) -> dict[str, float]:
        assert ctx.loss_fn is not None, "the trainer sets ctx.loss_fn"
        base = ctx.loss_fn
        reset_routing(ctx.model)
        self.last_aux = 0.0
        ctx.loss_fn = self._with_aux(base, ctx.model)
        try:
            metrics = self.inner.step(batch, ctx)
        finally:
            ctx.loss_fn = base
        return {**metrics, "aux_loss": self.last_aux}

    def predict(self, model: nn.Module, batch: Mapping[str, Tensor]) -> Any:
        return self.inner.predict(model, batch)

    def state_dict(self) -> dict[str, Any]:
        return {"inner": self.inner.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.inner.load_state_dict(state["inner"])
