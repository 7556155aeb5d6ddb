"""``tabular``: scikit-learn's bundled tabular data sets as flat feature vectors (offline; no download).

``breast_cancer`` (569 x 30, 2 classes), ``diabetes`` (442 x 10, regression), ``iris`` (150 x 4, 3 classes),
``wine`` (178 x 13, 3 classes) and ``digits`` (1797 x 64 flattened 8x8 images, 10 classes). Features are
float32 ``(D,)``, standardised per feature with the **train** split's mean and std (scikit-learn's
``StandardScaler`` fitted on train) unless ``standardize`` is false; class labels are int64 scalars (stratified
splits), regression targets float32 ``(1,)`` (random splits), optionally standardised with the train split's
statistics (``standardize_target``; the scaler is in ``metadata.extra``).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import torch

from forwardkit.data import take_splits
from forwardkit_datasets.common import (
    InMemoryDataset,
    TensorSplit,
    fit_standardizer,
    load_offline,
    random_split,
    stratified_split,
)
from forwardkit_datasets.config import TabularConfig

__all__ = ["SOURCES", "TabularDataset", "load_tabular_arrays"]

#: source -> (scikit-learn loader, task)
SOURCES: dict[str, tuple[str, str]] = {
    "breast_cancer": ("load_breast_cancer", "classification"),
    "diabetes": ("load_diabetes", "regression"),
    "iris": ("load_iris", "classification"),
    "wine": ("load_wine", "classification"),
    "digits": ("load_digits", "classification"),
}


@cache
def load_tabular_arrays(source: str) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """``(features float64 (n, D), targets (n,), class names)`` of one scikit-learn data set (read once)."""
    if source not in SOURCES:
        raise ValueError(f"unknown tabular source {source!r}; allowed: {', '.join(SOURCES)}")
    loader, task = SOURCES[source]

    def read() -> Any:
        import sklearn.datasets

        return getattr(sklearn.datasets, loader)()

    bunch = load_offline(source, f"sklearn.datasets.{loader}()", "scikit-learn", read)
    x = np.asarray(bunch.data, dtype=np.float64).reshape(len(bunch.data), -1)
    names = tuple(str(n) for n in getattr(bunch, "target_names", ())) if task == "classification" else ()
    if source == "digits":
        names = tuple(str(d) for d in range(10))
    y = np.asarray(bunch.target)
    for a in (x, y):
        a.setflags(write=False)
    return x, y, names


class TabularDataset(InMemoryDataset):
    """``tabular``: one of scikit-learn's bundled tabular data sets (``source``), flat ``(D,)`` features."""

    Config = TabularConfig

    def build(self) -> tuple[dict[str, TensorSplit], dict[str, Any]]:
        c = self.config
        x_raw, y_raw, names = load_tabular_arrays(c.source)
        task = SOURCES[c.source][1]
        if task == "classification":
            index = stratified_split(y_raw, c.val_fraction, c.test_fraction, seed=c.seed)
        else:
            index = random_split(len(y_raw), c.val_fraction, c.test_fraction, seed=c.seed)
        train = index["train"]
        extra: dict[str, Any] = {"source": f"sklearn.datasets.{SOURCES[c.source][0]}", "features": x_raw.shape[1],
                                 "standardize": c.standardize}
        x = x_raw
        if c.standardize:
            mean, std = fit_standardizer(x_raw[train], axis=0)
            x = (x_raw - mean) / std
        xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        if task == "classification":
            yt = torch.from_numpy(np.array(y_raw, dtype=np.int64))
            fields: dict[str, Any] = {"task": "classification", "num_classes": len(names), "class_names": list(names)}
        else:
            y = np.asarray(y_raw, dtype=np.float64)
            if c.standardize_target:
                mu, sd = float(y[train].mean()), float(max(y[train].std(), 1e-8))
                y = (y - mu) / sd
                extra["target_scaler"] = {"mean": mu, "std": sd}
            yt = torch.from_numpy(np.array(y, dtype=np.float32)).unsqueeze(1)
            fields = {"task": "regression"}
        return take_splits(xt, yt, index), {**fields, "extra": extra}
