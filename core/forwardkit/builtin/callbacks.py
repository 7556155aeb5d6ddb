"""Builtin callbacks: early stopping, a NaN/inf guard and a learning-rate monitor."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

from forwardkit.builtin.training_config import EarlyStoppingConfig, LRMonitorConfig, NanGuardConfig
from forwardkit.interfaces.callback import Callback
from forwardkit.interfaces.context import RunContext


class EarlyStopping(Callback):
    """Stops the run when ``monitor`` (a key of the evaluation metrics, e.g. ``val/accuracy``) has not
    improved by ``min_delta`` for ``patience`` evaluations. Runs at epoch end, after evaluation."""

    Config = EarlyStoppingConfig
    priority = 50

    def __init__(self, config: EarlyStoppingConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.best: float | None = None
        self.bad_evals = 0
        self.seen_step = -1  # step of the last evaluation looked at: epochs without one do not count

    def _monitor_and_mode(self, ctx: RunContext) -> tuple[str, str]:
        task = ctx.extra.get("task")
        monitor = self.config.monitor or f"val/{getattr(task, 'primary_metric', 'loss')}"
        mode = self.config.mode
        if mode == "auto":
            mode = getattr(task, "mode", "min") if monitor.endswith(getattr(task, "primary_metric", "")) else (
                "max" if "acc" in monitor else "min")
        return monitor, mode

    def on_epoch_end(self, ctx: RunContext) -> bool:
        monitor, mode = self._monitor_and_mode(ctx)
        evaluation = ctx.extra.get("last_eval", {})
        eval_step = int(ctx.extra.get("last_eval_step", -1))
        if monitor not in evaluation or eval_step == self.seen_step:
            return False
        self.seen_step = eval_step
        value = float(evaluation[monitor])
        better = self.best is None or (
            value > self.best + self.config.min_delta if mode == "max" else value < self.best - self.config.min_delta
        )
        if better:
            self.best, self.bad_evals = value, 0
        else:
            self.bad_evals += 1
            if self.bad_evals >= self.config.patience:
                ctx.request_stop(f"early stopping: {monitor} did not improve for {self.bad_evals} evaluations "
                                 f"(best {self.best:.6g})")
        return False

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "bad_evals": self.bad_evals, "seen_step": self.seen_step}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.best, self.bad_evals = state["best"], int(state["bad_evals"])
        self.seen_step = int(state.get("seen_step", -1))


class NanGuard(Callback):
    """Stops the run at the first non-finite loss (or gradient), before the update is applied, so the
    last checkpoint written stays the last good state."""

    Config = NanGuardConfig
    priority = -100

    def on_after_backward(self, ctx: RunContext) -> None:
        loss = ctx.last_metrics.get("loss")
        bad = None
        if loss is not None and not math.isfinite(loss):
            bad = f"loss is {loss}"
        elif self.config.check_grads:
            for name, p in ctx.model.named_parameters():
                if p.grad is not None and not bool(torch.isfinite(p.grad).all()):
                    bad = f"gradient of {name} is not finite"
                    break
        if bad:
            ctx.request_stop(
                f"NaN guard: {bad} at step {ctx.step + 1} (epoch {ctx.epoch + 1}); stopped before the update, "
                "the last good checkpoint is kept. Lower the learning rate or enable grad_clip_norm.",
                keep_last_checkpoint=True,
            )


class LRMonitor(Callback):
    """Adds ``lr/group<i>`` of the learning rule's optimizer to the logged step metrics."""

    Config = LRMonitorConfig

    def on_step_end(self, metrics: Mapping[str, float], ctx: RunContext) -> None:
        if ctx.step % self.config.every:
            return
        optimizer = getattr(ctx.extra.get("learning_rule"), "optimizer", None)
        if optimizer is None:
            return
        logged = ctx.extra.setdefault("step_metrics", {})
        for i, group in enumerate(optimizer.param_groups):
            logged[f"lr/group{i}"] = float(group["lr"])
