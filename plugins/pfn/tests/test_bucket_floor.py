"""The discretisation-floor benchmark's projection: the GP's mass per bucket sums to one, is the KL-best bar density
(any other bucket masses score worse on GP samples), and for a predictive much wider than the buckets it costs
almost nothing."""

from __future__ import annotations

from pathlib import Path

import torch
from forwardkit_pfn.bar import BarDistribution, uniform_borders

from forwardkit.testing import load_script

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bucket_floor.py"


def test_bucketed_gaussian_is_a_distribution_and_the_best_bar_density():
    mod = load_script(SCRIPT)
    bar = BarDistribution(uniform_borders(60, -3.0, 3.0), full_support=True).double()
    mean = torch.tensor([0.0, 0.7, -1.5], dtype=torch.float64)
    var = torch.tensor([0.04, 0.25, 1.0], dtype=torch.float64)
    logits = mod.bucket_logits(mean, var, bar.borders)
    assert torch.allclose(logits.exp().sum(-1), torch.ones(3, dtype=torch.float64))
    g = torch.Generator().manual_seed(0)
    ys = mean + var.sqrt() * torch.randn(20_000, 3, generator=g, dtype=torch.float64)
    best = bar.nll(logits.expand(20_000, -1, -1), ys).mean(0)
    other = bar.nll((logits + 0.3 * torch.randn(logits.shape, generator=g, dtype=torch.float64)).expand(
        20_000, -1, -1), ys).mean(0)
    assert bool((best < other).all())
    exact = -torch.distributions.Normal(mean, var.sqrt()).log_prob(ys).mean(0)
    # sd 0.5 against bucket width 0.1, no mass in the tails: the floor is tiny (about w^2 / (24 sd^2))
    assert abs(float(best[1] - exact[1])) < 0.01
    # mass in a narrow half-normal tail is what costs: mean -1.5, sd 1 puts 7 % beyond b_1
    assert float(best[2] - exact[2]) > 0.1
