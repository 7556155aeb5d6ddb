"""``tabular``: scikit-learn's bundled tabular sets, standardised with train statistics, stratified or random splits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from forwardkit_datasets.tabular import SOURCES, load_tabular_arrays

import forwardkit

SPLITS = ("train", "val", "test")


@pytest.mark.parametrize("source", list(SOURCES))
def test_items_match_the_metadata_and_the_sklearn_arrays(source: str) -> None:
    ds = forwardkit.create("dataset", "tabular", source=source, val_fraction=0.16, test_fraction=0.2, seed=1)
    meta = ds.metadata
    x_raw, y_raw, _ = load_tabular_arrays(source)
    assert sum(meta.sizes.values()) == len(y_raw) and meta.input_shape == (x_raw.shape[1],)
    train = ds.split("train")
    # standardised with the train split's statistics: mean 0, std 1 there (constant features stay 0)
    assert train.x.dtype == torch.float32 and torch.allclose(train.x.mean(0), torch.zeros(x_raw.shape[1]), atol=1e-5)
    spread = train.x.std(0, unbiased=False)
    assert torch.all(((spread - 1).abs() < 1e-4) | (spread < 1e-6))
    if meta.task == "classification":
        assert meta.num_classes == len(np.unique(y_raw)) and train.y.dtype == torch.int64
        # stratified: every split holds the classes in about the same shares
        shares = {s: torch.bincount(ds.split(s).y, minlength=meta.num_classes) / len(ds.split(s)) for s in SPLITS}
        assert (shares["train"] - shares["test"]).abs().max() < 0.05
    else:
        assert meta.task == "regression" and meta.target_shape == (1,) and train.y.dtype == torch.float32


def test_seed_decides_the_split_and_target_standardisation_is_kept_in_the_metadata() -> None:
    a = forwardkit.create("dataset", "tabular", source="diabetes", seed=3, standardize_target=True)
    b = forwardkit.create("dataset", "tabular", source="diabetes", seed=3, standardize_target=True)
    c = forwardkit.create("dataset", "tabular", source="diabetes", seed=4, standardize_target=True)
    assert torch.equal(a.split("test").x, b.split("test").x) and not torch.equal(a.split("test").x, c.split("test").x)
    scaler = a.metadata.extra["target_scaler"]
    raw = forwardkit.create("dataset", "tabular", source="diabetes", seed=3)
    assert torch.allclose(a.split("val").y * scaler["std"] + scaler["mean"], raw.split("val").y, atol=1e-3)
    assert abs(float(a.split("train").y.mean())) < 1e-5
