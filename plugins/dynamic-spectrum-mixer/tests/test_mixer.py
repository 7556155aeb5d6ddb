"""The card's mixer tests (identity at init, static linearity, dynamic non-linearity, gates, transforms)
and the mixers' behaviour around them: resizing, lazy weights, variants, dtypes, errors, the FFT filter."""

from __future__ import annotations

import pytest
import torch
from forwardkit_dynamic_spectrum_mixer.dct import dctn, idctn
from forwardkit_dynamic_spectrum_mixer.generator import band_gates
from forwardkit_dynamic_spectrum_mixer.global_filter import global_filter
from forwardkit_dynamic_spectrum_mixer.mixer import dynamic_spectrum_mix, resize_spectral

import forwardkit
from forwardkit.errors import ConfigError


def mixer(name: str = "dsm", **fields: object) -> torch.nn.Module:
    torch.manual_seed(0)
    return forwardkit.create("token_mixer", name, **{"dim": 8, **fields})


def randomize_generator(m: torch.nn.Module, scale: float = 1.0) -> None:
    """Move the zero-initialised output layer of the generator away from zero (a trained state)."""
    with torch.no_grad():
        m.generator.expand_weight.normal_(0, scale, generator=torch.Generator().manual_seed(1))
        m.generator.expand_bias.normal_(0, scale, generator=torch.Generator().manual_seed(2))


@pytest.mark.parametrize("transform", ["matrix", "fft"])
@pytest.mark.parametrize("shape", [(2, 7, 6, 8), (2, 10, 8), (1, 3, 4, 5, 8)])
def test_dsm_is_the_identity_at_init_without_projections(transform: str, shape: tuple[int, ...]) -> None:
    m = mixer(out_proj=False, grid=shape[1:-1], transform=transform)
    assert float(m.generator.expand_weight.abs().max()) == 0.0 and bool((m.spectral_weights[0] == 1).all())
    x = torch.randn(shape)
    assert torch.allclose(m(x), x, atol=1e-5)


def test_static_mode_is_linear_and_dynamic_mode_is_not() -> None:
    gen = torch.Generator().manual_seed(3)
    z1, z2 = torch.randn(2, 6, 6, 8, generator=gen), torch.randn(2, 6, 6, 8, generator=gen)
    a, b = 0.7, -1.9
    static = mixer("dct_static", out_proj=False, grid=(6, 6))
    with torch.no_grad():
        static.spectral_weights[0].normal_(generator=gen)  # not the trivial identity
        assert torch.allclose(static(a * z1 + b * z2), a * static(z1) + b * static(z2), atol=1e-5)
    dynamic = mixer("dsm", out_proj=False, grid=(6, 6))
    randomize_generator(dynamic)
    with torch.no_grad():
        lhs, rhs = dynamic(a * z1 + b * z2), a * dynamic(z1) + b * dynamic(z2)
    assert not torch.allclose(lhs, rhs, atol=1e-3)


def test_gates_depend_on_the_input_lie_in_0_2_and_train() -> None:
    m = mixer(grid=(6, 6))
    x1, x2 = torch.randn(1, 6, 6, 8), torch.randn(1, 6, 6, 8) + 1.0
    out = m(x1)
    out.square().sum().backward()
    assert float(m.generator.expand_weight.grad.abs().max()) > 0  # the gradient reaches the generator at init
    randomize_generator(m)
    m.zero_grad()
    m(x1).square().sum().backward()
    assert float(m.generator.reduce.weight.grad.abs().max()) > 0  # and its first layer once the output layer moved
    with torch.no_grad():
        g1, g2 = band_gates(m.gate_logits(x1)), band_gates(m.gate_logits(x2))
    assert g1.shape == (1, 4, 8) and not torch.allclose(g1, g2, atol=1e-3)
    assert bool(((g1 > 0) & (g1 < 2)).all()) and bool(((g2 > 0) & (g2 < 2)).all())


def test_matrix_and_fft_transforms_give_the_same_mixer_on_14x14() -> None:
    x = torch.randn(2, 14, 14, 8)
    a, b = mixer(grid=(14, 14)), mixer(grid=(14, 14), transform="fft")
    randomize_generator(a, 0.5)
    b.load_state_dict(a.state_dict())
    with torch.no_grad():
        assert torch.allclose(a(x), b(x), atol=1e-5)


def test_the_functional_form_is_the_module_without_projections() -> None:
    m = mixer(out_proj=False, grid=(5, 7))
    randomize_generator(m)
    with torch.no_grad():
        m.spectral_weights[0].uniform_(0.5, 1.5)
        x = torch.randn(3, 5, 7, 8)
        logits = m.gate_logits(x)
        y = dynamic_spectrum_mix(x, m.spectral_weights[0], logits, num_bands=4)
        assert torch.allclose(m(x), y, atol=1e-5)
        # written out: D_H^T (S * W_s * A) D_W with A[b, u, v, c] = a[b, band(u, v), c]
        gates = band_gates(logits)
        filt = m.spectral_weights[0] * gates[:, m.bands_0]
        assert torch.allclose(y, idctn(dctn(x, (1, 2)) * filt, (1, 2)), atol=1e-5)


def test_other_grids_get_resized_weights_and_lazy_weights_are_built_then_kept() -> None:
    m = mixer("dct_static", grid=(8, 8), out_proj=False)
    assert m.supports((6, 10)) and not m.supports((8,))
    x = torch.randn(2, 6, 10, 8)
    assert torch.allclose(m(x), x, atol=1e-5)  # resized ones are ones: still the identity
    with torch.no_grad():
        m.spectral_weights[0].normal_()
    w = resize_spectral(m.spectral_weights[0], (6, 10))
    assert w.shape == (6, 10, 8) and torch.allclose(m(x), dynamic_spectrum_mix(x, w, None), atol=1e-5)
    lazy = mixer("dsm", weight_mode="filter_bank")
    assert lazy.grid is None and len(list(lazy.parameters())) > 0
    y = lazy(torch.randn(2, 5, 3, 8))
    assert lazy.grid == (5, 3) and lazy.spectral_weights[0].shape == (4, 5, 3, 8) and y.shape == (2, 5, 3, 8)
    fresh = mixer("dsm", weight_mode="filter_bank")
    fresh.load_state_dict(lazy.state_dict())
    x2 = torch.randn(1, 5, 3, 8)
    with torch.no_grad():
        assert fresh.grid == (5, 3) and torch.allclose(fresh(x2), lazy(x2))


def test_separable_axes_sum_one_branch_per_axis_and_the_channel_branch() -> None:
    m = mixer("dsm", axes="separable", out_proj=False, grid=(4, 6))
    assert [tuple(w.shape) for w in m.spectral_weights] == [(4, 8), (6, 8)]
    x = torch.randn(2, 4, 6, 8)
    with torch.no_grad():
        assert torch.allclose(m(x), 2 * x + m.channel(x), atol=1e-5)  # each branch is the identity at init


def test_half_precision_runs_the_transform_in_float32() -> None:
    m = mixer(grid=(6, 6))
    x = torch.randn(2, 6, 6, 8)
    with torch.no_grad():
        y = m.bfloat16()(x.bfloat16())
        assert y.dtype == torch.bfloat16
        with torch.autocast("cpu", dtype=torch.bfloat16):
            z = m.float()(x)
        assert torch.allclose(y.float(), m(x), atol=5e-2) and torch.isfinite(z).all()


def test_bad_configs_and_inputs_name_the_field_and_the_allowed_values() -> None:
    with pytest.raises(ConfigError, match="weight_mode") as err:
        mixer(weight_mode="dynamic")
    assert "band_gate" in str(err.value) and "filter_bank" in str(err.value)
    with pytest.raises(ConfigError, match="grid"):
        mixer(grid=(4, 0))
    with pytest.raises(ConfigError, match="num_bands"):
        mixer(num_bands=0)
    m = mixer(grid=(4, 4))
    with pytest.raises(ValueError, match="dim=8"):
        m(torch.randn(1, 4, 4, 5))
    with pytest.raises(ValueError, match="spatial rank 2"):
        m(torch.randn(1, 16, 8))
    with pytest.raises(ValueError, match="1 to 3 spatial axes"):
        m(torch.randn(4, 8))


def test_fft_global_filter_is_a_circular_filter() -> None:
    """GFNet's filter multiplies the DFT: the phase ramp exp(-2 pi i k s / N) shifts circularly (wrapping
    around), which no DCT-domain weight does."""
    m = mixer("fft_global_filter", grid=(6, 8))
    assert m.weight.shape == (6, 5, 8, 2)
    ramp = torch.exp(-2j * torch.pi * torch.arange(5) * 3 / 8)  # shift by 3 along W
    with torch.no_grad():
        m.weight.copy_(torch.view_as_real(ramp)[None, :, None, :].expand(6, 5, 8, 2))
        x = torch.randn(2, 6, 8, 8)
        assert torch.allclose(m(x), torch.roll(x, 3, dims=2), atol=1e-5)
        other = torch.randn(2, 5, 9, 8)  # another grid: the filter is resized
        assert global_filter(other, m.weight).shape == other.shape and m(other).shape == other.shape
