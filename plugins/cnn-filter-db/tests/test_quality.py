"""Degeneracy measures: sparsity, variance entropy, tau(N), orthogonality and the degeneracy flags."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from forwardkit_cnn_filter_db.quality import (
    FilterQuality,
    entropy_baseline,
    layer_quality,
    normalized_variance_entropy,
    orthogonality,
    sparsity,
    variance_entropy,
)
from torch import nn

RNG = np.random.default_rng(0)


def test_sparsity_special_cases_and_scale_invariance() -> None:
    assert sparsity(np.zeros((4, 2, 3, 3)))[0] == 1.0
    assert sparsity(np.full((4, 2, 3, 3), -0.3))[0] == 0.0
    w = RNG.standard_normal((8, 4, 3, 3))
    w[:3] *= 1e-4  # output channels 0..2: 12 of 32 filters far below 1% of the layer's peak
    value, mask = sparsity(w, 0.01)
    assert value == pytest.approx(12 / 32) and mask[:12].all() and not mask[12:].any()
    assert sparsity(w * 7.5, 0.01)[0] == value
    assert sparsity(w, 1e-6)[0] == 0.0  # eps matters


def test_variance_entropy_extremes() -> None:
    base = RNG.standard_normal(9)
    collinear = RNG.standard_normal((50, 1)) * base
    assert variance_entropy(collinear) == pytest.approx(0.0, abs=1e-9)
    iid = RNG.standard_normal((100_000, 9))
    assert variance_entropy(iid) == pytest.approx(math.log10(9), abs=0.01)
    w = RNG.standard_normal((64, 9))
    assert variance_entropy(w * 1e3) == pytest.approx(variance_entropy(w))
    assert variance_entropy(np.zeros((10, 9))) == 0.0
    low_rank = RNG.standard_normal((40, 2)) @ RNG.standard_normal((2, 9))  # 7 zero variance ratios
    h = variance_entropy(low_rank)
    assert np.isfinite(h) and 0 < h <= math.log10(2) + 1e-9
    assert variance_entropy(w, log_base=math.e) == pytest.approx(variance_entropy(w) * math.log(10))


def test_concentrated_filters_have_low_normalised_entropy() -> None:
    shape = RNG.standard_normal(9)
    concentrated = RNG.standard_normal((256, 1)) * shape + 0.02 * RNG.standard_normal((256, 9))
    assert normalized_variance_entropy(concentrated) < 0.3
    assert normalized_variance_entropy(RNG.standard_normal((4096, 9))) == pytest.approx(1.0, abs=0.02)


@pytest.mark.parametrize("n", [16, 256, 65536])
def test_tau_matches_the_closed_form(n: int) -> None:
    lc, x0, k, b = 1.2618047, 2.30436435, 0.88767525, -0.31050834
    assert entropy_baseline(n) == pytest.approx(lc / (1 + math.exp(-k * (math.log2(n) - x0))) + b, rel=1e-12)


def test_orthogonality() -> None:
    q, _ = np.linalg.qr(RNG.standard_normal((18, 6)))
    assert orthogonality(q.T.reshape(6, 2, 3, 3)) == pytest.approx(1.0, abs=1e-6)
    same = np.tile(RNG.standard_normal((1, 18)), (5, 1))
    assert orthogonality(same) == pytest.approx(0.0, abs=1e-9)
    w = RNG.standard_normal((7, 18))
    assert orthogonality(w * 3.0) == pytest.approx(orthogonality(w))
    # library behaviour: an all-zero output filter adds |0 - 1| on the diagonal
    q4 = q.T[:4].copy()
    q4[3] = 0.0
    assert orthogonality(q4) == pytest.approx(1.0 - 1.0 / 12)


def test_degeneracy_flags() -> None:
    w = RNG.standard_normal((16, 8, 3, 3))
    w[2:] = 0.0  # mostly-zero filters
    q = layer_quality(w)
    assert q["sparsity"] == pytest.approx(7 / 8) and q["degenerate"] == 1.0 and "sparse" in q["reasons"]
    random_like = layer_quality(RNG.standard_normal((64, 32, 3, 3)))
    assert random_like["degenerate"] == 1.0 and random_like["reasons"] == "random-like"
    structured = RNG.standard_normal((64 * 32, 1)) * RNG.standard_normal(9) + 0.3 * RNG.standard_normal((2048, 9))
    assert layer_quality(structured.reshape(64, 32, 3, 3))["reasons"] == "low-diversity"
    mid = RNG.standard_normal((2048, 3)) @ RNG.standard_normal((3, 9)) + 0.3 * RNG.standard_normal((2048, 9))
    assert layer_quality(mid.reshape(64, 32, 3, 3))["degenerate"] == 0.0


def test_analyzer_flags_a_mostly_zero_layer() -> None:
    net = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Conv2d(8, 16, 3))
    with torch.no_grad():
        net[2].weight[2:] = 0.0
    analysis = FilterQuality(plots=True).analyze(net, [torch.randn(2, 1, 8, 8)])
    n = analysis.numbers
    assert n["layer1/degenerate"] == 1.0 and n["layer1/sparsity"] == pytest.approx(14 / 16)
    assert n["layer0/sparsity"] == 0.0 and n["n_layers"] == 2.0
    assert len(analysis.tables["layers"]) == 2 and "quality" in analysis.figures
    analysis.close() if hasattr(analysis, "close") else None
