"""The mechanism of the inverted forecaster (spec card's list of tests)."""

from typing import Any

import pytest
import torch
from torch import Tensor

import forwardkit
from forwardkit.config import ModelSpec, validate_experiment
from forwardkit.engine.trainer import Trainer
from forwardkit.errors import ConfigError, ForwardkitError
from forwardkit.interfaces import TokenMixer
from forwardkit.registry import Registry


def make(**kw):
    cfg = {"lookback": 12, "horizon": 4, "d_model": 16, "num_heads": 4, "d_ff": 16, "num_layers": 2, **kw}
    torch.manual_seed(0)
    return forwardkit.create("model", "itransformer", **cfg).eval()


def test_permutation_equivariance_over_variates():
    model = make()
    x = torch.randn(3, 12, 7)
    perm = torch.randperm(7)
    y = model(x)
    assert torch.allclose(model(x[..., perm]), y[..., perm], atol=1e-5)


def test_the_temporal_token_baseline_is_not_equivariant():
    torch.manual_seed(0)
    model = forwardkit.create("model", "temporal_transformer", lookback=12, horizon=4, num_variates=7,
                              d_model=16, num_heads=4, d_ff=16).eval()
    x = torch.randn(3, 12, 7)
    perm = torch.randperm(7)
    assert not torch.allclose(model(x[..., perm]), model(x)[..., perm], atol=1e-3)
    with pytest.raises(ForwardkitError, match="sized by N"):
        model(torch.randn(2, 12, 5))


@pytest.mark.parametrize("n", [5, 16, 40])
def test_variable_number_of_variates(n):
    model = make()
    assert model(torch.randn(2, 12, n)).shape == (2, 4, n)
    assert not any(n in p.shape for p in model.parameters() if n not in (4, 12, 16))


def test_denormalisation_restores_mean_and_scale():
    model = make()
    with torch.no_grad():
        model.project.weight.zero_()
        model.project.bias.fill_(1.0)  # normalised forecast = 1 everywhere
    x = torch.randn(2, 12, 3) * torch.tensor([1.0, 5.0, 0.1]) + torch.tensor([0.0, 10.0, -3.0])
    mu = x.mean(1, keepdim=True)
    sigma = torch.sqrt(x.var(1, keepdim=True, unbiased=False) + 1e-5)
    assert torch.allclose(model(x), (mu + sigma).expand(2, 4, 3), atol=1e-4)


def test_adding_a_constant_to_a_variate_shifts_only_its_forecast():
    model = make()
    x = torch.randn(2, 12, 5)
    shifted = x.clone()
    shifted[..., 2] += 3.5
    delta = model(shifted) - model(x)
    expected = torch.zeros_like(delta)
    expected[..., 2] = 3.5
    assert torch.allclose(delta, expected, atol=1e-4)
    # without the normalisation the forecast does not follow the shift exactly
    raw = make(use_norm=False)
    d = raw(shifted) - raw(x)
    assert not torch.allclose(d, expected, atol=1e-3)


def test_time_order_matters():
    model = make()
    x = torch.randn(2, 12, 5)
    assert not torch.allclose(model(x[:, torch.randperm(12)]), model(x), atol=1e-4)


def test_covariate_tokens_are_used_and_dropped():
    model = make(use_covariates=True)
    x, marks = torch.randn(2, 12, 5), torch.randn(2, 12, 3)
    y = model(x, marks)
    assert y.shape == (2, 4, 5)
    assert not torch.allclose(y, model(x, marks + 1.0), atol=1e-5)  # covariates inform the variates
    assert len(model.variate_attention(x, marks)) == 2
    assert model.variate_attention(x, marks)[0].shape == (2, 4, 8, 8)
    with pytest.raises(ForwardkitError, match="x_mark"):
        model.forward_batch({"x": x, "y": y})


def test_targets_select_forecast_variates():
    model = make(targets=[0, 3])
    assert model(torch.randn(2, 12, 5)).shape == (2, 4, 2)


class MeanMix(TokenMixer):
    """Non-causal rank-1 test mixer: every token gets a projection of the mean token."""

    ranks = frozenset({1})

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.proj = torch.nn.Linear(self.dim, self.dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x.mean(dim=-2, keepdim=True)).expand_as(x)


class ImageOnly(MeanMix):
    ranks = frozenset({2})


@pytest.fixture(scope="module")
def registry():
    """A registry of its own with two test mixers (the default registry is left untouched)."""
    reg = Registry.discover()
    reg.register_class("token_mixer", "itr_test_meanmix", MeanMix)
    reg.register_class("token_mixer", "itr_test_imageonly", ImageOnly)
    return reg


def experiment_in(registry, **model):
    cfg = {"name": "itransformer", "lookback": 12, "horizon": 4, "d_model": 16, "num_heads": 4, "d_ff": 16, **model}
    data = {"name": "lagged_multivariate", "num_variates": 6, "num_drivers": 2, "length": 300, "lookback": 12,
            "horizon": 4, "stride": 4}
    return validate_experiment({"name": "itr-mixer", "data": data, "model": cfg}, registry=registry)


def test_any_noncausal_sequence_mixer_replaces_attention(registry):
    assert "itr_test_meanmix" not in forwardkit.get_registry().names("token_mixer")
    exp = experiment_in(registry, token_mixer="itr_test_meanmix")
    assert exp.model.registry is registry and exp.model.config.token_mixer.registry is registry
    torch.manual_seed(0)
    model = forwardkit.create("model", exp.model.name, exp.model.config, registry=exp.model.registry).eval()
    assert isinstance(model.encoder.layers[0].token_mixer, MeanMix)
    x = torch.randn(2, 12, 6)
    assert model(x).shape == (2, 4, 6)
    perm = torch.randperm(6)
    assert torch.allclose(model(x[..., perm]), model(x)[..., perm], atol=1e-5)
    with pytest.raises(ForwardkitError, match="attention_scores"):
        model.variate_attention(x)
    trainer = Trainer(exp, registry=registry, write=False, verbose=False)  # the engine builds it the same way
    trainer.build()
    assert isinstance(trainer.model.encoder.layers[1].token_mixer, MeanMix)
    image_only = experiment_in(registry, token_mixer="itr_test_imageonly").model
    with pytest.raises(ForwardkitError, match="rank 1"):
        forwardkit.create("model", image_only.name, image_only.config, registry=image_only.registry)


def test_model_spec_builds_from_its_registry(registry):
    model = experiment_in(registry, token_mixer="itr_test_meanmix").model.build()
    assert isinstance(model.encoder.layers[0].token_mixer, MeanMix)
    spec = ModelSpec.parse({"name": "itransformer", "token_mixer": "itr_test_meanmix"}, registry=registry)
    assert isinstance(spec.build().encoder.layers[0].token_mixer, MeanMix)


def test_causal_mixers_are_rejected():
    with pytest.raises(ConfigError, match="causal"):
        make(token_mixer={"name": "attention", "causal": True})
    with pytest.raises(ForwardkitError, match="causal"):
        make(token_mixer="identity")  # the identity mixer declares itself causal


def test_mixers_receive_the_encoder_settings():
    model = make(num_heads=2, d_ff=24, dropout=0.0)
    layer = model.encoder.layers[0]
    assert layer.token_mixer.num_heads == 2 and layer.token_mixer.head_dim == 8
    assert layer.channel_mixer.fc1.out_features == 24
    # a mixer field the encoder controls may not contradict it; other mixer fields pass through
    with pytest.raises(ConfigError, match="num_heads"):
        make(token_mixer={"name": "attention", "num_heads": 1})
    model = make(token_mixer={"name": "attention", "qkv_bias": True, "num_heads": 4})
    assert model.encoder.layers[0].token_mixer.qkv.bias is not None


@pytest.mark.parametrize("style", ["post", "pre"])
def test_norm_placement_with_zeroed_branches(style):
    model = make(norm_style=style)
    layer = model.encoder.layers[0]
    with torch.no_grad():
        for p in [*layer.token_mixer.parameters(), *layer.channel_mixer.parameters()]:
            p.zero_()
        layer.norm1.weight.fill_(2.0)
        layer.norm1.bias.fill_(0.5)
    h = torch.randn(2, 6, 16) * 3 + 1
    out = layer(h)
    if style == "post":  # H <- LN2(LN1(H + 0) + 0): the output is LayerNorm of the input
        assert torch.allclose(out, torch.nn.functional.layer_norm(h, (16,)), atol=1e-4)
    else:  # H <- H + 0: the residual stream passes unchanged
        assert torch.allclose(out, h)


def test_variate_attention_maps_are_row_stochastic_and_permute():
    model = make()
    x = torch.randn(3, 12, 6)
    maps = model.variate_attention(x)
    assert len(maps) == 2 and maps[0].shape == (3, 4, 6, 6)
    for a in maps:
        assert (a >= 0).all() and torch.allclose(a.sum(-1), torch.ones(3, 4, 6), atol=1e-5)
    perm = torch.randperm(6)
    permuted = model.variate_attention(x[..., perm])
    for a, b in zip(maps, permuted, strict=True):
        assert torch.allclose(b, a[:, :, perm][:, :, :, perm], atol=1e-5)


@pytest.mark.parametrize("style", ["post", "pre"])
def test_variate_maps_are_the_weights_the_forward_pass_uses(style):
    """Every layer's token-mixer output equals proj(A v) with A = variate_attention's map of that layer
    (so the maps are read at each layer's real mixer input, also with pre-norm)."""
    model = make(norm_style=style)
    x = torch.randn(3, 12, 6)
    maps = model.variate_attention(x)
    with torch.no_grad():
        h, _, _ = model.tokens(x)
        for layer, a in zip(model.encoder.layers, maps, strict=True):
            mixer, seen = layer.token_mixer, layer.mixer_input(h)
            v = mixer.qkv(seen).chunk(3, dim=-1)[2]  # (B, N, heads * head_dim)
            v = v.reshape(3, 6, mixer.num_heads, mixer.head_dim).transpose(1, 2)  # (B, heads, N, head_dim)
            mixed = (a @ v).transpose(1, 2).reshape(3, 6, -1)
            assert torch.allclose(mixer.proj(mixed), mixer(seen), atol=1e-5)
            h = layer(h)
