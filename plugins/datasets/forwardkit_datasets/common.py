"""Helpers the dataset modules share: offline loading, normalisation fitted on train, image splits.

The in-memory dataset base, the tensor split and the index splits live in the core
(:mod:`forwardkit.data`) and are re-exported here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np
import torch

from forwardkit.data import InMemoryDataset, TensorSplit, random_split, split_sizes, stratified_split
from forwardkit.errors import ForwardkitError

__all__ = [
    "EPS",
    "InMemoryDataset",
    "OfflineDataError",
    "TensorSplit",
    "class_balance",
    "fit_standardizer",
    "image_classification_splits",
    "load_offline",
    "normalize_images",
    "random_split",
    "split_sizes",
    "stratified_split",
]

T = TypeVar("T")
#: floor of a fitted standard deviation, so constant features do not divide by zero
EPS = 1e-8


class OfflineDataError(ForwardkitError):
    """Data that is not available offline (a missing package, or a loader that tried to download)."""


def load_offline(dataset: str, source: str, package: str, loader: Callable[[], T]) -> T:
    """``loader()``, with every failure turned into an :class:`OfflineDataError` that says what to do.

    forwardkit datasets never download: each source ships inside an installed package. A loader that
    fails (for instance because it tried to reach the network) is reported as such.
    """
    try:
        return loader()
    except ImportError as exc:
        raise OfflineDataError(
            f"dataset {dataset!r} needs the package {package!r} ({exc}); "
            f'install it with: pip install "forwardkit[datasets]" (or pip install {package})'
        ) from exc
    except Exception as exc:  # any loader failure gets the same actionable message
        raise OfflineDataError(
            f"dataset {dataset!r}: could not load {source} from the installed {package!r} package "
            f"({type(exc).__name__}: {exc}). forwardkit datasets are offline-only and never download; "
            f"this source ships inside {package}, so reinstall that package if its data files are missing."
        ) from exc


def fit_standardizer(x: np.ndarray, axis: int | tuple[int, ...] | None) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of ``x`` over ``axis`` (float64; the std floored at :data:`EPS`)."""
    x = np.asarray(x, dtype=np.float64)
    mean = x.mean(axis=axis)
    std = np.maximum(x.std(axis=axis), EPS)
    return mean, std


def normalize_images(
    images: np.ndarray, train_index: np.ndarray, *, mode: str, scale: float
) -> tuple[np.ndarray, dict[str, Any]]:
    """``images`` ``(n, H, W, C)`` as float32: ``'none'`` raw, ``'unit'`` divided by ``scale``,
    ``'standardize'`` divided by ``scale`` and then z-scored per channel with the statistics of
    ``images[train_index]``. Returns the images and the statistics (for metadata.extra)."""
    x = np.asarray(images, dtype=np.float32)
    stats: dict[str, Any] = {"normalize": mode}
    if mode == "none":
        return x, stats
    x = x / np.float32(scale)
    stats["scale"] = scale
    if mode == "standardize":
        mean, std = fit_standardizer(x[train_index], axis=(0, 1, 2))
        x = ((x - mean) / std).astype(np.float32)
        stats["mean"] = [float(v) for v in mean]
        stats["std"] = [float(v) for v in std]
    elif mode != "unit":
        raise ForwardkitError(f"unknown normalize mode {mode!r}; choose 'none', 'unit' or 'standardize'")
    return x, stats


def image_classification_splits(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    normalize: str,
    scale: float,
) -> tuple[dict[str, TensorSplit], dict[str, Any]]:
    """Stratified, seeded splits of ``(n, H, W, C)`` images with int labels, normalised on train only."""
    index = stratified_split(labels, val_fraction, test_fraction, seed)
    x, stats = normalize_images(images, index["train"], mode=normalize, scale=scale)
    xt = torch.from_numpy(np.ascontiguousarray(x))
    yt = torch.from_numpy(np.array(labels, dtype=np.int64))
    splits = {}
    for name, idx in index.items():
        i = torch.from_numpy(idx).long()
        splits[name] = TensorSplit(xt[i].contiguous(), yt[i].contiguous())
    return splits, stats


def class_balance(labels: Sequence[int] | np.ndarray, num_classes: int) -> np.ndarray:
    """Share of each class among ``labels``."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_classes)
    return counts / max(counts.sum(), 1)
