"""The Riemann (bar) distribution: a density (integrates to 1, bucket-width term), bucket lookup at the borders,
equal-count borders, full-support tails (finite loss far out, mean = numerical integral), cdf / quantile, and the
bar_distribution task (query-only loss, exact metric sums, clear errors)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from forwardkit_pfn.bar import BarDistribution, BarDistributionTask, borders_from_sample, uniform_borders

from forwardkit.errors import ForwardkitError

BORDERS = torch.tensor([-2.0, -1.2, -0.5, -0.1, 0.3, 1.0, 2.5])  # 6 buckets of unequal widths


def _logits(n: int = 4, m: int = 6, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, m, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 1.5


def _integrate(fn, low: float, high: float, n: int = 100_001) -> tuple[np.ndarray, np.ndarray]:
    grid = torch.linspace(low, high, n, dtype=torch.float64)
    return grid.numpy(), fn(grid).numpy()


def test_probabilities_sum_to_one_and_the_density_integrates_to_one():
    bar = BarDistribution(BORDERS, full_support=False).double()
    logits = _logits()
    assert torch.allclose(torch.softmax(logits, -1).sum(-1), torch.ones(4, dtype=torch.float64))
    for row in logits:
        grid, dens = _integrate(lambda g, r=row: bar.pdf(r.expand(g.shape[0], -1), g), -2.0, 2.5)
        assert abs(np.trapezoid(dens, grid) - 1.0) < 1e-3
    # outside [b_0, b_M] the plain bar distribution has no mass
    assert torch.isinf(bar.nll(logits[:1], torch.tensor([3.0], dtype=torch.float64))).all()


def test_one_hot_logits_give_loss_log_width():
    bar = BarDistribution(BORDERS, full_support=False)
    widths = bar.widths
    for m in range(6):
        logits = torch.full((6,), -1e4)
        logits[m] = 1e4
        y = (BORDERS[m] + BORDERS[m + 1]) / 2
        assert torch.allclose(bar.nll(logits, y), torch.log(widths[m]), atol=1e-5)


def test_borders_map_to_the_first_and_last_bucket():
    for full in (False, True):
        bar = BarDistribution(BORDERS, full_support=full)
        idx = bar.bucket_index(torch.tensor([-2.0, 2.5, -1.2, 0.0]))
        # an inner border belongs to the bucket on its left (searchsorted - 1), as the official code
        assert idx.tolist() == [0, 5, 0, 3]


def test_borders_from_a_sample_hold_equal_counts():
    ys = torch.randn(100_000, generator=torch.Generator().manual_seed(3))
    borders = borders_from_sample(ys, 100)
    assert borders.shape == (101,) and float(borders[0]) == float(ys.min()) and float(borders[-1]) == float(ys.max())
    counts = torch.bincount(BarDistribution(borders, full_support=False).bucket_index(ys), minlength=100)
    assert int(counts.max() - counts.min()) <= 1 and int(counts.sum()) == 100_000
    # uneven sizes: the remainder is cut as get_bucket_limits does, counts stay within one of each other
    odd = borders_from_sample(ys[:10_007], 10)
    c = torch.bincount(BarDistribution(odd, full_support=False).bucket_index(ys[:10_000]), minlength=10)
    assert int(c.max() - c.min()) <= 1


def test_full_support_tails_have_finite_loss_and_integrate_to_one():
    bar = BarDistribution(BORDERS, full_support=True).double()
    logits = _logits()
    far = torch.tensor([-50.0, -3.0, 3.0, 60.0], dtype=torch.float64)
    loss = bar.nll(logits, far)
    assert torch.isfinite(loss).all()
    for row in logits:
        grid, dens = _integrate(lambda g, r=row: bar.pdf(r.expand(g.shape[0], -1), g), -30.0, 30.0, 300_001)
        assert abs(np.trapezoid(dens, grid) - 1.0) < 1e-3
        # the tails keep the outer buckets' masses
        p = torch.softmax(row, -1)
        left = np.trapezoid(dens[grid <= -1.2], grid[grid <= -1.2])
        assert abs(left - float(p[0])) < 2e-3


def test_full_support_mean_matches_numerical_integration():
    bar = BarDistribution(BORDERS, full_support=True).double()
    for row in _logits(3, seed=1):
        grid, dens = _integrate(lambda g, r=row: bar.pdf(r.expand(g.shape[0], -1), g), -30.0, 30.0, 300_001)
        assert abs(float(bar.mean(row)) - np.trapezoid(grid * dens, grid)) < 1e-3
    plain = BarDistribution(BORDERS, full_support=False).double()
    for row in _logits(3, seed=2):
        grid, dens = _integrate(lambda g, r=row: plain.pdf(r.expand(g.shape[0], -1), g), -2.0, 2.5)
        assert abs(float(plain.mean(row)) - np.trapezoid(grid * dens, grid)) < 1e-3


@pytest.mark.parametrize("full", [False, True])
def test_quantile_inverts_the_cdf_and_the_mode_has_the_highest_density(full):
    bar = BarDistribution(BORDERS, full_support=full).double()
    logits = _logits(5, seed=4)
    for q in (0.01, 0.1, 0.5, 0.77, 0.99):
        y = bar.quantile(logits, q)
        assert torch.allclose(bar.cdf(logits, y), torch.full((5,), q, dtype=torch.float64), atol=1e-6)
    mode = bar.mode(logits)
    grid = torch.linspace(-4.0, 4.0, 8001, dtype=torch.float64)
    for i in range(5):
        dens = bar.pdf(logits[i].expand(grid.shape[0], -1), grid)
        assert float(bar.pdf(logits[i], mode[i])) >= float(dens.max()) - 1e-6
    assert bar.cdf(logits[:1], torch.tensor([100.0], dtype=torch.float64)).item() == pytest.approx(1.0)


def test_the_task_scores_only_query_points_and_its_metrics_add_up():
    task = BarDistributionTask(borders="uniform", y_range=[-3.0, 3.0], num_buckets=6)
    assert torch.allclose(task.borders, uniform_borders(6, -3.0, 3.0))
    logits, batch = task.example(4, generator=torch.Generator().manual_seed(0))
    loss = task.loss(logits, batch)
    nll = task.bar.nll(logits, batch["y"])
    queries = torch.arange(logits.shape[1]).view(1, -1) >= batch["eval_pos"].view(-1, 1)
    assert torch.allclose(loss, nll[queries].mean())
    # changing a training point's y changes nothing
    y2 = batch["y"].clone()
    y2[~queries] += 5.0
    assert torch.allclose(task.loss(logits, {**batch, "y": y2}), loss)
    sums = task.metrics(logits, batch)
    assert sums["nll"][1] == int(queries.sum()) and sums["nll"][0] == pytest.approx(float(nll[queries].sum()), rel=1e-5)


def test_the_task_places_borders_from_its_prior_and_explains_bad_input():
    task = BarDistributionTask(num_buckets=20, prior_sample_size=4000,
                               prior={"name": "gp_prior", "outputscale": 1.0, "noise": 0.01})
    b = task.borders
    assert b.shape == (21,) and bool((b[1:] > b[:-1]).all())
    assert -5.0 < float(b[0]) < -2.0 and 2.0 < float(b[-1]) < 5.0  # the tails of a N(0, 1.01) sample of 4000
    logits = torch.zeros(2, 5, 7)
    with pytest.raises(ForwardkitError, match="20 buckets"):
        task.loss(logits, {"y": torch.zeros(2, 5), "eval_pos": torch.tensor([1, 2])})
    with pytest.raises(ForwardkitError, match="eval_pos"):
        task.loss(torch.zeros(2, 5, 20), {"y": torch.zeros(2, 5)})
    with pytest.raises(Exception, match="y_range"):
        BarDistributionTask(y_range=[1.0, -1.0])
    assert math.isfinite(float(task.loss(torch.zeros(2, 5, 20), {"y": torch.full((2, 5), 40.0),
                                                                   "eval_pos": torch.tensor([1, 2])})))
