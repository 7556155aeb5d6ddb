"""Batches for code that runs a model outside the trainer (analyzers, compressors, scorers, benchmarks).

- :func:`example_batch`: a batch from the data when there is data, else the model's own ``example_batch()``;
- :func:`forward_batch`: the output of any module for a batch dict (``model.forward_batch`` when defined).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from forwardkit.errors import ForwardkitError
from forwardkit.interfaces.model import forward_batch

__all__ = ["DEFAULT_EXAMPLE_SIZE", "example_batch", "forward_batch"]

#: samples of the model's ``example_batch`` when no ``batch_size`` is asked for
DEFAULT_EXAMPLE_SIZE = 2

Batches = Mapping[str, Tensor] | Iterable[Mapping[str, Tensor] | Tensor] | None


def _as_batch(item: Any, model: nn.Module | None) -> dict[str, Tensor]:
    if isinstance(item, Tensor):
        return {getattr(model, "input_key", "x"): item}
    if isinstance(item, Mapping):
        return dict(item)
    raise TypeError(f"data must yield batch dicts (or tensors), got {type(item).__name__}")


def _first_samples(data: Mapping[str, Tensor] | Iterable[Any], model: nn.Module | None,
                   batch_size: int | None) -> dict[str, Tensor] | None:
    """The first batch of ``data`` (whole), or its first ``batch_size`` samples over as many batches as needed."""
    items = [data] if isinstance(data, Mapping) else data
    parts: list[dict[str, Tensor]] = []
    count = 0
    for item in items:
        batch = _as_batch(item, model)
        if batch_size is None:
            return batch
        parts.append(batch)
        count += len(next(iter(batch.values()))) if batch else 0
        if count >= batch_size:
            break
    if not parts:
        return None
    if len(parts) == 1:
        return {k: v[:batch_size] for k, v in parts[0].items()}
    return {k: torch.cat([p[k] for p in parts])[:batch_size] for k in parts[0]}


def example_batch(
    data: Batches,
    model: nn.Module | None = None,
    *,
    batch_size: int | None = None,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> dict[str, Tensor]:
    """A batch dict from ``data`` if it yields one, else ``model.example_batch()``: the one rule for code
    that is given data optionally.

    ``data`` is a batch dict, an iterable of batch dicts (a list, a ``DataLoader``,
    ``forwardkit.engine.data.iterate(...)``; bare tensors count as ``{model.input_key: tensor}``) or None.
    Without ``batch_size`` the first batch is returned as it is; with it, the first ``batch_size`` samples,
    concatenated over as many batches as needed (fewer if the data has fewer), which needs every tensor of
    the batches to be batch-major. Only the batches needed are drawn.

    With no data (None or empty), ``model.example_batch(batch_size or 2, generator=...)`` seeded with
    ``seed`` (the global random state is not touched). ``device`` moves every tensor there.
    Raises :class:`~forwardkit.errors.ForwardkitError` when there is neither data nor a model with
    ``example_batch()``.
    """
    batch = _first_samples(data, model, batch_size) if data is not None else None
    if batch is None:
        maker = getattr(model, "example_batch", None)
        if maker is None:
            what = "a model" if model is None else f"{type(model).__name__}, which has no example_batch()"
            raise ForwardkitError(f"no batch: the data is empty or missing, and there is {what} to draw one from")
        made = maker(batch_size or DEFAULT_EXAMPLE_SIZE, generator=torch.Generator().manual_seed(seed))
        batch = dict(made)
    if device is not None:
        batch = {k: v.to(device) if isinstance(v, Tensor) else v for k, v in batch.items()}
    return batch
