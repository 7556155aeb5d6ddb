"""What the three forecasters share: filling lookback/horizon/targets from the data, example batches."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

#: variates of the models' example batches (the inverted model accepts any number)
EXAMPLE_VARIATES = 5


def forecaster_fields(config_cls: Any, metadata: Any) -> dict[str, Any]:
    """``lookback`` and ``horizon`` from ``x`` ``(T, N)`` and ``y`` ``(S, N_targets)``; ``num_variates`` = N;
    ``targets`` from ``metadata.extra['target_index']`` when fewer variates are forecast than given."""
    fields = config_cls.model_fields
    shape, target = tuple(metadata.input_shape), tuple(metadata.target_shape)
    out: dict[str, Any] = {}
    if len(shape) == 2:
        out["lookback"] = shape[0]
        if "num_variates" in fields:
            out["num_variates"] = shape[1]
    if len(target) == 2:
        out["horizon"] = target[0]
        index = metadata.extra.get("target_index")
        if len(shape) == 2 and target[1] != shape[1] and index is not None and "targets" in fields:
            out["targets"] = [int(i) for i in index]
    return out


def select_targets(y: Tensor, targets: list[int] | None) -> Tensor:
    """The forecast variates ``y[..., targets]`` of ``y`` ``(B, S, N)`` (all when ``targets`` is None)."""
    return y if targets is None else y[..., targets]


def example_windows(lookback: int, horizon: int, variates: int, targets: list[int] | None, batch_size: int,
                    generator: torch.Generator | None) -> dict[str, Tensor]:
    """A random batch ``{"x": (B, T, N), "y": (B, S, N_targets)}``."""
    n = max(variates, max(targets) + 1 if targets else 0)
    x = torch.randn(batch_size, lookback, n, generator=generator)
    y = torch.randn(batch_size, horizon, n, generator=generator)
    return {"x": x, "y": select_targets(y, targets)}
