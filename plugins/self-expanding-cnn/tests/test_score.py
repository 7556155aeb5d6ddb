"""The natural expansion score: eta = g^T diag(F)^-1 g by hand, the regularisation, the per-sample kernel
against its loop reference, and the analyzer."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from forwardkit_self_expanding_cnn.model import ExpandableCNN
from forwardkit_self_expanding_cnn.score import (
    NaturalExpansionScore,
    natural_expansion_score,
    per_sample_gradients,
    per_sample_gradients_loop,
    regularized_score,
)
from torch import nn


def _data(n: int = 12, d: int = 3, k: int = 4) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {"x": torch.randn(n, d, generator=g), "y": torch.randint(0, k, (n,), generator=g)}


def test_a_single_linear_layer_scores_g_diag_f_inverse_g_computed_by_hand() -> None:
    torch.manual_seed(0)
    layer = nn.Linear(3, 4)
    data = _data()
    rows = []
    for i in range(len(data["y"])):  # per-sample gradients by hand: dL/dW = (p - onehot) x^T, dL/db = p - onehot
        x, y = data["x"][i], data["y"][i]
        p = F.softmax(layer(x), dim=-1)
        delta = p - F.one_hot(y, 4).float()
        rows.append(torch.cat([torch.outer(delta, x).reshape(-1), delta]).detach())
    grads = torch.stack(rows)
    g, fisher = grads.mean(0), grads.pow(2).mean(0)
    expected = float(g @ torch.diag(1.0 / (fisher + 1e-5)) @ g)
    assert natural_expansion_score(layer, data) == pytest.approx(expected, rel=1e-5)
    assert natural_expansion_score(layer, data, normalize_by_params=True) == pytest.approx(expected / 16, rel=1e-5)
    batches = grads.reshape(3, 4, -1).mean(1)  # diag_per_batch: mini-batches of 4
    per_batch = float((batches.pow(2) / (batches.pow(2).sum(0) + 1e-5)).sum())
    assert natural_expansion_score(layer, data, fisher="diag_per_batch", chunk=4) == pytest.approx(per_batch,
                                                                                                  rel=1e-5)


def test_eta_is_nonnegative_and_at_most_the_parameter_count() -> None:
    torch.manual_seed(1)
    layer = nn.Linear(3, 4)
    eta = natural_expansion_score(layer, _data(), eps=1e-12)
    assert 0.0 <= eta <= 16 + 1e-4  # g_j^2 <= mean_i g_ij^2 (Cauchy-Schwarz)


def test_the_regularised_score_multiplies_by_exp_minus_lambda_dp_squared() -> None:
    assert regularized_score(3.0, 0, 1e-7) == 3.0
    assert regularized_score(3.0, 1000, 1e-7) == pytest.approx(3.0 * math.exp(-0.1))
    assert regularized_score(3.0, 1000, 0.0) == 3.0


def test_the_vmap_kernel_agrees_with_the_per_sample_loop() -> None:
    torch.manual_seed(0)
    model = ExpandableCNN(channels=[1, 3, 3], input_size=[8, 8], num_classes=4, head_channels=2).eval()
    model.add_identity_layer(0)
    batch = model.example_batch(5, generator=torch.Generator().manual_seed(2))
    fast, slow = per_sample_gradients(model, batch), per_sample_gradients_loop(model, batch)
    assert fast.keys() == slow.keys()
    for key in fast:
        assert torch.allclose(fast[key], slow[key], atol=1e-6, rtol=1e-4), key
    assert natural_expansion_score(model, batch) == pytest.approx(
        natural_expansion_score(model, batch, per_sample="loop"), rel=1e-4)


def test_scoring_restores_the_training_mode_and_draws_no_random_numbers() -> None:
    model = ExpandableCNN(channels=[1, 3, 3], input_size=[8, 8], num_classes=4, head_channels=2).train()
    batch = model.example_batch(6, generator=torch.Generator().manual_seed(2))
    state = torch.get_rng_state()
    natural_expansion_score(model, batch)
    assert model.training and torch.equal(torch.get_rng_state(), state)


def test_the_analyzer_scores_the_model_and_every_candidate() -> None:
    torch.manual_seed(0)
    model = ExpandableCNN(channels=[1, 3, 3], input_size=[8, 8], num_classes=4, head_channels=2).eval()
    data = [model.example_batch(8, generator=torch.Generator().manual_seed(s)) for s in (0, 1)]
    analysis = NaturalExpansionScore(subset_size=12).analyze(model, data)
    assert analysis.numbers["samples"] == 12 and analysis.numbers["eta"] > 0
    names = {row["candidate"] for row in analysis.tables["candidates"]}
    assert names == {"layer_b0", "layer_b1", "channels_b0", "channels_b1"}
    assert analysis.numbers["eta_reg/layer_b0"] == pytest.approx(
        analysis.numbers["ratio/layer_b0"] * analysis.numbers["eta"])
    plain = NaturalExpansionScore(candidates=False).analyze(nn.Sequential(nn.Flatten(), nn.Linear(64, 4)), data)
    assert set(plain.numbers) == {"eta", "samples", "parameters"}
