"""DeepReLUMLP and its initialisations (paper Sec. 4.1)."""

from __future__ import annotations

import math

import pytest
import torch
from forwardkit_gradient_noise.model import DeepReLUMLP, init_linear_, sussillo_abbott_gain

import forwardkit


def test_architecture_matches_the_paper() -> None:
    model = DeepReLUMLP()
    assert len(model.hidden) == 20 and all(layer.out_features == 50 for layer in model.hidden)
    assert model.hidden[0].in_features == 784 and model.out.out_features == 10
    assert sum(p.numel() for p in model.parameters()) == 784 * 50 + 50 + 19 * (50 * 50 + 50) + 50 * 10 + 10


def test_simple_init_std() -> None:
    torch.manual_seed(0)
    layer = init_linear_(torch.nn.Linear(500, 400), "simple", init_std=0.1)
    assert layer.weight.std().item() == pytest.approx(0.1, rel=0.01)
    assert abs(layer.weight.mean().item()) < 0.002
    assert torch.equal(layer.bias, torch.zeros(400))


def test_he_and_sussillo_abbott_std() -> None:
    torch.manual_seed(0)
    he = init_linear_(torch.nn.Linear(500, 400), "he")
    assert he.weight.std().item() == pytest.approx(math.sqrt(2 / 500), rel=0.01)
    sa = init_linear_(torch.nn.Linear(50, 4000), "sussillo_abbott")
    g = math.sqrt(2) * math.exp(1.2 / (50 - 2.4))
    assert sussillo_abbott_gain(50) == pytest.approx(g)
    assert sa.weight.std().item() == pytest.approx(g / math.sqrt(50), rel=0.01)
    assert sussillo_abbott_gain(3) == sussillo_abbott_gain(6)  # max(N, 6)


def test_zero_init_is_really_zero() -> None:
    model = DeepReLUMLP(depth=4, width=8, in_features=5, init="zero")
    assert all(bool((p == 0).all()) for p in model.parameters())
    out = model(torch.rand(3, 5))
    assert torch.equal(out, torch.zeros(3, 10))


def test_simple_init_applies_to_every_layer() -> None:
    torch.manual_seed(1)
    model = DeepReLUMLP(depth=20, width=50, in_features=784, init="simple")
    weights = torch.cat([m.weight.flatten() for m in [*model.hidden, model.out]])
    assert weights.std().item() == pytest.approx(0.1, rel=0.01)


def test_flattens_images_and_fills_in_features_from_data() -> None:
    model = forwardkit.build_model({"name": "deep_relu_mlp", "depth": 2, "width": 4, "in_features": 12})
    assert model(torch.rand(2, 2, 3, 2)).shape == (2, 10)
    with pytest.raises(ValueError, match="in_features"):
        model(torch.rand(2, 5))
