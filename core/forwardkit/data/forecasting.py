"""What forecasting models share: per-window normalisation, filling their sizes from the data, example batches.

A forecasting dataset gives ``x`` ``(L, M)`` (lookback x variates) and ``y`` ``(H, M')`` (horizon x the
forecast variates, ``metadata.extra['target_index']`` naming them when ``M' < M``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

__all__ = ["EXAMPLE_VARIATES", "denormalize_windows", "example_windows", "forecaster_fields", "normalize_windows",
           "select_targets"]

#: variates of the forecasters' example batches (models that accept any number use this many)
EXAMPLE_VARIATES = 5


def normalize_windows(x: Tensor, eps: float = 1e-5) -> tuple[Tensor, Tensor, Tensor]:
    """Per-window, per-variate normalisation (RevIN without its affine part, Kim et al. 2022; the ``use_norm``
    of Non-stationary Transformers and iTransformer): ``x`` ``(B, L, M)`` -> ``((x - mu) / sigma, mu, sigma)``
    with ``mu`` the mean over time and ``sigma = sqrt(biased var over time + eps)``, both ``(B, 1, M)`` and
    detached (statistics of the input, not something to learn through)."""
    mu = x.mean(dim=1, keepdim=True).detach()
    centred = x - mu
    sigma = torch.sqrt(torch.var(centred, dim=1, keepdim=True, unbiased=False) + eps).detach()
    return centred / sigma, mu, sigma


def denormalize_windows(y: Tensor, mu: Tensor, sigma: Tensor) -> Tensor:
    """Undo :func:`normalize_windows` on a forecast ``y`` ``(B, H, M)`` with ``mu, sigma`` ``(B, 1, M)``."""
    return y * sigma + mu


def forecaster_fields(config_cls: Any, metadata: Any) -> dict[str, Any]:
    """A forecaster's config fields from the data: ``lookback`` and ``horizon`` from ``x`` ``(L, M)`` and ``y``
    ``(H, M')``, ``num_variates`` = M (if the config has it), ``targets`` from ``metadata.extra['target_index']``
    when fewer variates are forecast than given (if the config has it)."""
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
    """The forecast variates ``y[..., targets]`` of ``y`` ``(B, H, M)`` (all of them when ``targets`` is None)."""
    return y if targets is None else y[..., targets]


def example_windows(lookback: int, horizon: int, variates: int, targets: list[int] | None, batch_size: int,
                    generator: torch.Generator | None) -> dict[str, Tensor]:
    """A random batch ``{"x": (B, lookback, M), "y": (B, horizon, M_targets)}`` with at least ``variates`` variates
    (more when ``targets`` names a higher index)."""
    m = max(variates, max(targets) + 1 if targets else 0)
    x = torch.randn(batch_size, lookback, m, generator=generator)
    y = torch.randn(batch_size, horizon, m, generator=generator)
    return {"x": x, "y": select_targets(y, targets)}
