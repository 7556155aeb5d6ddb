"""TSM2 and RLinear: any number of variates, RevIN equivariance, channel independence of the ablation,
patching, metadata."""

from __future__ import annotations

import pytest
import torch
from forwardkit_mambamixer.rlinear import RLinear
from forwardkit_mambamixer.tsm2 import TSM2, Norm2D, patchify

import forwardkit
from forwardkit.errors import ForwardkitError

SMALL = {"lookback": 16, "horizon": 4, "patch_len": 4, "stride": 2, "d_model": 8, "d_state": 4}


def build(**fields):
    torch.manual_seed(0)
    return TSM2(**{**SMALL, **fields}).eval()


def test_s6_variate_mixing_takes_another_number_of_variates_at_test_time():
    model = build()
    assert not any(5 in p.shape for p in model.parameters())  # no M-shaped weight
    for m in (5, 3, 11):
        assert model(torch.randn(2, 16, m)).shape == (2, 4, m)


def test_the_mlp_variate_mixer_is_tied_to_its_number_of_variates():
    model = build(variate_mixer="mlp", num_variates=5)
    assert model(torch.randn(2, 16, 5)).shape == (2, 4, 5)
    with pytest.raises(ForwardkitError, match="M=5"):
        model(torch.randn(2, 16, 6))
    with pytest.raises(ValueError, match="num_variates"):
        TSM2(variate_mixer="mlp")


@pytest.mark.parametrize(("variate_mixer", "independent"), [("none", True), ("s6_bidir", False), ("mlp", False)])
def test_only_the_channel_independent_ablation_ignores_the_other_variates(variate_mixer, independent):
    model = build(variate_mixer=variate_mixer, num_variates=4)
    x = torch.randn(2, 16, 4)
    changed = x.clone()
    changed[:, :, 3] = torch.randn(2, 16)
    with torch.no_grad():
        diff = (model(x) - model(changed))[:, :, :3].abs().max()
    assert (diff == 0) if independent else (diff > 1e-6)


def test_revin_makes_the_forecast_follow_shifts_and_scales_of_each_variate():
    model = build()
    x = torch.randn(2, 16, 3)
    scale, shift = torch.tensor([2.0, 0.5, 3.0]), torch.tensor([10.0, -4.0, 0.0])
    with torch.no_grad():
        assert torch.allclose(model(x * scale + shift), model(x) * scale + shift, atol=1e-4)


def test_patches_and_the_2d_norm():
    x = torch.arange(16.0).reshape(1, 16, 1)
    patches = patchify(x, 4, 2)
    assert patches.shape == (1, 1, 7, 4) and patches[0, 0, 1].tolist() == [2.0, 3.0, 4.0, 5.0]
    assert TSM2(**SMALL).config.num_patches == 7
    h = Norm2D(num_patches=7, d_model=8)(torch.randn(2, 3, 7, 8) * 5 + 3)
    assert torch.allclose(h.mean(dim=-2), torch.zeros(2, 3, 8), atol=1e-5)  # the last norm is over the patches


def test_the_time_mixers_are_causal_and_the_ablations_change_what_they_say():
    model = build()
    assert all(m.mixer.causal for m in model.mixer.token_mixers)
    assert build(weighted_avg=False).mixer.config.weighted is False
    assert all(m is None or isinstance(m, torch.nn.Identity) for m in build(variate_mixer="none").mixer.channel_mixers)


def test_the_forecasters_fill_their_sizes_from_the_data():
    data = forwardkit.create("dataset", "lagged_mixtures", length=400, lookback=32, horizon=8)
    fields = TSM2.fields_from_metadata(data.metadata)
    assert fields == {"lookback": 32, "horizon": 8, "num_variates": 8}
    assert RLinear.fields_from_metadata(data.metadata) == {"lookback": 32, "horizon": 8}


def test_rlinear_is_one_linear_map_of_the_normalised_lookback():
    torch.manual_seed(0)
    model = RLinear(lookback=6, horizon=2, revin=False)
    x = torch.randn(3, 6, 4)
    expected = torch.einsum("btm,ht->bhm", x, model.linear.weight) + model.linear.bias[None, :, None]
    assert torch.allclose(model(x), expected, atol=1e-6)
    assert sum(p.numel() for p in model.parameters()) == 6 * 2 + 2
