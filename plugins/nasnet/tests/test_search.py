"""The random cell search and its accounting (cell_search analyzer, its functional form, the arms' picks)."""

from __future__ import annotations

from typing import Any

import torch
from forwardkit_nasnet.genotypes import random_pair
from forwardkit_nasnet.network import TINY_NASNET
from forwardkit_nasnet.search import (
    ProxyData,
    batches_proxy,
    median_row,
    pick,
    random_candidates,
    random_search,
)

import forwardkit


def _separable(n: int = 64, seed: int = 0) -> ProxyData:
    """Two classes told apart by the mean brightness of 6 x 6 images: learnable in a few steps."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (2 * n,), generator=g)
    x = torch.randn(2 * n, 6, 6, 1, generator=g) * 0.3 + (y.float() * 2 - 1).view(-1, 1, 1, 1)
    return ProxyData(x[:n], y[:n], x[n:], y[n:], 2)


def test_random_search_ranks_the_candidates_and_counts_params_and_macs():
    cands = random_candidates(2, seed=1)
    assert [c.seed for c in cands] == [1000, 1001] and (cands[0].normal, cands[0].reduction) == random_pair(1000)
    kw: dict[str, Any] = {"filters": 4, "num_cells": 1, "stem_multiplier": 1.0, "epochs": 3, "batch_size": 32}
    rows = random_search(cands, _separable(), **kw)
    accs = [r["proxy_accuracy"] for r in rows]
    assert accs == sorted(accs, reverse=True) and [r["rank"] for r in rows] == [1, 2]
    assert all(r["params"] > 0 and r["macs"] > 0 for r in rows)
    assert max(accs) > 0.9  # the proxy is learnable: training happened
    # the same seeds give the same search
    again = random_search(cands[:1], _separable(), **kw)
    assert again[0]["proxy_accuracy"] == next(r for r in rows if r["name"] == "random_1000")["proxy_accuracy"]


def test_median_and_picks():
    rows = [{"name": f"random_{i}", "proxy_accuracy": 1 - i / 10, "rank": i + 1} for i in range(4)]
    rows.insert(1, {"name": "nasnet_a", "proxy_accuracy": 0.95, "rank": 2})
    assert pick(rows, "best")["name"] == "random_0" and pick(rows, "nasnet_a")["name"] == "nasnet_a"
    assert pick(rows, "median")["name"] == "random_1"  # rank ceil(4 / 2) = 2 among the 4 random ones
    assert median_row(rows[:3])["name"] == "nasnet_a"


def test_analyzer_reports_the_models_rank_among_random_cells():
    model = forwardkit.build_model({**TINY_NASNET, "num_classes": 2, "image_size": [6, 6]})
    data = _separable(48)
    batches = [{"x": data.train_x, "y": data.train_y}, {"x": data.val_x, "y": data.val_y}]
    analyzer = forwardkit.create("analyzer", "cell_search", budget_candidates=2, proxy_epochs=1, filters=4,
                                 num_cells=1, stem_multiplier=1.0, batch_size=16, figure=False)
    result = analyzer.analyze(model, batches)
    n = result.numbers
    assert n["candidates"] == 2 and 1 <= n["model_rank"] <= 3
    assert n["best_proxy_accuracy"] >= n["median_proxy_accuracy"] >= n["worst_proxy_accuracy"]
    assert n["model_params"] > 0 and n["model_macs_over_median"] > 0
    assert {r["name"] for r in result.tables["candidates"]} == {"random_0", "random_1", "model"}
    assert batches_proxy(batches).train_x.shape[0] == 48
