"""The mixing-weights analyzer and the card's Setup A generator."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from forwardkit_mambamixer.data import lagged_mixtures

import forwardkit
from forwardkit.errors import ForwardkitError

TSM2 = {"lookback": 16, "horizon": 4, "patch_len": 4, "stride": 4, "d_model": 8, "d_state": 4, "num_layers": 3}


def analyze(model, **config):
    return forwardkit.create("analyzer", "mixing_weights", **config).analyze(model)


def test_identity_start_puts_no_weight_on_early_features():
    numbers = analyze(forwardkit.create("model", "tsm2", **TSM2)).numbers
    assert numbers["early_share"] == 0.0 and numbers["mixer/coefficients"] == 3 * (2 * 3 + 3)


def test_the_early_share_counts_weight_off_the_sequential_chain():
    model = forwardkit.create("model", "tsm2", **TSM2)
    with torch.no_grad():
        model.mixer.alpha[2][0] = 1.0  # layer 3's token input also reads x (y_T^(0)), as much as the chain
    analysis = analyze(model)
    assert analysis.numbers["mixer/token/early_share"] == pytest.approx(1 / 4)  # chain weights 1, 1, 1 and 1 off
    assert analysis.numbers["mixer/channel/early_share"] == 0.0
    rows = [r for r in analysis.tables["coefficients"] if r["layer"] == 3 and r["family"] == "alpha"]
    assert [r["value"] for r in rows] == [1.0, 0.0, 0.0] and not any(r["chain"] for r in rows)


def test_uniform_start_and_the_figure():
    model = forwardkit.create("model", "vim2_tiny", image_size=8, dims=[8, 8], token_depths=[2, 1],
                              channel_depths=[1, 1], d_state=4, init="uniform")
    analysis = analyze(model, figure=True)
    assert set(analysis.figures) == {"stages_0_weights", "stages_1_weights"}
    assert 0 < analysis.numbers["stages.0/early_share"] < 1
    analysis.close()


def test_a_model_without_weighted_averaging_is_refused():
    with pytest.raises(ForwardkitError, match="has none"):
        analyze(forwardkit.create("model", "tsm2", **TSM2, weighted_avg=False))


def test_mixtures_are_lagged_gained_copies_of_the_drivers():
    values, info = lagged_mixtures(length=500, num_mixtures=4, num_noise=2, min_lag=4, max_lag=20, noise=0.0, seed=3)
    assert values.shape == (500, 8) and info["roles"] == ["driver"] * 2 + ["mixture"] * 4 + ["noise"] * 2
    lags, gains = np.array(info["lags"]), np.array(info["gains"])
    assert lags.min() >= 4 and lags.max() <= 20
    t = np.arange(20, 500)
    for j in range(4):
        rebuilt = sum(gains[j, k] * values[t - lags[j, k], k] for k in range(2))
        assert np.allclose(values[t, 2 + j], rebuilt)
    noise = values[:, 6:]
    assert abs(np.corrcoef(noise[:, 0], values[:, 0])[0, 1]) < 0.2


def test_the_dataset_is_chronological_z_scored_on_train_and_deterministic():
    data = forwardkit.create("dataset", "lagged_mixtures", length=600, lookback=24, horizon=6)
    meta = data.metadata
    assert meta.task == "forecasting" and meta.input_shape == (24, 8) and meta.target_shape == (6, 8)
    assert meta.extra["segments"] == {"train": [0, 420], "val": [420, 480], "test": [480, 600]}
    train = data.split("train")
    assert abs(float(train.x[:, 0].mean())) < 0.15 and meta.sizes["train"] == 420 - 30 + 1
    again = forwardkit.create("dataset", "lagged_mixtures", length=600, lookback=24, horizon=6)
    assert torch.equal(again.split("test").y, data.split("test").y)
    with pytest.raises(ForwardkitError, match="shorter"):
        forwardkit.create("dataset", "lagged_mixtures", length=200).metadata
