"""Forecasting windows over real series that ship with statsmodels (``timeseries``).

Pipeline: load the series as ``(T, V)`` values with time labels, apply ``transform`` (differences),
cut it chronologically into train | val | test segments, fit the per-variate mean and std on the train
segment only, standardise, and slide windows of ``lookback + horizon`` steps (``stride`` apart) inside
each segment. No window crosses a segment boundary, and nothing from val or test enters the scaler.

Items: ``"x"`` float32 ``(lookback, V)``, ``"y"`` float32 ``(horizon, V_targets)``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import torch
from torch import Tensor

from forwardkit.errors import ForwardkitError
from forwardkit_datasets.common import InMemoryDataset, TensorSplit, fit_standardizer, load_offline, split_sizes
from forwardkit_datasets.config import TimeSeriesConfig

__all__ = ["SERIES", "TimeSeriesDataset", "WindowSplit", "load_series", "make_windows"]

MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]

#: what each series is, its frequency and its default variates (every value column)
SERIES: dict[str, dict[str, Any]] = {
    "macrodata": {
        "description": "US macroeconomic data 1959Q1-2009Q3 (FRED, BLS)",
        "frequency": "quarterly",
        "columns": [
            "realgdp",
            "realcons",
            "realinv",
            "realgovt",
            "realdpi",
            "cpi",
            "m1",
            "tbilrate",
            "unemp",
            "pop",
            "infl",
            "realint",
        ],
    },
    "elnino": {
        "description": "Nino 1+2 sea surface temperature 1950-2010 (NOAA ERSST.V3B)",
        "frequency": "monthly ('flat') or yearly with 12 month variates ('months')",
        "columns": ["sst"],
    },
    "co2": {
        "description": "Mauna Loa atmospheric CO2 1958-2001, weekly (Keeling and Whorf); gaps interpolated",
        "frequency": "weekly",
        "columns": ["co2"],
    },
    "sunspots": {
        "description": "yearly sunspot activity 1700-2008 (NOAA NGDC)",
        "frequency": "yearly",
        "columns": ["SUNACTIVITY"],
    },
    "nile": {
        "description": "yearly Nile flow at Aswan 1871-1970 (Cobb 1978)",
        "frequency": "yearly",
        "columns": ["volume"],
    },
}


@lru_cache(maxsize=16)
def _load_frame(series: str) -> Any:
    def load() -> Any:
        import statsmodels.datasets as smd

        return getattr(smd, series).load_pandas().data

    return load_offline("timeseries", f"statsmodels.datasets.{series}", "statsmodels", load)


def load_series(series: str, layout: str = "flat") -> tuple[np.ndarray, list[str], list[str]]:
    """The raw series: values float64 ``(T, V)``, variate names, and one time label per step."""
    if series not in SERIES:
        raise ForwardkitError(f"unknown series {series!r}; choose from: {', '.join(SERIES)}")
    df = _load_frame(series)
    if series == "macrodata":
        cols = SERIES["macrodata"]["columns"]
        labels = [f"{int(y)}Q{int(q)}" for y, q in zip(df["year"], df["quarter"], strict=True)]
        return df[cols].to_numpy(np.float64), list(cols), labels
    if series == "elnino":
        years = [int(y) for y in df["YEAR"]]
        if layout == "months":
            return df[MONTHS].to_numpy(np.float64), list(MONTHS), [str(y) for y in years]
        values = df[MONTHS].to_numpy(np.float64).reshape(-1, 1)
        labels = [f"{y}-{m:02d}" for y in years for m in range(1, 13)]
        return values, ["sst"], labels
    if series == "co2":
        filled = df["co2"].interpolate(method="linear", limit_direction="both")
        labels = [str(t.date()) for t in df.index]
        return filled.to_numpy(np.float64).reshape(-1, 1), ["co2"], labels
    if series == "sunspots":
        return df[["SUNACTIVITY"]].to_numpy(np.float64), ["SUNACTIVITY"], [str(int(y)) for y in df["YEAR"]]
    return df[["volume"]].to_numpy(np.float64), ["volume"], [str(int(y)) for y in df["year"]]


def make_windows(
    values: np.ndarray, lookback: int, horizon: int, stride: int = 1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Windows inside ``values`` ``(L, V)``: starts ``(n,)``, inputs ``(n, lookback, V)`` and the
    following ``horizon`` steps ``(n, horizon, V)``; every window lies entirely in ``values``."""
    span = lookback + horizon
    count = (len(values) - span) // stride + 1 if len(values) >= span else 0
    starts = np.arange(count, dtype=np.int64) * stride
    x = values[starts[:, None] + np.arange(lookback)]
    y = values[starts[:, None] + lookback + np.arange(horizon)]
    return starts, x.reshape(count, lookback, values.shape[1]), y.reshape(count, horizon, values.shape[1])


class WindowSplit(TensorSplit):
    """A split of forecasting windows; ``starts`` holds each window's first step in the whole series and
    ``segment`` the ``[start, stop)`` steps of the split's segment."""

    def __init__(self, x: Tensor, y: Tensor, *, starts: np.ndarray, segment: tuple[int, int]) -> None:
        super().__init__(x, y)
        self.starts = starts
        self.segment = segment


class TimeSeriesDataset(InMemoryDataset):
    """``timeseries``: chronological forecasting windows over a statsmodels series (task 'forecasting')."""

    Config = TimeSeriesConfig

    def prepare(self) -> tuple[np.ndarray, list[str], list[str]]:
        """The selected variates after ``transform`` (not yet standardised), their names and time labels."""
        c = self.config
        values, names, labels = load_series(c.series, c.layout)
        if c.columns is not None:
            unknown = [col for col in c.columns if col not in names]
            if unknown:
                raise ForwardkitError(
                    f"timeseries {c.series!r} has no column(s) {unknown}; its columns are: {', '.join(names)}"
                )
            values = values[:, [names.index(col) for col in c.columns]]
            names = list(c.columns)
        if c.transform == "log_diff":
            bad = [n for n, low in zip(names, values.min(axis=0), strict=True) if low <= 0]
            if bad:
                raise ForwardkitError(f"transform='log_diff' needs positive values, but {bad} of {c.series!r} are not")
            values = np.diff(np.log(values), axis=0)
            labels = labels[1:]
        elif c.transform == "diff":
            values = np.diff(values, axis=0)
            labels = labels[1:]
        return values, names, labels

    def build(self) -> tuple[dict[str, TensorSplit], dict[str, Any]]:
        c = self.config
        values, names, labels = self.prepare()
        targets = list(c.targets) if c.targets is not None else list(names)
        missing = [t for t in targets if t not in names]
        if missing:
            raise ForwardkitError(f"targets {missing} are not among the variates {names}")
        target_index = [names.index(t) for t in targets]
        T = len(values)
        n_train, n_val, _ = split_sizes(T, c.val_fraction, c.test_fraction)
        segments = {"train": (0, n_train), "val": (n_train, n_train + n_val), "test": (n_train + n_val, T)}
        if c.standardize:
            mean, std = fit_standardizer(values[:n_train], axis=0)
        else:
            mean, std = np.zeros(values.shape[1]), np.ones(values.shape[1])
        scaled = (values - mean) / std
        span = c.lookback + c.horizon
        splits: dict[str, TensorSplit] = {}
        for split, (start, stop) in segments.items():
            if stop - start < span and (stop > start or split == "train"):
                raise ForwardkitError(
                    f"timeseries {c.series!r}: the {split} segment has {stop - start} steps (of {T}), fewer than "
                    f"lookback + horizon = {span}; lower lookback/horizon (at most {stop - start} together) or "
                    f"give the {split} split a larger fraction"
                )
            starts, x, y = make_windows(scaled[start:stop], c.lookback, c.horizon, c.stride)
            y = y[:, :, target_index]
            splits[split] = WindowSplit(
                torch.from_numpy(x.astype(np.float32)),
                torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32)),
                starts=starts + start,
                segment=(start, stop),
            )
        extra = {
            "source": f"statsmodels.datasets.{c.series}",
            "license": "public domain (see the statsmodels dataset's COPYRIGHT)",
            "description": SERIES[c.series]["description"],
            "variates": names,
            "targets": targets,
            "target_index": target_index,
            "transform": c.transform,
            "scaler": {"mean": [float(v) for v in mean], "std": [float(v) for v in std], "fitted_on": "train"},
            "segments": {s: list(seg) for s, seg in segments.items()},
            "time_range": {s: [labels[a], labels[b - 1]] if b > a else [] for s, (a, b) in segments.items()},
            "lookback": c.lookback,
            "horizon": c.horizon,
            "stride": c.stride,
        }
        return splits, {"task": "forecasting", "extra": extra}

    def inverse_transform(self, y: Tensor) -> Tensor:
        """Undo the standardisation of targets ``(..., V_targets)`` (not the differencing)."""
        scaler = self.metadata.extra["scaler"]
        idx = self.metadata.extra["target_index"]
        mean = torch.tensor([scaler["mean"][i] for i in idx], dtype=y.dtype, device=y.device)
        std = torch.tensor([scaler["std"][i] for i in idx], dtype=y.dtype, device=y.device)
        return y * std + mean
