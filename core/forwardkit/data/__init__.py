"""Data for components: in-memory datasets, deterministic splits, and batches for code outside the trainer.

| module | what it holds |
|---|---|
| :mod:`forwardkit.data.memory` | `TensorSplit`, `InMemoryDataset`, `take_splits`, `UnknownSplitError` |
| :mod:`forwardkit.data.splits` | :func:`split_sizes`, :func:`random_split`, :func:`stratified_split` |
| :mod:`forwardkit.data.config` | :class:`SplitConfig`, the val/test fractions and seed (torch-free) |
| :mod:`forwardkit.data.batches` | :func:`example_batch` (data if given, else the model's), :func:`forward_batch` |
| :mod:`forwardkit.data.forecasting` | forecasters' window normalisation, sizes from the data, example windows |

Every name is importable from ``forwardkit.data``, which loads its modules on first use: a plugin's
torch-free config module may import ``forwardkit.data.SplitConfig`` without importing torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from forwardkit.lazy import lazy_names

_LAZY: dict[str, str] = {
    "SplitConfig": "forwardkit.data.config",
    "split_sizes": "forwardkit.data.splits",
    "random_split": "forwardkit.data.splits",
    "stratified_split": "forwardkit.data.splits",
    "InMemoryDataset": "forwardkit.data.memory",
    "TensorSplit": "forwardkit.data.memory",
    "UnknownSplitError": "forwardkit.data.memory",
    "take_splits": "forwardkit.data.memory",
    "DEFAULT_EXAMPLE_SIZE": "forwardkit.data.batches",
    "example_batch": "forwardkit.data.batches",
    "forward_batch": "forwardkit.data.batches",
    **{name: "forwardkit.data.forecasting" for name in (
        "EXAMPLE_VARIATES", "denormalize_windows", "example_windows", "forecaster_fields", "normalize_windows",
        "select_targets")},
}

__all__ = [
    "DEFAULT_EXAMPLE_SIZE",
    "EXAMPLE_VARIATES",
    "InMemoryDataset",
    "SplitConfig",
    "TensorSplit",
    "UnknownSplitError",
    "denormalize_windows",
    "example_batch",
    "example_windows",
    "forecaster_fields",
    "forward_batch",
    "normalize_windows",
    "random_split",
    "select_targets",
    "split_sizes",
    "stratified_split",
    "take_splits",
]


__getattr__, __dir__ = lazy_names(__name__, _LAZY, __all__)


if TYPE_CHECKING:  # for type checkers and IDEs only
    from forwardkit.data.batches import DEFAULT_EXAMPLE_SIZE, example_batch, forward_batch
    from forwardkit.data.config import SplitConfig
    from forwardkit.data.forecasting import (
        EXAMPLE_VARIATES,
        denormalize_windows,
        example_windows,
        forecaster_fields,
        normalize_windows,
        select_targets,
    )
    from forwardkit.data.memory import InMemoryDataset, TensorSplit, UnknownSplitError, take_splits
    from forwardkit.data.splits import random_split, split_sizes, stratified_split
