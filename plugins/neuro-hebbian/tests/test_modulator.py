"""The neuro-modulator and its adapter: identity at insertion, placement, kinds, and why it follows the norm."""

from __future__ import annotations

import pytest
import torch
from forwardkit_neuro_hebbian.modulator import Modulated, NeuroModulator, apply_neuro_modulator, early_layer, modulators
from torch import nn

import forwardkit
from forwardkit.errors import ForwardkitError


def _cnn() -> nn.Module:
    torch.manual_seed(0)
    return forwardkit.create("model", "nhl_cnn", channels=[4, 8], image_size=8, pool_size=2).eval()


X = torch.rand(6, 8, 8, 1, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("kind", ["affine", "conv1x1"])
@pytest.mark.parametrize("position", ["after_norm", "after_layer"])
def test_an_identity_modulator_leaves_the_model_unchanged(kind, position):
    model = _cnn()
    with torch.no_grad():
        before = model(X)
    adapter = forwardkit.create("adapter", "neuro_modulator", form=kind, position=position)
    assert adapter.apply(model) is model
    target = "stages.0.norm" if position == "after_norm" else "stages.0.conv"
    assert isinstance(model.get_submodule(target), Modulated) and len(modulators(model)) == 1
    assert f"{target}.inner.weight" in model.state_dict()
    with torch.no_grad():
        torch.testing.assert_close(model(X), before)
    assert early_layer(model)[0] == ("stages.0.conv.inner" if position == "after_layer" else "stages.0.conv")


def test_the_batch_norm_kind_and_token_outputs():
    model = apply_neuro_modulator(_cnn(), form="bn_affine")
    assert isinstance(modulators(model)[0].norm, nn.BatchNorm1d) and model(X).shape == (6, 10)
    mlp = nn.Sequential(nn.Linear(5, 3), nn.LayerNorm(3), nn.ReLU(), nn.Linear(3, 2))
    apply_neuro_modulator(mlp)
    assert isinstance(mlp[1], Modulated) and modulators(mlp)[0].channel_dim == -1
    assert mlp(torch.randn(4, 7, 5)).shape == (4, 7, 2)
    m = NeuroModulator(3, "conv1x1", channel_dim=1)
    h = torch.randn(2, 3, 4, 4)
    torch.testing.assert_close(m(h), h)


def test_placement_errors_and_explicit_layers():
    model = apply_neuro_modulator(_cnn())
    with pytest.raises(ForwardkitError, match="already has"):
        apply_neuro_modulator(model)
    other = apply_neuro_modulator(_cnn(), layer="stages.1.conv", position="after_layer")
    assert isinstance(other.stages[1].conv, Modulated)
    with pytest.raises(ForwardkitError, match="no module"):
        apply_neuro_modulator(_cnn(), layer="nope")


def test_an_affine_right_before_a_batch_norm_gets_no_entropy_gradient_after_it_does():
    """Why ``after_norm`` is the default: with test-batch statistics, a per-channel affine in front of a batch
    norm is normalised away, so the entropy step cannot move the model through it."""
    grads = {}
    for position in ("after_layer", "after_norm"):
        model = apply_neuro_modulator(_cnn(), position=position, init="default")
        model.train()
        logits = model(X)
        ent = -(logits.softmax(-1) * logits.log_softmax(-1)).sum(-1).mean()
        ent.backward()
        grads[position] = float(modulators(model)[0].weight.grad.abs().max())
    assert grads["after_layer"] < 1e-3 * grads["after_norm"], grads  # float rounding only
