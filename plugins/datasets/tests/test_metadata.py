"""Every dataset's metadata matches what its splits yield: sizes, shapes, dtypes, label range."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, default_collate

import forwardkit
from forwardkit.errors import ForwardkitError
from forwardkit.interfaces.dataset import Dataset

CASES = [
    ("blobs", {}),
    ("blobs", {"image_size": 8, "image_channels": 3, "n_samples": 300}),
    ("sequence", {}),
    ("sequence", {"task": "marked_sum", "n_samples": 500}),
    ("digits", {}),
    ("digits", {"normalize": "standardize"}),
    ("mnist5k", {}),
    ("mnist5k", {"normalize": "none"}),
    ("textures", {}),
    ("textures", {"color": "rgb", "crop": 24, "images": ["coffee", "brick", "rocket"], "normalize": "standardize"}),
    ("timeseries", {}),
    ("timeseries", {"series": "elnino", "lookback": 24, "horizon": 6}),
    ("timeseries", {"series": "elnino", "layout": "months", "lookback": 4, "horizon": 1}),
    ("timeseries", {"series": "co2", "lookback": 52, "horizon": 13, "stride": 4}),
    ("timeseries", {"series": "sunspots", "transform": "diff"}),
    ("timeseries", {"series": "macrodata", "columns": ["realgdp", "cpi"], "targets": ["cpi"], "transform": "log_diff"}),
    ("timeseries", {"series": "nile", "lookback": 8, "horizon": 2}),
]
IDS = [f"{name}-{i}" for i, (name, _) in enumerate(CASES)]


def test_all_datasets_are_registered() -> None:
    names = {c.name for c in forwardkit.get_registry().components("dataset")}
    assert {"blobs", "sequence", "digits", "mnist5k", "textures", "timeseries"} <= names


@pytest.mark.parametrize(("name", "config"), CASES, ids=IDS)
def test_metadata_matches_items(make, name: str, config: dict) -> None:
    ds = make(name, **config)
    assert isinstance(ds, Dataset)
    meta = ds.metadata
    assert set(meta.sizes) == {"train", "val", "test"}
    if meta.task == "classification":
        assert meta.num_classes is not None and meta.num_classes >= 2
        assert meta.class_names is not None and len(meta.class_names) == meta.num_classes
        assert meta.target_shape == ()
    else:
        assert meta.task in ("regression", "forecasting")
        assert meta.num_classes is None
    for split in ("train", "val", "test"):
        data = ds.split(split)
        assert len(data) == meta.sizes[split] > 0
        first = data[0]
        assert set(first) >= {"x", "y"}
        # every item, stacked exactly as a DataLoader would
        batch = default_collate([data[i] for i in range(len(data))])
        x, y = batch["x"], batch["y"]
        assert x.dtype == torch.float32
        assert tuple(x.shape) == (len(data), *meta.input_shape)
        assert torch.isfinite(x).all()
        if meta.task == "classification":
            assert y.dtype == torch.int64 and tuple(y.shape) == (len(data),)
            assert int(y.min()) >= 0 and int(y.max()) < meta.num_classes
        else:
            assert y.dtype == torch.float32
            assert tuple(y.shape) == (len(data), *meta.target_shape)
            assert torch.isfinite(y).all()
    loader = DataLoader(ds.split("train"), batch_size=7, shuffle=False)
    batch = next(iter(loader))
    assert tuple(batch["x"].shape[1:]) == meta.input_shape


@pytest.mark.parametrize(("name", "config"), CASES, ids=IDS)
def test_metadata_is_json_serialisable(make, name: str, config: dict) -> None:
    meta = make(name, **config).metadata
    again = type(meta).model_validate_json(meta.model_dump_json())
    assert again == meta


def test_image_conventions(make) -> None:
    assert make("digits").metadata.input_shape == (8, 8, 1)
    assert make("mnist5k").metadata.input_shape == (28, 28, 1)
    assert make("textures").metadata.input_shape == (32, 32, 1)
    assert sum(make("digits").metadata.sizes.values()) == 1797
    assert sum(make("mnist5k").metadata.sizes.values()) == 5000
    unit = make("mnist5k").split("train").x
    assert 0.0 <= float(unit.min()) and float(unit.max()) <= 1.0
    raw = make("mnist5k", normalize="none").split("train").x
    assert float(raw.max()) == 255.0 and torch.equal(raw / 255.0, unit)
    digits_raw = make("digits", normalize="none").split("train").x
    assert float(digits_raw.max()) == 16.0


def test_standardize_uses_train_statistics(make) -> None:
    for name in ("digits", "mnist5k"):
        ds = make(name, normalize="standardize")
        train = ds.split("train").x.double()
        assert abs(float(train.mean())) < 1e-5 and abs(float(train.std(unbiased=False)) - 1.0) < 1e-4
        unit = make(name).split("train").x.double()
        stats = ds.metadata.extra
        np.testing.assert_allclose(stats["mean"], [float(unit.mean())], rtol=1e-5)
        # val is transformed with the train statistics, not its own
        val = ds.split("val").x.double()
        val_unit = make(name).split("val").x.double()
        np.testing.assert_allclose(val, (val_unit - stats["mean"][0]) / stats["std"][0], atol=1e-5)


def test_unknown_split_is_a_clear_error(make) -> None:
    with pytest.raises(ForwardkitError, match=r"no split 'validation'.*train, val, test"):
        make("digits").split("validation")


def test_bad_config_values_are_rejected() -> None:
    from forwardkit.errors import ConfigError

    with pytest.raises(ConfigError, match="images"):
        forwardkit.create("dataset", "textures", images=["brick", "not_a_picture"])
    with pytest.raises(ConfigError, match="series"):
        forwardkit.create("dataset", "timeseries", series="airline")
    with pytest.raises(ConfigError, match="val_fraction"):
        forwardkit.create("dataset", "digits", val_fraction=0.6, test_fraction=0.5)
