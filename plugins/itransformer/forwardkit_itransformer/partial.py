"""Efficient training by variate sampling (paper §4.3 "efficient training strategy", Fig. 8)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from forwardkit.errors import ForwardkitError
from forwardkit.interfaces import Callback
from forwardkit.interfaces.context import RunContext
from forwardkit_itransformer.config import PartialVariateConfig

__all__ = ["PartialVariateTraining", "sample_variates", "select_variates"]

#: batch entries indexed by variate on their last axis
VARIATE_KEYS = ("x", "y")


def sample_variates(num_variates: int, fraction: float, generator: torch.Generator, minimum: int = 1) -> Tensor:
    """A sorted random subset of ``max(minimum, round(fraction * N))`` variate indices (at most N)."""
    keep = min(num_variates, max(minimum, round(fraction * num_variates)))
    return torch.randperm(num_variates, generator=generator)[:keep].sort().values


def select_variates(batch: Mapping[str, Tensor], index: Tensor) -> dict[str, Tensor]:
    """The batch with ``x`` ``(B, T, N)`` and ``y`` ``(B, S, N)`` cut to the variates ``index`` (one
    subset for the whole batch, as the official code); other entries (``x_mark``) unchanged."""
    x, y = batch["x"], batch.get("y")
    if y is not None and y.shape[-1] != x.shape[-1]:
        raise ForwardkitError(f"partial-variate training needs every variate forecast (y's last axis {y.shape[-1]} "
                              f"!= x's {x.shape[-1]}); drop the dataset's 'targets' setting")
    out = dict(batch)
    for key in VARIATE_KEYS:
        if key in out:
            out[key] = out[key].index_select(-1, index.to(out[key].device))
    return out


class PartialVariateTraining(Callback):
    """Trains on a random ``fraction`` of the variates per batch; evaluation sees them all. Needs a
    model without N-shaped weights (the inverted forecaster). The subset generator's state is saved,
    so resumed runs draw the same subsets."""

    Config = PartialVariateConfig
    config: PartialVariateConfig
    conformance_models = ({"name": "itransformer", "lookback": 8, "horizon": 3, "d_model": 8, "num_heads": 2,
                           "d_ff": 8},)
    conformance_experiment = {
        "data": {"name": "lagged_multivariate", "num_variates": 6, "num_drivers": 2, "length": 400,
                 "lookback": 8, "horizon": 4, "stride": 4},
        "model": {"name": "itransformer", "d_model": 8, "num_heads": 2, "d_ff": 8, "num_layers": 1},
        "trainer": {"batch_size": 16},
    }

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.generator = torch.Generator().manual_seed(self.config.seed)

    def on_batch_start(self, batch: dict[str, Tensor], ctx: RunContext) -> dict[str, Tensor]:
        index = sample_variates(batch["x"].shape[-1], self.config.fraction, self.generator, self.config.min_variates)
        return select_variates(batch, index)

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.generator.set_state(state["generator"])
