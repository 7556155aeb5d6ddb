"""Filter-distribution shift (paper Sec. 4, "Distribution shifts") and the ``FilterShift`` analyzer.

Pipeline for groups of filters ``F_g`` ``(N_g, 9)``:

1. every filter is divided by its own peak ``max |w|`` (all-zero filters stay zero), so values lie in
   ``[-1, 1]``;
2. a PCA with 9 components is fitted on the pooled filters of all groups: basis ``u_i`` and explained
   variance ratios ``rho_i``; coefficients ``c_i = <f, u_i>`` (``|c_i| <= 3`` after peak scaling);
3. per group and component, a Gaussian KDE of the coefficients on a common grid (linear binning + FFT
   convolution, O(N + G log G));
4. ``D(P || Q) = sum_i rho_i KL(p_i || q_i)`` with ``eps`` added to the densities; KL is asymmetric,
   so both directions and their mean are reported.

The weighting and the per-component 1-D KDE follow the spec card's reading of the paper (the card
marks it as a recollection to verify; see the README's deviations).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from forwardkit.interfaces import Analysis, Analyzer
from forwardkit_cnn_filter_db.config import FilterShiftConfig
from forwardkit_cnn_filter_db.extract import FilterTable, extract_table

__all__ = [
    "FilterShift",
    "PooledPCA",
    "ShiftMatrix",
    "distribution_shift",
    "fresh_init",
    "kde_bandwidth",
    "kde_on_grid",
    "kl_on_grid",
    "peak_scale",
    "pooled_pca",
    "shift_matrix",
    "weighted_kl",
]


def peak_scale(filters: np.ndarray) -> np.ndarray:
    """Each row of ``filters`` ``(N, k)`` divided by its max ``|w|`` (zero rows unchanged), in ``[-1, 1]``."""
    f = np.asarray(filters, dtype=np.float64)
    peak = np.abs(f).max(axis=1, keepdims=True) if f.size else np.ones((len(f), 1))
    return np.divide(f, peak, out=np.zeros_like(f), where=peak > 0)


@dataclass
class PooledPCA:
    """Principal axes ``components`` ``(k, k)`` (rows ``u_i``, by decreasing variance) and ``ratios`` ``(k,)``."""

    components: np.ndarray
    ratios: np.ndarray

    def coefficients(self, filters: np.ndarray) -> np.ndarray:
        """``c_i = <f, u_i>``: ``(N, k)`` coefficients of ``filters`` ``(N, k)``."""
        return np.asarray(filters, dtype=np.float64) @ self.components.T


def pooled_pca(groups: Sequence[np.ndarray]) -> PooledPCA:
    """PCA of the rows of all ``groups`` pooled (eigen-decomposition of the pooled covariance, O(N k^2))."""
    pooled = np.concatenate([np.asarray(g, dtype=np.float64) for g in groups])
    k = pooled.shape[1]
    if len(pooled) < 2:
        return PooledPCA(np.eye(k), np.full(k, 1.0 / k))
    mean = pooled.mean(axis=0)
    cov = (pooled.T @ pooled - len(pooled) * np.outer(mean, mean)) / (len(pooled) - 1)
    vals, vecs = np.linalg.eigh((cov + cov.T) / 2)
    order = np.argsort(vals)[::-1]
    vals, vecs = np.clip(vals[order], 0.0, None), vecs[:, order]
    total = vals.sum()
    ratios = vals / total if total > 0 else np.full(k, 1.0 / k)
    # a deterministic sign: the largest |entry| of every axis is positive
    signs = np.sign(vecs[np.abs(vecs).argmax(axis=0), np.arange(k)])
    signs[signs == 0] = 1.0
    return PooledPCA((vecs * signs).T, ratios)


def kde_bandwidth(values: np.ndarray, rule: str | float = "silverman") -> float:
    """Gaussian KDE bandwidth of 1-D ``values``: Silverman ``0.9 min(sd, IQR/1.34) n^-1/5``, Scott
    ``1.06 sd n^-1/5``, or a fixed float; 0 for constant data (the caller floors it at the grid step)."""
    if not isinstance(rule, str):
        return float(rule)
    v = np.asarray(values, dtype=np.float64)
    n = len(v)
    if n < 2:
        return 0.0
    sd = float(v.std(ddof=1))
    if rule == "scott":
        return 1.06 * sd * n ** (-0.2)
    q75, q25 = np.percentile(v, [75, 25])
    spread = min(sd, (q75 - q25) / 1.34) or sd
    return 0.9 * spread * n ** (-0.2)


def kde_on_grid(values: np.ndarray, grid: np.ndarray, bandwidth: float) -> np.ndarray:
    """Gaussian KDE of ``values`` ``(n,)`` on the uniform ``grid`` ``(G,)``, normalised to integrate to 1.

    Linear binning onto the grid (values outside it are clipped to its ends), then an FFT convolution
    with the kernel sampled on the grid; bandwidths below the grid step are raised to the step.
    """
    from scipy.signal import fftconvolve

    v = np.asarray(values, dtype=np.float64)
    g = len(grid)
    dx = float(grid[1] - grid[0])
    if len(v) == 0:
        return np.full(g, 1.0 / (dx * g))
    pos = np.clip((v - grid[0]) / dx, 0.0, g - 1.0)
    lo = np.minimum(np.floor(pos).astype(np.int64), g - 2)
    frac = pos - lo
    counts = np.bincount(lo, weights=1.0 - frac, minlength=g) + np.bincount(lo + 1, weights=frac, minlength=g)
    bw = max(float(bandwidth), dx)
    half = min(g - 1, math.ceil(5.0 * bw / dx))
    offsets = np.arange(-half, half + 1) * dx
    kernel = np.exp(-0.5 * (offsets / bw) ** 2)
    density = np.clip(fftconvolve(counts, kernel, mode="same"), 0.0, None)
    return density / (density.sum() * dx)


def kl_on_grid(p: np.ndarray, q: np.ndarray, dx: float, eps: float = 1e-10) -> float:
    """``KL(p || q) = sum (p + eps) log((p + eps) / (q + eps)) dx`` of two densities on one grid (>= 0)."""
    pe, qe = p + eps, q + eps
    return float(max(0.0, np.sum(pe * np.log(pe / qe)) * dx))


def weighted_kl(dens_p: np.ndarray, dens_q: np.ndarray, weights: np.ndarray, dx: float, eps: float = 1e-10) -> float:
    """``sum_i rho_i KL(p_i || q_i)`` over per-component densities ``(k, G)`` with weights ``rho`` ``(k,)``."""
    return float(sum(w * kl_on_grid(a, b, dx, eps) for w, a, b in zip(weights, dens_p, dens_q, strict=True)))


@dataclass
class ShiftMatrix:
    """``kl[a, b] = D(group a || group b)`` ``(g, g)`` for ``names``, with the pooled PCA and densities."""

    names: list[str]
    kl: np.ndarray
    pca: PooledPCA
    grid: np.ndarray
    densities: dict[str, np.ndarray]
    sizes: dict[str, int]

    @property
    def symmetric(self) -> np.ndarray:
        """``(D(a||b) + D(b||a)) / 2``."""
        return (self.kl + self.kl.T) / 2

    def between(self, a: str, b: str, symmetric: bool = True) -> float:
        i, j = self.names.index(a), self.names.index(b)
        return float(self.symmetric[i, j] if symmetric else self.kl[i, j])

    def rows(self) -> list[dict[str, Any]]:
        return [{"p": a, "q": b, "kl": float(self.kl[i, j]), "kl_sym": float(self.symmetric[i, j])}
                for i, a in enumerate(self.names) for j, b in enumerate(self.names) if i != j]


def _prepare(groups: Mapping[str, np.ndarray], cfg: FilterShiftConfig) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(cfg.seed)
    out = {}
    for name, f in groups.items():
        f = np.asarray(f, dtype=np.float64)
        if len(f) > cfg.max_filters_per_group:
            f = f[np.sort(rng.choice(len(f), cfg.max_filters_per_group, replace=False))]
        out[name] = peak_scale(f) if cfg.scale_by_peak else f
    return out


def shift_matrix(groups: Mapping[str, np.ndarray], config: FilterShiftConfig | None = None,
                 **overrides: Any) -> ShiftMatrix:
    """Weighted-KL matrix between named filter groups ``{name: (N_g, k)}`` under one pooled PCA."""
    cfg = config or FilterShiftConfig(**overrides)
    prepared = _prepare(groups, cfg)
    names = list(prepared)
    pca = pooled_pca(list(prepared.values()))
    grid = np.linspace(cfg.grid_range[0], cfg.grid_range[1], cfg.grid_points)
    dx = float(grid[1] - grid[0])
    densities = {}
    for name, f in prepared.items():
        coeffs = pca.coefficients(f)
        densities[name] = np.stack([kde_on_grid(coeffs[:, i], grid, kde_bandwidth(coeffs[:, i], cfg.bandwidth))
                                    for i in range(coeffs.shape[1])])
    g = len(names)
    kl = np.zeros((g, g))
    for i in range(g):
        for j in range(g):
            if i != j:
                kl[i, j] = weighted_kl(densities[names[i]], densities[names[j]], pca.ratios, dx, cfg.eps)
    return ShiftMatrix(names, kl, pca, grid, densities, {n: len(f) for n, f in prepared.items()})


def distribution_shift(p: np.ndarray, q: np.ndarray, config: FilterShiftConfig | None = None,
                       **overrides: Any) -> dict[str, float]:
    """``D(P || Q)``, ``D(Q || P)`` and their mean for two filter sets ``(N_p, k)``, ``(N_q, k)``."""
    m = shift_matrix({"p": p, "q": q}, config, **overrides)
    return {"pq": float(m.kl[0, 1]), "qp": float(m.kl[1, 0]), "sym": float(m.symmetric[0, 1])}


def fresh_init(model: nn.Module, seed: int = 0) -> nn.Module:
    """A copy of ``model`` with freshly drawn initial weights: a forwardkit model is rebuilt from its
    Config (its own initialisers), any other module gets ``reset_parameters()`` on every submodule."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        config = getattr(model, "config", None)
        if config is not None and hasattr(type(model), "Config"):
            try:
                return type(model)(config)
            except Exception:
                pass
        fresh = copy.deepcopy(model)
        for m in fresh.modules():
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
        return fresh


def group_filters(table: FilterTable, config: FilterShiftConfig) -> dict[str, np.ndarray]:
    """Named groups of a table's rows: ``layer<i>`` per layer, or ``depth<b>`` per conv_depth_norm bucket."""
    if config.group_by == "layer":
        return {f"layer{layer.index}": layer.filters for layer in table.layers}
    nb = config.depth_buckets
    buckets: dict[str, list[np.ndarray]] = {}
    for layer in table.layers:
        b = min(int(layer.conv_depth_norm * nb), nb - 1)
        buckets.setdefault(f"depth{b}", []).append(layer.filters)
    return {k: np.concatenate(v) for k, v in sorted(buckets.items())}


class FilterShift(Analyzer):
    """Distribution shift between the filter groups of one model (layers or depth buckets), and with
    ``reference='init'`` between every layer and a fresh initialisation of it (trained vs initial).

    Numbers: ``kl/<a>/<b>`` (``D(a || b)``), ``first_last`` (first vs last group), ``mean_adjacent``,
    ``mean_pairwise``, ``vs_init/<layer>`` and ``vs_init/mean``; symmetric means unless ``symmetric``
    is false (then the forward direction).
    """

    Config = FilterShiftConfig
    config: FilterShiftConfig

    def analyze(self, model: nn.Module, data: Iterable[Any] | None = None) -> Analysis:
        cfg = self.config
        data = list(data) if data is not None else None
        table = extract_table(model, cfg, data=data)
        groups = {k: v for k, v in group_filters(table, cfg).items() if len(v)}
        numbers: dict[str, float] = {"n_groups": float(len(groups)), "n_filters": float(len(table.filters))}
        tables: dict[str, list[dict[str, Any]]] = {}
        figures: dict[str, Any] = {}
        if len(groups) >= 2:
            m = shift_matrix(groups, cfg)
            d = m.symmetric if cfg.symmetric else m.kl
            for row in m.rows():
                numbers[f"kl/{row['p']}/{row['q']}"] = row["kl"]
            names = m.names
            numbers["first_last"] = float(d[0, -1])
            numbers["mean_adjacent"] = float(np.mean([d[i, i + 1] for i in range(len(names) - 1)]))
            numbers["mean_pairwise"] = float(d[~np.eye(len(names), dtype=bool)].mean())
            for i, r in enumerate(m.pca.ratios):
                numbers[f"pca_ratio/{i}"] = float(r)
            tables["shift"] = m.rows()
            if cfg.plots:
                from forwardkit_cnn_filter_db.plots import density_figure, kl_heatmap

                figures["kl_matrix"] = kl_heatmap(d, names, title="filter-distribution shift (weighted KL)")
                figures["densities"] = density_figure(m)
        if cfg.reference == "init" and table.layers:
            init = extract_table(fresh_init(model, cfg.seed), cfg, data=data)
            rows = []
            for trained, fresh in zip(table.layers, init.layers, strict=False):
                s = distribution_shift(trained.filters, fresh.filters, cfg)
                value = s["sym"] if cfg.symmetric else s["pq"]
                numbers[f"vs_init/layer{trained.index}"] = value
                rows.append({"layer": trained.index, "name": trained.name, **s})
            if rows:
                numbers["vs_init/mean"] = float(np.mean([numbers[f"vs_init/layer{r['layer']}"] for r in rows]))
                tables["vs_init"] = rows
        return Analysis(numbers=numbers, tables=tables, figures=figures)
