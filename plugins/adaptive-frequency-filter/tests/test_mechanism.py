"""The card's tests of the AFF mechanism (each can fail)."""

from __future__ import annotations

import pytest
import torch
from forwardkit_adaptive_frequency_filter.analyzer import equivalent_kernel
from forwardkit_adaptive_frequency_filter.mixer import AFF, AFFStaticMask, GlobalFilter, inverse, spectrum
from forwardkit_adaptive_frequency_filter.reference import aff_reference

import forwardkit


def _circular_conv(u: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Per-channel circular convolution by torch.roll sums: y[i, j] = sum_{a, b} k[a, b] u[i - a, j - b]."""
    h, w = u.shape[1:3]
    y = torch.zeros_like(u)
    for a in range(h):
        for b in range(w):
            y = y + k[None, a, b, :] * torch.roll(u, shifts=(a, b), dims=(1, 2))
    return y


@pytest.mark.parametrize("grid", [(6, 6), (7, 5)])
def test_convolution_theorem_static_mask(grid):
    torch.manual_seed(0)
    m = AFFStaticMask(dim=3, grid=list(grid), inner_skip=False, init_scale=0.5).double()
    u = torch.randn(2, *grid, 3, dtype=torch.float64)
    mask = m.static_mask()
    kernel = torch.fft.irfftn(mask, s=grid, dim=(0, 1), norm="backward")
    y = torch.fft.irfftn(mask * torch.fft.rfftn(u, dim=(1, 2)), s=grid, dim=(1, 2))
    direct = _circular_conv(u, kernel)
    assert (y - direct).abs().max() < 1e-5
    # the plugin's ortho-normalised path equals the same convolution with the ortho-scaled kernel
    m.config.fp32_fft = False
    out = m(u)
    kernel_o = torch.fft.irfftn(mask, s=grid, dim=(0, 1), norm="ortho") / (grid[0] * grid[1]) ** 0.5
    assert (out - _circular_conv(u, kernel_o)).abs().max() < 1e-5


def test_all_ones_mask_is_identity():
    u = torch.randn(2, 6, 7, 4)
    ones = torch.ones(6, 4, 4, dtype=torch.complex64)
    y = inverse(ones * spectrum(u), (6, 7))
    assert torch.allclose(y, u, atol=1e-5)
    for skip, factor in [(True, 2.0), (False, 1.0)]:
        m = AFFStaticMask(dim=4, grid=[6, 7], inner_skip=skip, sparsity_threshold=0.0)
        with torch.no_grad():
            m.weight.zero_()
            m.weight[..., 0] = 1.0
        assert torch.allclose(m(u), factor * u, atol=1e-5)


def test_mask_depends_on_input_and_zero_weights_give_zero_mask():
    torch.manual_seed(0)
    m = AFF(dim=16, init_scale=0.5)
    a, b = torch.randn(1, 8, 8, 16), torch.randn(1, 8, 8, 16)
    assert (m.mask(a) - m.mask(b)).abs().max() > 1e-3
    for p in m.parameters():
        p.data.zero_()
    assert m.mask(a).abs().max() == 0
    assert torch.allclose(m(a), a)
    m.config.inner_skip = False
    assert m(a).abs().max() == 0


def test_block_diagonal_mask_gradient():
    torch.manual_seed(0)
    m = AFF(dim=8, num_groups=4, init_scale=0.5)
    x = torch.randn(1, 4, 3, 8, dtype=torch.complex64, requires_grad=True)
    from forwardkit_adaptive_frequency_filter.mixer import aff_mask
    mask = aff_mask(x, m.w1, m.b1, m.w2, m.b2)
    (g,) = torch.autograd.grad(torch.view_as_real(mask)[..., 0:2, :].sum(), x)  # group 0 = channels 0, 1
    assert g[..., 2:].abs().max() == 0 and g[..., :2].abs().max() > 0


def test_global_receptive_field():
    torch.manual_seed(0)
    m = AFF(dim=8, init_scale=0.5, inner_skip=False)
    u = torch.randn(1, 5, 5, 8, requires_grad=True)
    y = m(u)
    for i in range(5):
        for j in range(5):
            (g,) = torch.autograd.grad(y[0, i, j].sum(), u, retain_graph=True)
            assert (g[0].abs().sum(-1) > 0).all()


def test_real_output_and_fp32_fft_under_bf16_autocast():
    m = AFF(dim=16)
    u = torch.randn(2, 6, 6, 16)
    y = m(u)
    assert y.shape == u.shape and y.dtype == u.dtype and not y.is_complex()
    ub = u.bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        yb = m(ub)
    assert yb.dtype == torch.bfloat16
    assert torch.equal(yb, m(ub.float()).bfloat16())  # float32 inside: the float path, rounded once at the end
    for mixer in (GlobalFilter(dim=16, grid=[6, 6]), AFFStaticMask(dim=16, grid=[6, 6])):
        assert mixer(u).shape == u.shape and not mixer(u).is_complex()


@pytest.mark.parametrize("act,grid", [("relu", (8, 8)), ("gelu", (7, 5))])
def test_official_parity_reference(act, grid):
    torch.manual_seed(0)
    m = AFF(dim=16, num_groups=8, act=act, init_scale=0.3)
    u = torch.randn(2, *grid, 16)
    ref = aff_reference(u, m.w1, m.b1, m.w2, m.b2, act=act)
    assert (m(u) - ref).abs().max() < 1e-5


def test_equivalent_kernel_reproduces_output():
    torch.manual_seed(0)
    m = AFF(dim=4, num_groups=2, init_scale=0.5, inner_skip=False)
    u = torch.randn(1, 6, 6, 4, dtype=torch.float64)
    k = equivalent_kernel(m, u.float()).double() / 6.0  # ortho scaling: 1 / sqrt(H W)
    assert (m(u.float()).double() - _circular_conv(u, k[0])).abs().max() < 1e-4


def test_bad_config_names_the_field():
    with pytest.raises(Exception, match="num_groups"):
        forwardkit.create("token_mixer", "aff", dim=12, num_groups=8)
    with pytest.raises(Exception, match="grid"):
        forwardkit.create("token_mixer", "global_filter", dim=8, grid=[0, 4])
    with pytest.raises(ValueError, match="grid"):
        forwardkit.create("token_mixer", "global_filter", dim=8, grid=[4, 4])(torch.randn(1, 5, 5, 8))
    with pytest.raises(Exception, match="sparsity_threshold"):
        forwardkit.create("token_mixer", "aff", dim=8, sparsity_threshold=-1)
