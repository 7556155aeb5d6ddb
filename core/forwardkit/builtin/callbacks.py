"""Builtin callbacks: early stopping, a NaN/inf guard, a learning-rate monitor and weight averaging (EMA)."""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from forwardkit.builtin.training_config import (
    EarlyStoppingConfig,
    EMAConfig,
    KeepBestConfig,
    LRMonitorConfig,
    NanGuardConfig,
)
from forwardkit.errors import ConfigError, ConfigIssue
from forwardkit.interfaces.callback import Callback
from forwardkit.interfaces.context import RunContext


def monitored(monitor: str | None, mode: str, ctx: RunContext) -> tuple[str, str]:
    """The metric a callback watches (default ``val/<the task's primary metric>``) and which way is better
    (``auto``: the task's direction for its primary metric, else max for accuracies and min otherwise)."""
    task = ctx.extra.get("task")
    monitor = monitor or f"val/{getattr(task, 'primary_metric', 'loss')}"
    if mode == "auto":
        mode = getattr(task, "mode", "min") if monitor.endswith(getattr(task, "primary_metric", "")) else (
            "max" if "acc" in monitor else "min")
    return monitor, mode


def improves(value: float, best: float | None, mode: str, min_delta: float) -> bool:
    """Whether ``value`` beats ``best`` by more than ``min_delta`` in direction ``mode``."""
    if best is None:
        return True
    return value > best + min_delta if mode == "max" else value < best - min_delta


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

    def on_epoch_end(self, ctx: RunContext) -> bool:
        monitor, mode = monitored(self.config.monitor, self.config.mode, ctx)
        evaluation = ctx.extra.get("last_eval", {})
        eval_step = int(ctx.extra.get("last_eval_step", -1))
        if evaluation and monitor not in evaluation:  # a typo would otherwise switch early stopping off
            raise ConfigError([ConfigIssue("callbacks.early_stopping.monitor",
                                           f"{monitor!r} is not an evaluation metric", sorted(evaluation))])
        if monitor not in evaluation or eval_step == self.seen_step:
            return False
        self.seen_step = eval_step
        value = float(evaluation[monitor])
        if improves(value, self.best, mode, self.config.min_delta):
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
                diverged=True,
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


def ema_update_(average: nn.Module, model: nn.Module, decay: float) -> None:
    """``average <- decay * average + (1 - decay) * model`` for floating-point parameters and buffers;
    other buffers (counters, integer statistics) are copied."""
    with torch.no_grad():
        for (name, avg), cur in zip(average.state_dict().items(), model.state_dict().values(), strict=True):
            if avg.shape != cur.shape:
                raise ValueError(f"EMA: {name} has shape {tuple(cur.shape)} in the model but {tuple(avg.shape)} in "
                                 "the average")
            if avg.is_floating_point():  # lerp: a weight that does not change (frozen) stays bit-identical
                avg.lerp_(cur.detach().to(avg.dtype), 1.0 - decay)
            else:
                avg.copy_(cur)


class EMA(Callback):
    """Keeps an exponential moving average of the weights (Polyak averaging) and evaluates it.

    After every ``every``-th optimizer step, ``average = d * average + (1 - d) * weights`` with
    ``d = min(decay, (1 + n) / (10 + n))`` for the n-th update when ``warmup`` is on. Validation and test
    evaluate the average (``on_evaluate_start``); with ``apply_at_end`` the model holds it after training.
    The average and the update count are in ``state_dict``, so a resumed run continues exactly. A model
    whose architecture changes during training (growth) restarts the average from the new weights.
    """

    Config = EMAConfig
    priority = 100  # after every callback that changes gradients or weights

    def __init__(self, config: EMAConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.average: nn.Module | None = None
        self.updates = 0
        self._restored: dict[str, torch.Tensor] | None = None

    def decay(self) -> float:
        d = self.config.decay
        return min(d, (1.0 + self.updates) / (10.0 + self.updates)) if self.config.warmup else d

    def _fresh(self, model: nn.Module) -> nn.Module:
        average = copy.deepcopy(model)
        average.requires_grad_(False)
        return average.eval()

    def on_fit_start(self, ctx: RunContext) -> None:
        self.average = self._fresh(ctx.model)
        if self._restored is not None:
            self.average.load_state_dict(self._restored)
            self._restored = None

    def on_step_end(self, metrics: Mapping[str, float], ctx: RunContext) -> None:
        if self.average is None or ctx.step % self.config.every:
            return
        ema_update_(self.average, ctx.model, self.decay())
        self.updates += 1

    def on_epoch_end(self, ctx: RunContext) -> bool:
        if self.average is not None and _shapes(self.average) != _shapes(ctx.model):
            self.average, self.updates = self._fresh(ctx.model), 0
        return False

    def on_evaluate_start(self, split: str, ctx: RunContext) -> nn.Module | None:
        return self.average if self.config.evaluate else None

    def on_fit_end(self, ctx: RunContext) -> None:
        if self.config.apply_at_end and self.average is not None:
            ctx.model.load_state_dict(self.average.state_dict())

    def state_dict(self) -> dict[str, Any]:
        average = self.average.state_dict() if self.average is not None else self._restored
        return {"updates": self.updates, "average": {k: v.detach().cpu().clone() for k, v in (average or {}).items()}}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.updates = int(state["updates"])
        self._restored = dict(state["average"]) or None
        if self.average is not None and self._restored is not None:
            self.average.load_state_dict(self._restored)
            self._restored = None


def _shapes(model: nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


class KeepBest(Callback):
    """Keeps the weights of the best validation evaluation and loads them when training ends, so the test
    evaluation, analyzers and compressors see the best-validation model ("best-val checkpoint").

    It watches ``monitor`` (``val/<the task's primary metric>`` by default) after every validation
    (``on_evaluate_end``); the best value and its weights are in ``state_dict``, so a resumed run ends the
    same. It keeps the training model's weights: with ``ema`` as well, the two disagree on what the final
    model is, so use one or the other.
    """

    Config = KeepBestConfig
    priority = 90

    def __init__(self, config: KeepBestConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.best: float | None = None
        self.best_step = -1
        self.weights: dict[str, torch.Tensor] | None = None

    def on_evaluate_end(self, split: str, metrics: Mapping[str, float], ctx: RunContext) -> None:
        if split != "val":
            return
        monitor, mode = monitored(self.config.monitor, self.config.mode, ctx)
        if monitor not in metrics:
            raise ConfigError([ConfigIssue("callbacks.keep_best.monitor", f"{monitor!r} is not an evaluation metric",
                                           sorted(metrics))])
        value = float(metrics[monitor])
        if math.isfinite(value) and improves(value, self.best, mode, self.config.min_delta):
            self.best, self.best_step = value, ctx.step
            self.weights = {k: v.detach().cpu().clone() for k, v in ctx.model.state_dict().items()}

    def on_fit_end(self, ctx: RunContext) -> None:
        if self.weights is not None:
            ctx.model.load_state_dict(self.weights)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_step": self.best_step, "weights": self.weights or {}}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.best = None if state["best"] is None else float(state["best"])
        self.best_step = int(state["best_step"])
        self.weights = dict(state["weights"]) or None
