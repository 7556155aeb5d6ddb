"""timeseries: chronological splits, windows inside their segment, scaler fitted on train only."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.datasets as smd
import torch
from forwardkit_datasets.timeseries import load_series, make_windows

import forwardkit
from forwardkit.errors import ForwardkitError

CONFIGS = [
    {},
    {"series": "macrodata", "columns": ["realgdp", "unemp", "infl"], "targets": ["unemp"], "stride": 2},
    {"series": "elnino", "lookback": 24, "horizon": 12},
    {"series": "elnino", "layout": "months", "lookback": 3, "horizon": 2},
    {"series": "co2", "lookback": 52, "horizon": 13, "stride": 3},
    {"series": "sunspots", "lookback": 20, "horizon": 5, "transform": "diff"},
    {"series": "nile", "lookback": 5, "horizon": 1, "standardize": False},
]


@pytest.mark.parametrize("config", CONFIGS, ids=[str(c.get("series", "default")) for c in CONFIGS])
def test_windows_stay_inside_their_segment(make, config: dict) -> None:
    ds = make("timeseries", **config)
    c, meta = ds.config, ds.metadata
    values, names, _ = ds.prepare()
    T = len(values)
    seg = meta.extra["segments"]
    assert seg["train"][0] == 0 and seg["train"][1] == seg["val"][0] and seg["val"][1] == seg["test"][0]
    assert seg["test"][1] == T
    mean = np.asarray(meta.extra["scaler"]["mean"])
    std = np.asarray(meta.extra["scaler"]["std"])
    tidx = meta.extra["target_index"]
    span = c.lookback + c.horizon
    for split in ("train", "val", "test"):
        data = ds.split(split)
        start, stop = seg[split]
        assert data.segment == (start, stop)
        assert len(data.starts) == len(data) == meta.sizes[split] == (stop - start - span) // c.stride + 1
        assert data.starts.min() >= start and data.starts.max() + span <= stop
        assert np.all(np.diff(data.starts) == c.stride)
        assert tuple(data.x.shape[1:]) == (c.lookback, len(names)) == meta.input_shape
        assert tuple(data.y.shape[1:]) == (c.horizon, len(tidx)) == meta.target_shape
        # each window is the scaled series at its own steps
        for i in (0, len(data) - 1):
            s = int(data.starts[i])
            expect_x = (values[s : s + c.lookback] - mean) / std
            expect_y = ((values[s + c.lookback : s + span] - mean) / std)[:, tidx]
            np.testing.assert_allclose(data.x[i].numpy(), expect_x, rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(data.y[i].numpy(), expect_y, rtol=1e-5, atol=1e-5)


def test_scaler_is_fitted_on_train_only(make) -> None:
    ds = make("timeseries")
    values, _, _ = ds.prepare()
    n_train = ds.metadata.extra["segments"]["train"][1]
    scaler = ds.metadata.extra["scaler"]
    np.testing.assert_allclose(scaler["mean"], values[:n_train].mean(axis=0), rtol=1e-10)
    np.testing.assert_allclose(scaler["std"], values[:n_train].std(axis=0), rtol=1e-10)
    # the whole series would give other statistics (macrodata trends), so the check above means something
    assert not np.allclose(scaler["mean"], values.mean(axis=0), rtol=1e-2)
    # train windows cover the train segment: standardised, it has mean 0 and std 1 per variate
    train = ds.split("train")
    seen = np.concatenate([train.x[0].numpy(), train.x[1:, -1].numpy(), train.y[-1].numpy()])
    np.testing.assert_allclose(seen.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(seen.std(axis=0), 1.0, atol=1e-4)
    assert len(seen) == n_train


def test_changing_the_future_does_not_change_train(make, monkeypatch) -> None:
    import forwardkit_datasets.timeseries as ts

    base = make("timeseries", series="sunspots")
    original = ts.load_series

    def poisoned(series: str, layout: str = "flat"):
        values, names, labels = original(series, layout)
        values = values.copy()
        values[250:] = 1e6  # inside val/test only (train ends at step 217)
        return values, names, labels

    monkeypatch.setattr(ts, "load_series", poisoned)
    changed = forwardkit.create("dataset", "timeseries", series="sunspots")
    assert changed.metadata.extra["segments"]["train"][1] <= 250
    assert torch.equal(changed.split("train").x, base.split("train").x)
    assert torch.equal(changed.split("train").y, base.split("train").y)
    assert changed.metadata.extra["scaler"] == base.metadata.extra["scaler"]


def test_raw_series_match_statsmodels() -> None:
    macro = smd.macrodata.load_pandas().data
    values, names, labels = load_series("macrodata")
    assert values.shape == (203, 12) and labels[0] == "1959Q1" and labels[-1] == "2009Q3"
    np.testing.assert_array_equal(values[:, names.index("realgdp")], macro["realgdp"].to_numpy())
    elnino = smd.elnino.load_pandas().data
    flat, _, flat_labels = load_series("elnino")
    assert flat.shape == (61 * 12, 1) and flat_labels[1] == "1950-02"
    assert flat[13, 0] == elnino.loc[1, "FEB"]
    months, month_names, _ = load_series("elnino", "months")
    assert months.shape == (61, 12) and month_names[0] == "JAN"
    co2_raw = smd.co2.load_pandas().data["co2"]
    co2, _, _ = load_series("co2")
    assert co2_raw.isna().sum() > 0 and np.isfinite(co2).all()
    observed = co2_raw.notna().to_numpy()
    np.testing.assert_array_equal(co2[observed, 0], co2_raw.to_numpy()[observed])
    sun, _, _ = load_series("sunspots")
    assert sun.shape == (309, 1)


def test_inverse_transform_recovers_raw_targets(make) -> None:
    ds = make("timeseries", series="macrodata", columns=["realgdp", "unemp", "infl"], targets=["unemp"], stride=2)
    values, names, _ = ds.prepare()
    test = ds.split("test")
    s = int(test.starts[0])
    raw = ds.inverse_transform(test.y[0]).numpy()
    np.testing.assert_allclose(raw[:, 0], values[s + 12 : s + 15, names.index("unemp")], rtol=1e-5)


def test_make_windows_shapes() -> None:
    series = np.arange(20, dtype=float).reshape(10, 2)
    starts, x, y = make_windows(series, lookback=3, horizon=2, stride=2)
    assert starts.tolist() == [0, 2, 4] and x.shape == (3, 3, 2) and y.shape == (3, 2, 2)
    assert y[-1, -1, 0] == series[8, 0]  # the last window ends at step 8 (< 10)
    empty = make_windows(series[:4], lookback=3, horizon=2)
    assert empty[1].shape == (0, 3, 2)


def test_segments_too_short_are_a_clear_error() -> None:
    with pytest.raises(ForwardkitError, match=r"val segment has 15 steps.*lookback \+ horizon = 20"):
        forwardkit.create("dataset", "timeseries", series="nile", lookback=16, horizon=4).metadata
    with pytest.raises(ForwardkitError, match="no column"):
        forwardkit.create("dataset", "timeseries", series="nile", columns=["flow"]).metadata
    with pytest.raises(ForwardkitError, match="positive values"):
        forwardkit.create("dataset", "timeseries", series="macrodata", transform="log_diff").metadata
