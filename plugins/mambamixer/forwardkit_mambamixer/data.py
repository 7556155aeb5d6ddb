"""The card's Setup A: variates that select information from two drivers, and variates that are pure noise.

Two latent drivers, each an AR(2) process plus a sinusoid, are observed as variates 0 and 1; the next
``num_mixtures`` variates are noisy mixtures of the drivers lagged by 4-20 steps, with gains of their own; the
last ``num_noise`` variates are white noise a model should ignore ("selection"). The future of a lagged
mixture is partly in the drivers' present, so mixing across variates pays, and mixing in the noise variates
costs. Chronological train | val | test segments (70/10/20), z-scored with the train statistics, windows of
``lookback + horizon`` steps inside each segment.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from forwardkit.data import InMemoryDataset, TensorSplit, split_sizes
from forwardkit.errors import ForwardkitError
from forwardkit_mambamixer.config import LaggedMixturesConfig

__all__ = ["LaggedMixturesDataset", "ar2_sinusoid", "lagged_mixtures", "windows"]


def ar2_sinusoid(rng: np.random.Generator, length: int) -> tuple[np.ndarray, dict[str, float]]:
    """One driver ``(length,)``: ``AR(2)`` (``phi1`` in [0.6, 1.3], ``phi2`` in [-0.7, -0.4]: stationary,
    pseudo-periodic; innovations std 0.3) plus ``a sin(2 pi t / p + f)`` (``a`` in [0.8, 1.5], ``p`` in
    [16, 64] steps)."""
    phi1, phi2 = rng.uniform(0.6, 1.3), rng.uniform(-0.7, -0.4)
    eps = rng.normal(0.0, 0.3, length)
    ar = np.zeros(length)
    for t in range(2, length):
        ar[t] = phi1 * ar[t - 1] + phi2 * ar[t - 2] + eps[t]
    amp, period, phase = rng.uniform(0.8, 1.5), rng.uniform(16.0, 64.0), rng.uniform(0.0, 2 * np.pi)
    wave = amp * np.sin(2 * np.pi * np.arange(length) / period + phase)
    return ar + wave, {"phi1": phi1, "phi2": phi2, "amplitude": amp, "period": period}


def lagged_mixtures(*, length: int, num_mixtures: int, num_noise: int, min_lag: int, max_lag: int, noise: float,
                    seed: int) -> tuple[np.ndarray, dict[str, Any]]:
    """Values ``(length, 2 + num_mixtures + num_noise)`` float64 and the generating parameters (module docstring).

    Mixture j: ``g_j0 d_0(t - lag_j0) + g_j1 d_1(t - lag_j1) + noise * eps``, lags in [min_lag, max_lag], gains
    ``+-[0.5, 1.5]``."""
    rng = np.random.default_rng(seed)
    total = length + max_lag
    drivers, params = zip(*(ar2_sinusoid(rng, total) for _ in range(2)), strict=True)
    lags = rng.integers(min_lag, max_lag + 1, (num_mixtures, 2))
    gains = rng.uniform(0.5, 1.5, (num_mixtures, 2)) * rng.choice([-1.0, 1.0], (num_mixtures, 2))
    columns = [d[max_lag:] for d in drivers]
    for j in range(num_mixtures):
        mix = sum(gains[j, k] * drivers[k][max_lag - lags[j, k] : total - lags[j, k]] for k in range(2))
        columns.append(mix + noise * rng.normal(size=length))
    columns += [rng.normal(size=length) for _ in range(num_noise)]
    info = {"drivers": list(params), "lags": lags.tolist(), "gains": gains.tolist(),
            "roles": ["driver"] * 2 + ["mixture"] * num_mixtures + ["noise"] * num_noise}
    return np.stack(columns, axis=1), info


def windows(values: np.ndarray, lookback: int, horizon: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs ``(n, lookback, M)`` and the following ``horizon`` steps ``(n, horizon, M)`` of ``values`` ``(T, M)``;
    every window lies inside ``values``."""
    span = lookback + horizon
    count = (len(values) - span) // stride + 1 if len(values) >= span else 0
    starts = np.arange(count) * stride
    x = values[starts[:, None] + np.arange(lookback)]
    y = values[starts[:, None] + lookback + np.arange(horizon)]
    return x.reshape(count, lookback, values.shape[1]), y.reshape(count, horizon, values.shape[1])


class LaggedMixturesDataset(InMemoryDataset):
    """``lagged_mixtures``: windows ``x`` ``(lookback, M)`` -> ``y`` ``(horizon, M)`` (task 'forecasting')."""

    Config = LaggedMixturesConfig
    config: LaggedMixturesConfig
    conformance_configs = ({"length": 240, "lookback": 16, "horizon": 4, "stride": 2},)

    def build(self) -> tuple[dict[str, TensorSplit], dict[str, Any]]:
        c = self.config
        values, info = lagged_mixtures(length=c.length, num_mixtures=c.num_mixtures, num_noise=c.num_noise,
                                       min_lag=c.min_lag, max_lag=c.max_lag, noise=c.noise, seed=c.seed)
        n_train, n_val, _ = split_sizes(c.length, c.val_fraction, c.test_fraction)
        segments = {"train": (0, n_train), "val": (n_train, n_train + n_val), "test": (n_train + n_val, c.length)}
        span = c.lookback + c.horizon
        short = [s for s, (a, b) in segments.items() if b - a < span]
        if short:
            raise ForwardkitError(f"lagged_mixtures: segment(s) {short} are shorter than lookback + horizon = {span}; "
                                  "raise length or lower lookback/horizon")
        train = values[:n_train]
        mean, std = train.mean(axis=0), train.std(axis=0)
        scaled = (values - mean) / np.where(std > 0, std, 1.0)
        splits = {}
        for name, (a, b) in segments.items():
            x, y = windows(scaled[a:b], c.lookback, c.horizon, c.stride)
            splits[name] = TensorSplit(torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y.astype(np.float32)))
        m = values.shape[1]
        extra = {"generator": info, "variates": [f"v{i}" for i in range(m)], "target_index": list(range(m)),
                 "segments": {s: list(v) for s, v in segments.items()}, "lookback": c.lookback, "horizon": c.horizon}
        return splits, {"task": "forecasting", "extra": extra}
