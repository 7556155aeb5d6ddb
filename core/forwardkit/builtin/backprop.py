"""The builtin ``backprop`` learning rule: one optimizer step per batch from backpropagated gradients."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from forwardkit.builtin.training_config import BackpropConfig
from forwardkit.interfaces.context import RunContext
from forwardkit.interfaces.learning_rule import LearningRule


def param_groups(model: nn.Module, weight_decay: float, decay_1d: bool) -> list[dict[str, Any]]:
    """Trainable parameters in two groups: decayed (>=2-d) and not decayed (1-d: norms, biases)."""
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 or decay_1d else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


def make_optimizer(model: nn.Module, cfg: BackpropConfig) -> torch.optim.Optimizer:
    groups = param_groups(model, cfg.weight_decay, cfg.decay_1d)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps)
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps)


def lr_factor(step: int, *, cfg: BackpropConfig, steps_per_epoch: int, total_steps: int) -> float:
    """Multiplier of the base learning rate at optimizer step ``step`` (0-based): warm-up, then schedule."""
    warmup = cfg.warmup_steps + round(cfg.warmup_epochs * steps_per_epoch)
    if step < warmup:
        return 0.01 + 0.99 * step / warmup
    if cfg.schedule == "step":
        return cfg.gamma ** math.floor(step / (cfg.step_epochs * steps_per_epoch))
    if cfg.schedule == "cosine":
        span = max(total_steps - warmup, 1)
        progress = min((step - warmup) / span, 1.0)
        floor = cfg.min_lr / cfg.lr
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))
    return 1.0


def split_batch(batch: Mapping[str, Tensor], parts: int) -> list[dict[str, Tensor]]:
    """Split every tensor of a batch along dim 0 into ``parts`` micro-batches (fewer if the batch is small)."""
    size = len(next(iter(batch.values())))
    chunk = math.ceil(size / parts)
    return [{k: v[i : i + chunk] for k, v in batch.items()} for i in range(0, size, chunk)]


class Backprop(LearningRule):
    """Backpropagation with a torch optimizer and a per-step learning-rate schedule.

    ``step``: zero grads; for each micro-batch forward, loss / n_micro, backward; clip the global norm;
    ``ctx.after_backward()`` (callbacks see the final gradients); unless a callback stopped the run,
    set the scheduled learning rate and update.
    """

    Config = BackpropConfig

    def __init__(self, config: BackpropConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.optimizer: torch.optim.Optimizer | None = None
        self.scaler: torch.amp.GradScaler | None = None
        self.updates = 0

    def setup(self, model: nn.Module, ctx: RunContext) -> None:
        self.optimizer = make_optimizer(model, self.config)
        # fp16 needs loss scaling against gradient underflow (bf16 does not)
        self.scaler = torch.amp.GradScaler(ctx.device.type, enabled=self.config.autocast == "fp16")

    def model_changed(self, model: nn.Module, ctx: RunContext) -> None:
        """A callback changed the model: a new optimizer over its trainable parameters, with fresh state
        (``on_model_change: reset``) or with the state of the parameters the old one held carried over
        (``keep_state``, :func:`carry_optimizer_state`; the loss scaler is kept too)."""
        if self.config.on_model_change == "keep_state" and self.optimizer is not None:
            old, self.optimizer = self.optimizer, make_optimizer(model, self.config)
            carry_optimizer_state(old, self.optimizer)
        else:
            self.setup(model, ctx)

    def current_lr(self, ctx: RunContext) -> float:
        """The rate of the next update: the configured ``lr`` times the schedule's factor at this update times
        ``ctx.lr_scale`` (what a callback set; 1.0 by default)."""
        factor = lr_factor(self.updates, cfg=self.config, steps_per_epoch=ctx.steps_per_epoch,
                           total_steps=ctx.total_steps)
        return self.config.lr * factor * ctx.lr_scale

    def _autocast(self, device: torch.device) -> Any:
        if self.config.autocast == "off":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.config.autocast == "bf16" else torch.float16
        return torch.autocast(device_type=device.type, dtype=dtype)

    def step(self, batch: Mapping[str, Tensor], ctx: RunContext) -> dict[str, float]:
        assert self.optimizer is not None and ctx.loss_fn is not None, "setup() must run first"
        self.optimizer.zero_grad(set_to_none=True)
        if self.config.accumulate == 1:
            total = self._backward(batch, ctx, 1.0)
        else:  # each micro-batch's mean loss weighted by its share of the batch: gradients of the batch mean
            size = len(next(iter(batch.values())))
            total = sum(self._backward(part, ctx, len(next(iter(part.values()))) / size)
                        for part in split_batch(batch, self.config.accumulate))
        metrics = {"loss": float(total)}
        assert self.scaler is not None
        if self.scaler.is_enabled():
            self.scaler.unscale_(self.optimizer)  # clipping and callbacks see true gradients
        if self.config.grad_clip_norm is not None:
            params = [p for g in self.optimizer.param_groups for p in g["params"]]
            metrics["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(params, self.config.grad_clip_norm))
        ctx.last_metrics = metrics
        ctx.after_backward()
        if ctx.should_stop:
            return metrics
        lr = self.current_lr(ctx)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        if self.scaler.is_enabled():
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.updates += 1
        metrics["lr"] = lr
        return metrics

    def _backward(self, batch: Mapping[str, Tensor], ctx: RunContext, weight: float) -> float:
        """Forward, loss (times ``weight``), backward; returns the weighted loss."""
        assert ctx.loss_fn is not None
        with self._autocast(ctx.device):
            loss = ctx.loss_fn(ctx.run_forward(batch), batch)
            if weight != 1.0:
                loss = loss * weight
        scaler = self.scaler
        (scaler.scale(loss) if scaler is not None and scaler.is_enabled() else loss).backward()
        return float(loss.detach())

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"optimizer": self.optimizer.state_dict() if self.optimizer else None,
                                 "updates": self.updates}
        if self.scaler is not None and self.scaler.is_enabled():
            state["scaler"] = self.scaler.state_dict()
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.updates = int(state["updates"])
        if state.get("optimizer") is not None:
            assert self.optimizer is not None, "setup() must run before load_state_dict()"
            check_optimizer_state(self.optimizer, state["optimizer"])
            self.optimizer.load_state_dict(state["optimizer"])
        if "scaler" in state and self.scaler is not None:
            self.scaler.load_state_dict(state["scaler"])


def carry_optimizer_state(old: torch.optim.Optimizer, new: torch.optim.Optimizer) -> int:
    """Give every parameter of ``new`` that ``old`` also held (the same tensor object) its per-parameter state
    from ``old``; returns how many. A parameter that grew in place (same object, same number of dimensions,
    no axis smaller: a widened layer whose old entries are its leading block) gets each state tensor of its
    old shape zero-padded to the new one; one whose shape changed any other way starts fresh, as do new
    parameters. Scalars (step counts) are kept as they are."""
    carried = 0
    for group in new.param_groups:
        for p in group["params"]:
            saved = old.state.get(p)
            if not saved:
                continue
            state: dict[str, Any] = {}
            for key, value in saved.items():
                if isinstance(value, Tensor) and value.dim() > 0 and value.shape != p.shape:
                    if value.dim() != p.dim() or any(o > n for o, n in zip(value.shape, p.shape, strict=True)):
                        break
                    padded = value.new_zeros(p.shape)
                    padded[tuple(slice(0, n) for n in value.shape)] = value
                    value = padded
                state[key] = value
            else:
                new.state[p] = state
                carried += 1
    return carried


def check_optimizer_state(optimizer: torch.optim.Optimizer, saved: Mapping[str, Any]) -> None:
    """Refuse a saved optimizer state whose per-parameter tensors do not fit the parameters (torch would
    load it and fail at the next step)."""
    params = [p for group in optimizer.param_groups for p in group["params"]]
    for index, entry in saved.get("state", {}).items():
        if not 0 <= int(index) < len(params):
            raise ValueError(f"optimizer state for parameter {index}, but the optimizer has {len(params)} parameters")
        for key, value in entry.items():
            if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape != params[int(index)].shape:
                raise ValueError(f"optimizer state {key!r} of parameter {index} has shape {tuple(value.shape)}, the "
                                 f"parameter {tuple(params[int(index)].shape)}")
