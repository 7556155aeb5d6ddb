"""Deterministic, disjoint train/val/test index splits."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from torch import Tensor

from forwardkit.interfaces.dataset import SPLITS

__all__ = ["random_split", "split_sizes", "stratified_split"]


def split_sizes(n: int, val_fraction: float, test_fraction: float) -> tuple[int, int, int]:
    """``(n_train, n_val, n_test)`` for ``n`` samples; val and test are rounded, train gets the rest."""
    n_val = round(n * val_fraction)
    n_test = round(n * test_fraction)
    return n - n_val - n_test, n_val, n_test


def random_split(n: int, val_fraction: float, test_fraction: float, seed: int) -> dict[str, np.ndarray]:
    """Disjoint index arrays ``{"train", "val", "test"}`` covering ``range(n)``, shuffled by ``seed``."""
    n_train, n_val, _ = split_sizes(n, val_fraction, test_fraction)
    perm = np.random.default_rng(seed).permutation(n)
    return {"train": perm[:n_train], "val": perm[n_train : n_train + n_val], "test": perm[n_train + n_val :]}


def stratified_split(
    labels: Sequence[int] | np.ndarray | Tensor, val_fraction: float, test_fraction: float, seed: int
) -> dict[str, np.ndarray]:
    """Disjoint index arrays ``{"train", "val", "test"}`` with each class in the same proportions.

    Within a class the samples are shuffled by ``seed`` and cut by the fractions (rounded per class);
    each split is then shuffled so classes are interleaved.
    """
    labels = np.asarray(labels.cpu() if isinstance(labels, Tensor) else labels)
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {s: [] for s in SPLITS}
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        n_train, n_val, _ = split_sizes(len(members), val_fraction, test_fraction)
        parts["train"].append(members[:n_train])
        parts["val"].append(members[n_train : n_train + n_val])
        parts["test"].append(members[n_train + n_val :])
    return {s: rng.permutation(np.concatenate(p)) if p else np.zeros(0, dtype=np.int64) for s, p in parts.items()}
