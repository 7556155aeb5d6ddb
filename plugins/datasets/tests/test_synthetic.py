"""The core synthetic datasets carry learnable signal, and the sequence targets need several positions."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LinearRegression, LogisticRegression


def _xy(ds, split: str) -> tuple[np.ndarray, np.ndarray]:
    data = ds.split(split)
    return data.x.reshape(len(data), -1).numpy(), data.y.numpy()


def test_blobs_logistic_regression_beats_chance(make) -> None:
    for config in ({}, {"image_size": 8, "image_channels": 1, "num_classes": 5}):
        ds = make("blobs", **config)
        k = ds.metadata.num_classes
        clf = LogisticRegression(max_iter=500).fit(*_xy(ds, "train"))
        accuracy = clf.score(*_xy(ds, "test"))
        assert accuracy > 0.85 > 1.0 / k, (config, accuracy)


def test_blobs_without_separation_is_chance(make) -> None:
    ds = make("blobs", separation=0.0, n_samples=2000)
    clf = LogisticRegression(max_iter=500).fit(*_xy(ds, "train"))
    assert clf.score(*_xy(ds, "test")) < 0.25 + 0.1


def test_blobs_with_several_clusters_need_a_nonlinear_model(make) -> None:
    ds = make("blobs", n_features=2, clusters_per_class=8, num_classes=2, n_samples=2000, separation=6.0, noise=0.5)
    linear = LogisticRegression(max_iter=500).fit(*_xy(ds, "train")).score(*_xy(ds, "test"))
    xtr, ytr = _xy(ds, "train")
    xte, yte = _xy(ds, "test")
    # 1-nearest-neighbour on the training set (non-linear)
    nearest = ytr[((xte[:, None, :] - xtr[None, :, :]) ** 2).sum(-1).argmin(1)]
    assert (nearest == yte).mean() > linear + 0.1


def test_count_compare_needs_the_whole_sequence(make) -> None:
    ds = make("sequence")
    x, y = ds.split("train").x.numpy(), ds.split("train").y.numpy()
    xt, yt = ds.split("test").x.numpy(), ds.split("test").y.numpy()
    # the rule: count A and count B over all positions
    rule = (xt[..., 0].sum(1) > xt[..., 1].sum(1)).astype(int)
    assert (rule == yt).all()
    # no single position predicts the label: the best per-position lookup table is near chance
    symbol, symbol_t = x.argmax(-1), xt.argmax(-1)
    best = 0.0
    for i in range(x.shape[1]):
        table = np.array([np.round(y[symbol[:, i] == s].mean()) if (symbol[:, i] == s).any() else 0 for s in range(4)])
        best = max(best, float((table[symbol_t[:, i]] == yt).mean()))
    assert best < 0.65
    # a linear model on every position learns it (counting is linear in the one-hot inputs)
    clf = LogisticRegression(max_iter=1000).fit(x.reshape(len(x), -1), y)
    assert clf.score(xt.reshape(len(xt), -1), yt) > 0.9


def test_marked_sum_needs_two_positions(make) -> None:
    ds = make("sequence", task="marked_sum", n_samples=3000)
    x, y = ds.split("train").x.numpy(), ds.split("train").y.numpy()[:, 0]
    marked = x[..., 1] == 1.0
    assert (marked.sum(1) == 2).all()
    np.testing.assert_allclose((x[..., 0] * marked).sum(1), y, atol=1e-5)
    corr = [abs(np.corrcoef(x[:, i, 0], y)[0, 1]) for i in range(x.shape[1])]
    assert max(corr) < 0.35  # any one position explains little
    # without mixing the marker into the values, a linear model fails (the target is multiplicative)
    r2 = LinearRegression().fit(x.reshape(len(x), -1), y).score(x.reshape(len(x), -1), y)
    assert r2 < 0.2
