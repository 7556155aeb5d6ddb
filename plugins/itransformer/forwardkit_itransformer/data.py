"""Synthetic multivariate series whose variates are time-lagged copies of a few shared drivers.

The case iTransformer's introduction argues about: simultaneous values of lagged variates describe
different moments of the same driver, so a token per time step mixes them, while a token per variate
keeps each series whole and lets attention find which variates share a driver.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from forwardkit_datasets.common import InMemoryDataset, TensorSplit, fit_standardizer, split_sizes
from forwardkit_datasets.timeseries import make_windows

from forwardkit_itransformer.config import LaggedMultivariateConfig

__all__ = ["LaggedMultivariateDataset", "lagged_multivariate", "time_features"]


def _ar1(rng: np.random.Generator, length: int, phi: float, scale: float) -> np.ndarray:
    eps = rng.normal(0.0, scale, length)
    out = np.empty(length)
    acc = 0.0
    for t in range(length):
        acc = phi * acc + eps[t]
        out[t] = acc
    return out


def lagged_multivariate(*, num_variates: int, num_drivers: int, length: int, max_lag: int, noise: float,
                        distractors: int = 0, seed: int = 0) -> tuple[np.ndarray, dict[str, Any]]:
    """Values ``(length, num_variates + distractors)`` float64 and the generating parameters.

    Driver k: ``a1 sin(2 pi t / p1 + f1) + a2 sin(2 pi t / p2 + f2) + AR(1)`` (periods in [12, 96],
    AR coefficient 0.9, innovation std 0.1). Variate n: ``gain_n * driver_{d(n)}(t - lag_n) + noise * eps``
    with ``d(n) = n mod num_drivers``, ``lag_n`` in [0, max_lag], ``gain_n`` in +-[0.5, 1.5]. Distractors:
    AR(1) noise of unit-order variance unrelated to the drivers.
    """
    rng = np.random.default_rng(seed)
    total = length + max_lag
    t = np.arange(total, dtype=np.float64)
    drivers = np.empty((num_drivers, total))
    periods = rng.uniform(12.0, 96.0, (num_drivers, 2))
    for k in range(num_drivers):
        amp = rng.uniform(0.5, 1.5, 2)
        phase = rng.uniform(0.0, 2 * np.pi, 2)
        drivers[k] = sum(amp[i] * np.sin(2 * np.pi * t / periods[k, i] + phase[i]) for i in range(2))
        drivers[k] += _ar1(rng, total, 0.9, 0.1)
    lags = rng.integers(0, max_lag + 1, num_variates)
    gains = rng.uniform(0.5, 1.5, num_variates) * rng.choice([-1.0, 1.0], num_variates)
    which = np.arange(num_variates) % num_drivers
    values = np.empty((length, num_variates + distractors))
    for n in range(num_variates):
        start = max_lag - lags[n]  # value at output step s is the driver at step s - lag_n
        values[:, n] = gains[n] * drivers[which[n], start : start + length] + noise * rng.normal(size=length)
    for j in range(distractors):
        values[:, num_variates + j] = _ar1(rng, length, 0.9, 0.45)
    params = {"driver_of": which.tolist(), "lags": lags.tolist(), "gains": gains.tolist(),
              "periods": periods.tolist()}
    return values, params


def time_features(length: int) -> np.ndarray:
    """``(length, 4)`` float32: sin and cos of the step's phase in periods of 24 and 96 steps."""
    t = np.arange(length, dtype=np.float64)[:, None]
    angles = 2 * np.pi * t / np.array([24.0, 96.0])
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=1).astype(np.float32)


class LaggedMultivariateDataset(InMemoryDataset):
    """``lagged_multivariate``: windows ``x`` ``(lookback, N)`` -> ``y`` ``(horizon, N)`` (task 'forecasting'),
    chronological train | val | test segments, z-scored with the train segment's statistics; with
    ``covariates`` also ``x_mark`` ``(lookback, 4)`` time features."""

    Config = LaggedMultivariateConfig
    config: LaggedMultivariateConfig

    def build(self) -> tuple[dict[str, TensorSplit], dict[str, Any]]:
        c = self.config
        values, params = lagged_multivariate(num_variates=c.num_variates, num_drivers=c.num_drivers,
                                             length=c.length, max_lag=c.max_lag, noise=c.noise,
                                             distractors=c.distractors, seed=c.seed)
        n_train, n_val, _ = split_sizes(c.length, c.val_fraction, c.test_fraction)
        segments = {"train": (0, n_train), "val": (n_train, n_train + n_val), "test": (n_train + n_val, c.length)}
        span = c.lookback + c.horizon
        short = [s for s, (a, b) in segments.items() if b - a < span]
        if short:
            from forwardkit.errors import ForwardkitError

            raise ForwardkitError(f"lagged_multivariate: segment(s) {short} are shorter than lookback + horizon = "
                                  f"{span}; raise length or lower lookback/horizon")
        mean, std = fit_standardizer(values[:n_train], axis=0)
        scaled = (values - mean) / std
        marks = time_features(c.length)
        splits: dict[str, TensorSplit] = {}
        for name, (a, b) in segments.items():
            starts, x, y = make_windows(scaled[a:b], c.lookback, c.horizon, c.stride)
            extra: dict[str, torch.Tensor] = {}
            if c.covariates:
                idx = (starts[:, None] + a + np.arange(c.lookback))
                extra["x_mark"] = torch.from_numpy(marks[idx])
            splits[name] = TensorSplit(torch.from_numpy(x.astype(np.float32)),
                                       torch.from_numpy(y.astype(np.float32)), **extra)
        n_all = c.num_variates + c.distractors
        info = {"generator": params, "variates": [f"v{i}" for i in range(n_all)], "targets": "all",
                "target_index": list(range(n_all)), "segments": {s: list(v) for s, v in segments.items()},
                "lookback": c.lookback, "horizon": c.horizon, "covariates": c.covariates}
        return splits, {"task": "forecasting", "extra": info}
