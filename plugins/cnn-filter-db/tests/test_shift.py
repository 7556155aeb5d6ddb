"""Distribution shift: D(P||P) = 0, D >= 0, monotone in a shift, the analyzer on trained vs initial."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from forwardkit_cnn_filter_db.config import FilterShiftConfig
from forwardkit_cnn_filter_db.shift import (
    FilterShift,
    distribution_shift,
    kde_bandwidth,
    kde_on_grid,
    peak_scale,
    pooled_pca,
    shift_matrix,
    weighted_kl,
)

import forwardkit

RNG = np.random.default_rng(1)


def test_peak_scaling() -> None:
    f = RNG.standard_normal((20, 9))
    f[3] = 0.0
    s = peak_scale(f)
    assert np.abs(s).max() == pytest.approx(1.0) and not s[3].any()
    np.testing.assert_allclose(np.abs(s[[0, 1]]).max(axis=1), 1.0)


def test_kde_integrates_to_one() -> None:
    grid = np.linspace(-3.5, 3.5, 1024)
    v = RNG.standard_normal(5000)
    d = kde_on_grid(v, grid, kde_bandwidth(v))
    assert d.sum() * (grid[1] - grid[0]) == pytest.approx(1.0)
    assert grid[d.argmax()] == pytest.approx(0.0, abs=0.25)


def test_self_divergence_is_zero_and_shifted_sets_are_positive() -> None:
    p = RNG.standard_normal((3000, 9))
    assert distribution_shift(p, p) == {"pq": 0.0, "qp": 0.0, "sym": 0.0}
    q = RNG.standard_normal((3000, 9)) + np.array([1.5] + [0.0] * 8)
    d = distribution_shift(p, q)
    assert d["pq"] > 0.05 and d["qp"] > 0.05
    m = shift_matrix({"a": p, "b": q, "c": RNG.standard_normal((3000, 9))})
    assert (m.kl >= 0).all() and np.diag(m.kl).sum() == 0
    assert m.between("a", "c") < m.between("a", "b")


def test_divergence_grows_monotonically_with_the_shift() -> None:
    cfg = FilterShiftConfig()
    grid = np.linspace(*cfg.grid_range, cfg.grid_points)
    dx = grid[1] - grid[0]
    coeffs = 0.5 * RNG.standard_normal((4000, 9))
    weights = pooled_pca([coeffs]).ratios

    def dens(c: np.ndarray) -> np.ndarray:
        return np.stack([kde_on_grid(c[:, i], grid, kde_bandwidth(c[:, i])) for i in range(9)])

    base = dens(coeffs)
    values = [weighted_kl(base, dens(coeffs + delta), weights, dx) for delta in (0.0, 0.1, 0.3, 0.6, 1.0)]
    assert values[0] == 0.0 and all(b > a for a, b in itertools.pairwise(values))


def test_analyzer_layers_and_init_reference() -> None:
    model = forwardkit.create("model", "filter_cnn", width=4, depth=3)
    analysis = FilterShift(plots=True).analyze(model)
    n = analysis.numbers
    assert n["n_groups"] == 3 and "kl/layer0/layer2" in n and n["first_last"] >= 0
    # an untrained model against a fresh draw of the same initialiser: deep layers barely differ
    assert n["vs_init/layer2"] < 0.05
    assert {"kl_matrix", "densities"} <= set(analysis.figures)
    buckets = FilterShift(group_by="depth_bucket", depth_buckets=2, reference="none", plots=False).analyze(model)
    assert buckets.numbers["n_groups"] == 2 and "vs_init/mean" not in buckets.numbers
