"""The exact GP posterior predictive: a closed-form case, a direct numpy/scipy implementation, and the analyzer's
numbers (the PFN's gap is its NLL minus the GP's on the same queries)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch
from forwardkit_pfn.model import PFNTransformer
from forwardkit_pfn.reference import GPPosteriorReference, gaussian_nll, gp_posterior_predictive

HP = {"noise": 0.04, "outputscale": 0.9, "lengthscale": 0.3}


def test_one_training_point_has_the_closed_form_posterior():
    x1, y1, xs = 0.2, 0.7, torch.tensor([[[0.35], [0.9]]], dtype=torch.float64)
    mean, var = gp_posterior_predictive(torch.tensor([[[x1]]], dtype=torch.float64),
                                        torch.tensor([[y1]], dtype=torch.float64), xs, jitter=0.0, **HP)
    sf, sn, ls = HP["outputscale"], HP["noise"], HP["lengthscale"]
    for j, x in enumerate([0.35, 0.9]):
        k = sf * math.exp(-0.5 * (x - x1) ** 2 / ls**2)
        assert float(mean[0, j]) == pytest.approx(k * y1 / (sf + sn), rel=1e-10)
        assert float(var[0, j]) == pytest.approx(sf - k * k / (sf + sn) + sn, rel=1e-10)
    # no training points: the prior predictive
    m0, v0 = gp_posterior_predictive(torch.zeros(1, 0, 1), torch.zeros(1, 0), xs, **HP)
    assert torch.equal(m0, torch.zeros(1, 2, dtype=torch.float64)) and torch.allclose(v0, torch.full((1, 2), 0.94,
                                                                                                    dtype=torch.float64))


def _numpy_gp(xt: np.ndarray, yt: np.ndarray, xq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    def k(a, b):
        sq = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
        return HP["outputscale"] * np.exp(-0.5 * sq / HP["lengthscale"] ** 2)

    kk = k(xt, xt) + (HP["noise"] + 1e-6) * np.eye(len(xt))
    ks = k(xt, xq)
    mean = ks.T @ scipy.linalg.solve(kk, yt, assume_a="pos")
    cov = k(xq, xq) - ks.T @ scipy.linalg.solve(kk, ks, assume_a="pos")
    return mean, np.diag(cov) + HP["noise"]


def test_batched_cholesky_matches_a_direct_numpy_implementation():
    g = torch.Generator().manual_seed(0)
    xt, yt, xq = torch.rand(4, 9, 2, generator=g), torch.randn(4, 9, generator=g), torch.rand(4, 5, 2, generator=g)
    mean, var = gp_posterior_predictive(xt, yt, xq, **HP)
    for b in range(4):
        m_ref, v_ref = _numpy_gp(xt[b].double().numpy(), yt[b].double().numpy(), xq[b].double().numpy())
        assert np.allclose(mean[b].numpy(), m_ref, atol=1e-8) and np.allclose(var[b].numpy(), v_ref, atol=1e-8)
    y = torch.randn(4, 5, generator=g)
    nll = gaussian_nll(mean, var, y)
    assert torch.allclose(nll, -torch.distributions.Normal(mean, var.sqrt()).log_prob(y.double()))


def test_analyzer_reports_gp_prior_and_pfn_on_the_same_queries():
    from forwardkit_pfn.priors import sample_gp_prior

    data = sample_gp_prior(40, seq_len=14, max_train_points=8, **HP)
    torch.manual_seed(0)
    model = PFNTransformer(d_model=16, n_heads=2, n_layers=1, d_ff=16, num_buckets=10)
    analyzer = GPPosteriorReference(**HP, n_train=[0, 2, 4, 20], num_queries=4, wrong_lengthscale=0.05, plot=False,
                                    chunk=16)
    result = analyzer.analyze(model, [{"x": data["x"][:20], "y": data["y"][:20]},
                                      {"x": data["x"][20:], "y": data["y"][20:]}])
    nums = result.numbers
    assert nums["datasets"] == 40 and "gap/n20" not in nums  # 20 + 4 > 14 points: skipped
    assert nums["nll_gp/n0"] == pytest.approx(nums["nll_prior/n0"])
    assert nums["nll_gp/n4"] < nums["nll_prior/n4"]
    for n in (0, 2, 4):
        assert nums[f"gap/n{n}"] == pytest.approx(nums[f"nll_pfn/n{n}"] - nums[f"nll_gp/n{n}"])
    logits = model.predict(data["x"][:, :2], data["y"][:, :2], data["x"][:, 10:])
    with torch.no_grad():
        logits = model.predict(data["x"][:, :2], data["y"][:, :2], data["x"][:, 10:])
    assert nums["nll_pfn/n2"] == pytest.approx(float(model.bar.nll(logits, data["y"][:, 10:]).mean()), rel=1e-5)
    assert [r["n_train"] for r in result.tables["curves"]] == [0, 2, 4]
