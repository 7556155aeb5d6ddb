"""Configs of the builtin training components: tasks, the backprop rule, callbacks (torch-free)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from forwardkit.config import ComponentConfig
from forwardkit.tasks.config import ClassificationConfig, ForecastingConfig, RegressionConfig

__all__ = ["BackpropConfig", "ClassificationConfig", "EMAConfig", "EarlyStoppingConfig", "ForecastingConfig",
           "KeepBestConfig", "LRMonitorConfig", "NanGuardConfig", "RegressionConfig", "TentConfig"]


class BackpropConfig(ComponentConfig):
    """Gradient descent by backpropagation: optimizer, weight decay, clipping, schedule, accumulation."""

    optimizer: Literal["sgd", "adam", "adamw"] = "adamw"
    lr: float = Field(1e-3, gt=0.0)
    momentum: float = Field(0.9, ge=0.0, lt=1.0, description="sgd only")
    nesterov: bool = Field(False, description="sgd only")
    betas: tuple[float, float] = Field((0.9, 0.999), description="adam/adamw")
    eps: float = Field(1e-8, gt=0.0)
    weight_decay: float = Field(0.0, ge=0.0)
    decay_1d: bool = Field(False, description="also decay 1-d parameters (norm scales, biases)")
    grad_clip_norm: float | None = Field(None, gt=0.0, description="clip the global gradient norm")
    schedule: Literal["constant", "step", "cosine"] = "constant"
    warmup_steps: int = Field(0, ge=0, description="linear warm-up from lr/100, in optimizer steps")
    warmup_epochs: float = Field(0.0, ge=0.0, description="warm-up in epochs (added to warmup_steps)")
    step_epochs: float = Field(30.0, gt=0.0, description="'step': multiply by gamma every this many epochs")
    gamma: float = Field(0.1, gt=0.0, le=1.0)
    min_lr: float = Field(0.0, ge=0.0, description="'cosine': the final learning rate")
    accumulate: int = Field(1, ge=1, description="micro-batches per optimizer step (gradient accumulation)")
    autocast: Literal["off", "bf16", "fp16"] = Field("off", description="mixed precision for the forward pass")
    on_model_change: Literal["reset", "keep_state"] = Field(
        "reset", description="when a callback changes the model (growth, unfreezing): 'reset' builds a new "
        "optimizer with fresh state; 'keep_state' builds it over the current trainable parameters and carries the "
        "per-parameter state (moments, step counts) of every parameter the old one held, zero-padded where a "
        "parameter grew in place")

    @model_validator(mode="after")
    def _sgd_only(self) -> BackpropConfig:
        if self.nesterov and (self.optimizer != "sgd" or self.momentum == 0):
            raise ValueError("nesterov needs optimizer='sgd' and momentum > 0")
        return self


class EarlyStoppingConfig(ComponentConfig):
    """Stop when the monitored validation metric has not improved for ``patience`` evaluations."""

    monitor: str | None = Field(None, description="e.g. 'val/accuracy'; None: the task's primary metric")
    mode: Literal["auto", "max", "min"] = "auto"
    patience: int = Field(3, ge=1)
    min_delta: float = Field(0.0, ge=0.0)


class KeepBestConfig(ComponentConfig):
    """Keep the weights of the best validation evaluation and put them back when training ends."""

    monitor: str | None = Field(None, description="e.g. 'val/accuracy'; None: the task's primary metric")
    mode: Literal["auto", "max", "min"] = "auto"
    min_delta: float = Field(0.0, ge=0.0, description="how much better an evaluation must be to count")


class NanGuardConfig(ComponentConfig):
    """Stop the run with a clear message at the first non-finite loss or gradient (before the update)."""

    check_grads: bool = True


class LRMonitorConfig(ComponentConfig):
    """Log the learning rate of every optimizer parameter group as ``lr/group<i>``."""

    every: int = Field(1, ge=1, description="log every N steps")


class EMAConfig(ComponentConfig):
    """An exponential moving average of the weights, evaluated instead of the raw weights."""

    decay: float = Field(0.999, gt=0.0, lt=1.0, description="weight of the running average at each update")
    warmup: bool = Field(True, description="use min(decay, (1 + n) / (10 + n)) for the n-th update, so that early "
                         "averages are not dominated by the initial weights")
    every: int = Field(1, ge=1, description="update every N optimizer steps")
    evaluate: bool = Field(True, description="evaluate (val, test) with the averaged weights")
    apply_at_end: bool = Field(True, description="copy the averaged weights into the model when training ends, "
                               "so analyzers, after-training compressors and the returned model use them")


class TentConfig(ComponentConfig):
    """Test-time entropy minimisation (Tent): adapt the normalisation layers on unlabelled test batches."""

    optimizer: Literal["sgd", "adam"] = Field("adam", description="the paper uses Adam for CIFAR, SGD for ImageNet")
    lr: float = Field(1e-3, gt=0.0, allow_inf_nan=False)
    momentum: float = Field(0.9, ge=0.0, lt=1.0, description="SGD momentum")
    steps: int = Field(1, ge=1, description="adaptation steps per batch")
    params: Literal["norm_affine", "all"] = Field(
        "norm_affine", description="norm_affine: only the scales and shifts of normalisation layers (Tent); "
        "all: every parameter")
    batch_stats: bool = Field(True, description="batch-norm layers normalise with the test batch's statistics")
