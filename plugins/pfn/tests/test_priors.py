"""The prior samplers: the GP's covariance at two fixed inputs, per-item determinism whatever the batch, the
vectorised draw, the BNN prior, hyper-priors and bad configs."""

from __future__ import annotations

import math

import pytest
import torch
from forwardkit_pfn.config import GPPriorConfig
from forwardkit_pfn.priors import BNNPrior, GPPrior, gp_from_noise, rbf_kernel, sample_gp_prior

import forwardkit


def test_gp_sampler_covariance_at_two_fixed_inputs():
    cfg = GPPriorConfig(seq_len=2, max_train_points=1, noise=0.05, outputscale=0.8, lengthscale=0.3)
    n = 40_000
    g = torch.Generator().manual_seed(0)
    x = torch.tensor([[0.2], [0.5]], dtype=torch.float64).expand(n, 2, 1)
    z, e, u = torch.randn(n, 2, generator=g), torch.randn(n, 2, generator=g), torch.rand(n, 2, generator=g)
    y = gp_from_noise(x, z, e, u, cfg)
    cov = torch.cov(y.T)
    k = math.exp(-0.5 * 0.3**2 / 0.3**2)  # |0.2 - 0.5| = 0.3 = l
    expected = torch.tensor([[0.8 + 0.05, 0.8 * k], [0.8 * k, 0.8 + 0.05]], dtype=torch.float64)
    assert torch.allclose(cov, expected, atol=0.03)
    assert abs(float(y.mean())) < 0.02


def test_rbf_kernel_is_gpytorchs_convention():
    a = torch.tensor([[[0.0, 0.0], [1.0, 1.0]]])
    k = rbf_kernel(a, a, 2.0)
    assert torch.allclose(k[0, 0, 1], torch.tensor(math.exp(-0.5 * 2 / 4)))


def test_items_are_the_same_whatever_batch_they_are_fetched_in():
    prior = GPPrior(noise=0.01, outputscale=1.0, lengthscale=0.2, seq_len=12, max_train_points=8)
    split = prior.split("train")
    alone = split[7]
    together = split.__getitems__([3, 7, 11])[1]
    assert all(torch.equal(alone[k], together[k]) for k in ("x", "y", "eval_pos"))
    assert alone["x"].shape == (12, 1) and alone["y"].shape == (12,) and 0 <= int(alone["eval_pos"]) <= 8
    assert not torch.equal(split[8]["y"], alone["y"])
    assert not torch.equal(prior.split("test")[7]["y"], alone["y"])  # splits are disjoint draws
    other = GPPrior(noise=0.01, outputscale=1.0, lengthscale=0.2, seq_len=12, max_train_points=8, seed=1)
    assert not torch.equal(other.split("train")[7]["y"], alone["y"])
    with pytest.raises(IndexError):
        split[len(split)]


def test_vectorised_draw_matches_the_prior_marginal():
    batch = sample_gp_prior(500, noise=0.01, outputscale=1.0, lengthscale=0.2, seq_len=40, max_train_points=20)
    assert batch["x"].shape == (500, 40, 1) and batch["y"].shape == (500, 40)
    assert 0.0 <= float(batch["x"].min()) and float(batch["x"].max()) <= 1.0
    assert abs(float(batch["y"].var()) - 1.01) < 0.1
    again = sample_gp_prior(500, noise=0.01, outputscale=1.0, lengthscale=0.2, seq_len=40, max_train_points=20)
    assert torch.equal(batch["y"], again["y"])  # seeded by the config


def test_hyper_prior_draws_a_lengthscale_per_dataset():
    def roughness_spread(cfg: GPPriorConfig) -> float:
        batch = sample_gp_prior(400, cfg)
        ys = batch["y"].gather(-1, batch["x"][..., 0].argsort(-1))
        rough = ys.diff(dim=-1).pow(2).mean(-1)  # mean squared increment of each dataset, sorted by x
        return float(rough.max() / rough.min())

    fixed = GPPriorConfig(seq_len=30, max_train_points=10, lengthscale=0.05, outputscale=1.0, noise=1e-4)
    hyper = fixed.model_copy(update={"lengthscale_max": 1.0})
    # rough (short lengthscale) and smooth datasets: the roughness varies far more between datasets
    assert roughness_spread(hyper) > 10 * roughness_spread(fixed)
    with pytest.raises(Exception, match="lengthscale_max"):
        GPPriorConfig(lengthscale=0.5, lengthscale_max=0.1)
    with pytest.raises(Exception, match="max_train_points"):
        GPPriorConfig(seq_len=10, max_train_points=10)


def test_bnn_prior_gives_smooth_random_functions_plus_noise():
    prior = BNNPrior(seq_len=20, max_train_points=10, noise_std=0.1, num_features=2)
    md = prior.metadata
    assert md.task == "bar_distribution" and md.input_shape == (20, 2) and md.extra["prior"]["name"] == "bnn_prior"
    batch = prior.draw(64)
    assert batch["x"].shape == (64, 20, 2) and torch.isfinite(batch["y"]).all()
    assert float(batch["y"].std(-1).mean()) > 0.1  # functions vary over x (not only noise)
    item = prior.split("val")[0]
    assert torch.equal(item["y"], prior.split("val").__getitems__([2, 0])[1]["y"])


def test_metadata_names_the_task_and_the_prior_spec():
    data = forwardkit.create("dataset", "gp_prior", {"lengthscale": 0.2})
    md = data.metadata
    assert md.task == "bar_distribution" and md.sizes["test"] == 2000
    assert md.extra["prior"]["name"] == "gp_prior" and md.extra["prior"]["lengthscale"] == 0.2
