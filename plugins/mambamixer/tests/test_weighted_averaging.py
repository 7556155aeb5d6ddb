"""Weighted averaging of earlier features (eqs. 19-20): the identity start is the plain residual stack, exactly."""

from __future__ import annotations

import pytest
import torch
from forwardkit_mambamixer.config import WeightedAveragingConfig
from forwardkit_mambamixer.weighted_averaging import WeightedAveragingStack, coefficient_count, weighted_average
from torch import nn


def mixers(n, dim=6, seed=0):
    torch.manual_seed(seed)
    return [nn.Sequential(nn.Linear(dim, dim), nn.Tanh()) for _ in range(n)]


def test_identity_init_without_channel_mixers_is_the_plain_residual_stack():
    tokens = mixers(3)
    stack = WeightedAveragingStack(config=WeightedAveragingConfig(num_layers=3), token_mixers=tokens,
                                   channel_mixers=[None] * 3, dim=6).eval()
    x = torch.randn(4, 5, 6)
    h = x
    for mixer, norm in zip(tokens, stack.token_norms, strict=True):
        h = h + mixer(norm(h))
    with torch.no_grad():
        assert torch.equal(stack(x), h)


def test_identity_init_with_channel_mixers_is_the_sequential_token_channel_stack():
    tokens, channels = mixers(2, seed=1), mixers(2, seed=2)
    weighted = WeightedAveragingStack(config=WeightedAveragingConfig(num_layers=2), token_mixers=tokens,
                                      channel_mixers=channels, dim=6).eval()
    plain = WeightedAveragingStack(config=WeightedAveragingConfig(num_layers=2, weighted=False), token_mixers=tokens,
                                   channel_mixers=channels, dim=6).eval()
    plain.load_state_dict(weighted.state_dict(), strict=False)
    x = torch.randn(3, 6)
    with torch.no_grad():
        assert torch.equal(weighted(x), plain(x))
        weighted.alpha[1].data[0] = 0.5  # any other weight changes the result: the test can fail
        assert not torch.allclose(weighted(x), plain(x))


@pytest.mark.parametrize("layers", [1, 2, 5])
def test_there_are_l_times_2l_plus_3_coefficients(layers):
    stack = WeightedAveragingStack(config=WeightedAveragingConfig(num_layers=layers), token_mixers=mixers(layers),
                                   channel_mixers=mixers(layers, seed=1), dim=6)
    count = sum(p.numel() for name, p in stack.named_parameters() if name.split(".")[0] in
                ("alpha", "beta", "theta", "gamma"))
    assert count == coefficient_count(layers) == layers * (2 * layers + 3)


def test_softmax_weights_of_each_input_sum_to_one_and_learn():
    cfg = WeightedAveragingConfig(num_layers=3, init="uniform", normalize="softmax")
    stack = WeightedAveragingStack(config=cfg, token_mixers=mixers(3), channel_mixers=[None, *mixers(2)], dim=6)
    for layer in (1, 2, 3):
        w = stack.coefficients(layer)
        assert torch.allclose(w["alpha"].sum() + w["beta"].sum(), torch.tensor(1.0))
        assert torch.allclose(w["theta"].sum() + w["gamma"].sum(), torch.tensor(1.0))
    stack(torch.randn(2, 6)).square().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in stack.theta)


def test_weighted_average_is_the_weighted_sum():
    a, b = torch.randn(3), torch.randn(3)
    assert torch.allclose(weighted_average([a, b], torch.tensor([0.25, 2.0])), 0.25 * a + 2.0 * b)
    with pytest.raises(ValueError):
        weighted_average([a, b], torch.ones(3))


def test_softmax_needs_a_uniform_start():
    with pytest.raises(ValueError, match="uniform"):
        WeightedAveragingConfig(normalize="softmax")
