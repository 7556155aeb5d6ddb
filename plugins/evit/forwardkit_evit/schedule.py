"""KeepRateSchedule: EViT's keep-rate warm-up when training from scratch (official ``helpers.adjust_keep_rate``)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

from torch import Tensor, nn

from forwardkit.interfaces import Callback, RunContext
from forwardkit_evit.config import KeepRateScheduleConfig
from forwardkit_evit.reorganize import TokenReorganizer

#: a small EViT the conformance kit trains with the schedule
SMALL_EVIT: dict[str, Any] = {
    "name": "evit_vit", "image_size": 8, "patch_size": 2, "dim": 16, "depth": 2, "num_heads": 2,
    "num_classes": 4, "in_channels": 3, "keep_rate": 0.5, "drop_loc": [0],
}


def keep_rate_at(epoch: float, *, start_epoch: float, shrink_epochs: float, base: float) -> float:
    """kappa(t) at fractional epoch ``t``: 1 for ``t < start_epoch``; then
    ``base + (1 - base) (1 + cos(pi (t - start_epoch) / shrink_epochs)) / 2`` (cosine from 1 to ``base``);
    ``base`` from ``start_epoch + shrink_epochs`` on."""
    if epoch < start_epoch:
        return 1.0
    if shrink_epochs <= 0 or epoch >= start_epoch + shrink_epochs:
        return base
    return base + (1.0 - base) * 0.5 * (1.0 + math.cos(math.pi * (epoch - start_epoch) / shrink_epochs))


def apply_keep_rate_schedule(model: nn.Module, epoch: float, config: KeepRateScheduleConfig) -> list[float]:
    """Set the runtime kappa of every reorganiser of ``model`` configured with kappa < 1 for fractional epoch
    ``epoch`` (base: ``config.base_keep_rate``, or the reorganiser's own kappa when None); returns the kappas."""
    rates = []
    for module in model.modules():
        if isinstance(module, TokenReorganizer) and module.config.keep_rate < 1.0:
            base = config.base_keep_rate if config.base_keep_rate is not None else module.config.keep_rate
            rate = keep_rate_at(epoch, start_epoch=config.start_epoch, shrink_epochs=config.shrink_epochs, base=base)
            module.runtime_keep_rate = rate
            rates.append(rate)
    return rates


def reset_keep_rate(model: nn.Module) -> None:
    """Back to the configured kappa of every reorganiser (the inference setting)."""
    for module in model.modules():
        if isinstance(module, TokenReorganizer):
            module.runtime_keep_rate = None


class KeepRateSchedule(Callback):
    """Before every batch, sets the reorganisers' kappa for the fractional epoch ``step / steps_per_epoch``
    (per iteration, as the official engine); at the end of training restores the configured kappa, so the
    final evaluation runs EViT at its base rate. Stateless: the rate is a function of the step, so resuming is
    exact. A model without reorganisers is left alone."""

    Config = KeepRateScheduleConfig
    config: KeepRateScheduleConfig
    conformance_configs: ClassVar[tuple[dict[str, Any], ...]] = ({"start_epoch": 0.5, "shrink_epochs": 1.0},)
    conformance_models: ClassVar[tuple[Any, ...]] = (SMALL_EVIT,)
    conformance_experiment: ClassVar[dict[str, Any]] = {
        "data": {"name": "blobs", "n_samples": 200, "image_size": 8, "image_channels": 3},
        "model": {k: v for k, v in SMALL_EVIT.items() if k not in ("num_classes", "in_channels", "image_size")},
    }

    def _apply(self, ctx: RunContext) -> None:
        epoch = ctx.step / max(ctx.steps_per_epoch, 1)
        apply_keep_rate_schedule(ctx.model, epoch, self.config)

    def on_fit_start(self, ctx: RunContext) -> None:
        self._apply(ctx)

    def on_batch_start(self, batch: dict[str, Tensor], ctx: RunContext) -> dict[str, Tensor]:
        self._apply(ctx)
        return batch

    def on_fit_end(self, ctx: RunContext) -> None:
        reset_keep_rate(ctx.model)

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Nothing to restore: the rate depends only on the step."""
