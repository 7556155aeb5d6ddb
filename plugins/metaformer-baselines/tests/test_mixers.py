"""The paper's token mixers: pooling, random mixing, separable conv (and the builtin attention as CAFormer uses it)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from forwardkit_metaformer_baselines.pooling import pool_mix
from forwardkit_metaformer_baselines.random_mixing import RandomMixing, random_mixing_matrix
from torch import nn

import forwardkit


# ---- pooling ---------------------------------------------------------------------------------------------
def test_pooling_of_a_constant_is_zero_everywhere_including_borders() -> None:
    for rank_shape in [(2, 9, 3), (2, 5, 7, 3), (2, 3, 4, 5, 3)]:
        x = torch.full(rank_shape, 2.5)
        assert torch.equal(forwardkit.create("token_mixer", "pooling", dim=3)(x), torch.zeros_like(x))
    padded = forwardkit.create("token_mixer", "pooling", dim=3, count_include_pad=True)(torch.full((1, 5, 7, 3), 2.5))
    assert padded[0, 0, 0].abs().max() > 0.5  # border averages include zeros when the pad is counted


@pytest.mark.parametrize("shape", [(2, 9, 4), (2, 5, 6, 4), (2, 3, 4, 5, 4), (2, 5, 6, 7, 4)])
@pytest.mark.parametrize("include_pad", [False, True])
@pytest.mark.parametrize("fused", [True, False, None])
def test_pooling_matches_the_paper_formula_forward_and_backward(shape: tuple[int, ...], include_pad: bool,
                                                                 fused: bool | None) -> None:
    rank = len(shape) - 2
    k = 3 if min(shape[1:-1]) < 5 else 5  # avg_pool3d (the reference) refuses axes shorter than the kernel
    pool = {1: nn.AvgPool1d, 2: nn.AvgPool2d, 3: nn.AvgPool3d}[rank](k, 1, k // 2, count_include_pad=include_pad)
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    g = torch.randn(shape, dtype=torch.float64)
    ref = x.movedim(-1, 1)
    ref = (pool(ref) - ref).movedim(1, -1)
    ours = pool_mix(x, k, include_pad, fused=fused)
    torch.testing.assert_close(ours, ref)
    torch.testing.assert_close(torch.autograd.grad(ours, x, g)[0], torch.autograd.grad(ref, x, g)[0])
    assert ours.is_contiguous()


def test_pooling_dispatches_on_size_and_threads(monkeypatch) -> None:
    from forwardkit_metaformer_baselines import pooling

    calls = []
    monkeypatch.setattr(pooling._PoolMinusInput, "apply", lambda *a: calls.append(a) or a[0] * 0)
    monkeypatch.setattr(pooling, "FUSED_MIN_ELEMENTS_PER_THREAD", 100)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    pool_mix(torch.randn(1, 10, 10, 1))  # 100 elements < 100 x 2 threads: plain ops
    assert not calls
    pool_mix(torch.randn(2, 10, 10, 1))  # 200 elements: the fused function
    assert len(calls) == 1


# ---- random mixing ---------------------------------------------------------------------------------------
def test_random_matrix_is_row_stochastic_frozen_and_seeded() -> None:
    mixer = RandomMixing(dim=4, seed=3)
    x = torch.randn(2, 3, 5, 4)
    mixer(x)
    matrix = mixer.matrix
    assert matrix.shape == (15, 15) and not matrix.requires_grad
    torch.testing.assert_close(matrix.sum(-1), torch.ones(15))
    assert torch.equal(matrix, random_mixing_matrix(15, 3)) and not torch.equal(matrix, random_mixing_matrix(15, 4))
    assert list(mixer.parameters()) == [] and "matrix" in mixer.state_dict()
    const = torch.full((2, 3, 5, 4), 1.7)
    torch.testing.assert_close(mixer(const), const)


def test_random_matrix_is_not_in_the_optimizer() -> None:
    model = forwardkit.create("model", "randformer", in_channels=1, image_size=28)
    opt = torch.optim.AdamW(model.parameters())
    in_opt = {id(p) for group in opt.param_groups for p in group["params"]}
    mats = [m.matrix for m in model.modules() if isinstance(m, RandomMixing)]
    assert len(mats) == 3 and all(id(m) not in in_opt and not m.requires_grad for m in mats)
    assert len({m.data_ptr() for m in mats}) == 3  # independent matrices per block (seed=None)
    assert not torch.equal(mats[0], mats[1])


def test_lazy_matrix_round_trips_through_state_dict() -> None:
    a, b = RandomMixing(dim=4), RandomMixing(dim=4)
    x = torch.randn(2, 6, 4)
    ya = a(x)
    assert b.num_tokens is None and b.supports((7,))  # lazy: any token count until the first input
    b.load_state_dict(a.state_dict())
    assert b.num_tokens == 6 and not b.supports((7,))
    torch.testing.assert_close(b(x), ya)


def test_causal_random_mixing_ignores_the_future() -> None:
    mixer = RandomMixing(dim=3, num_tokens=8, causal_mask=True)
    assert mixer.causal
    x = torch.randn(1, 8, 3)
    x2 = x.clone()
    x2[:, 5:] += 10.0
    torch.testing.assert_close(mixer(x)[:, :5], mixer(x2)[:, :5])
    torch.testing.assert_close(mixer.matrix.sum(-1), torch.ones(8))


# ---- separable convolution ---------------------------------------------------------------------------------
def test_sepconv_receptive_field_is_the_kernel_window() -> None:
    # GELU, not StarReLU: relu(x)^2 has exactly zero gradient where all hidden units are negative, which would
    # make a position inside the window look untouched by chance; the window is the convolution's property
    torch.manual_seed(0)
    mixer = forwardkit.create("token_mixer", "sepconv", dim=4, act1="gelu")
    x = torch.randn(1, 15, 15, 4, requires_grad=True)
    mixer(x)[0, 7, 7].sum().backward()
    touched = x.grad[0].abs().sum(-1) > 0
    window = torch.zeros(15, 15, dtype=torch.bool)
    window[4:11, 4:11] = True
    assert torch.equal(touched, window)

    seq = forwardkit.create("token_mixer", "sepconv", dim=4, spatial_rank=1, act1="gelu")
    x1 = torch.randn(1, 21, 4, requires_grad=True)
    seq(x1)[0, 10].sum().backward()
    assert torch.equal(x1.grad[0].abs().sum(-1) > 0, torch.arange(21).sub(10).abs() <= 3)


def test_causal_sepconv_output_ignores_future_tokens() -> None:
    torch.manual_seed(0)
    mixer = forwardkit.create("token_mixer", "sepconv", dim=4, spatial_rank=1, causal=True, act1="gelu")
    assert mixer.causal
    x = torch.randn(1, 12, 4, requires_grad=True)
    mixer(x)[0, 8].sum().backward()
    touched = x.grad[0].abs().sum(-1) > 0
    assert torch.equal(touched, (torch.arange(12) <= 8) & (torch.arange(12) >= 2))  # the 7 taps t-6 .. t
    # images: raster order (rows above, and the left part of the own row)
    image = forwardkit.create("token_mixer", "sepconv", dim=4, causal=True)
    x2 = torch.randn(1, 9, 9, 4, requires_grad=True)
    image(x2)[0, 4, 4].sum().backward()
    flat = (x2.grad[0].abs().sum(-1) > 0).flatten()
    assert flat[: 4 * 9 + 5].any() and not flat[4 * 9 + 5 :].any()


def test_sepconv_matches_a_reference_written_from_the_paper() -> None:
    mixer = forwardkit.create("token_mixer", "sepconv", dim=6, act1="gelu")
    x = torch.randn(2, 5, 7, 6)
    h = F.gelu(F.linear(x, mixer.pwconv1.weight)).permute(0, 3, 1, 2)
    h = F.conv2d(h, mixer.dwconv.weight, padding=3, groups=h.shape[1]).permute(0, 2, 3, 1)
    torch.testing.assert_close(mixer(x), F.linear(h, mixer.pwconv2.weight))


@pytest.mark.parametrize("kernels", ["sgemm", "conv1x1"])
@pytest.mark.parametrize(("fields", "shape"), [
    ({}, (2, 9, 9, 8)), ({}, (1, 5, 5, 8)), ({"act1": "gelu", "kernel_size": 3, "bias": True}, (2, 6, 7, 8)),
    ({"spatial_rank": 1}, (2, 40, 8)), ({"spatial_rank": 1, "causal": True}, (2, 40, 8)),
    ({"causal": True, "kernel_size": 3}, (2, 9, 9, 8)), ({"spatial_rank": 3, "kernel_size": 3}, (2, 3, 5, 6, 8)),
])
def test_sepconv_kernels_agree_with_the_written_out_reference(kernels, fields, shape, monkeypatch) -> None:
    """Both projection kernels of forwardkit.nn.pointwise and both depthwise layouts (a copy for a handful of
    positions, the channels-last view otherwise) against sepconv_reference: outputs and every gradient."""
    from forwardkit_metaformer_baselines.activation import StarReLU
    from forwardkit_metaformer_baselines.sepconv import sepconv_reference

    # every projection on the kernel named, whatever the size: oneDNN's 1x1 conv or sgemm
    monkeypatch.setenv("FORWARDKIT_POINTWISE", "conv1x1" if kernels == "conv1x1" else "linear")
    torch.manual_seed(0)
    mixer = forwardkit.create("token_mixer", "sepconv", dim=8, **fields)
    if isinstance(mixer.act1, StarReLU):
        with torch.no_grad():
            mixer.act1.scale.fill_(0.9)
            mixer.act1.bias.fill_(-0.3)
    x = torch.randn(shape, requires_grad=True)
    ours = mixer(x)
    act = (lambda t: mixer.act1.scale * F.relu(t) ** 2 + mixer.act1.bias) if isinstance(mixer.act1, StarReLU) \
        else mixer.act1
    ref = sepconv_reference(x, mixer.pwconv1.weight, mixer.dwconv.weight, mixer.pwconv2.weight, act,
                            pw1_bias=mixer.pwconv1.bias, dw_bias=mixer.dwconv.bias, pw2_bias=mixer.pwconv2.bias,
                            causal=mixer.causal)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)
    assert ours.is_contiguous()
    inputs = [x, *(p for p in mixer.parameters() if p.requires_grad)]
    g = torch.randn_like(ours)
    for a, b in zip(torch.autograd.grad(ours, inputs, g), torch.autograd.grad(ref, inputs, g), strict=True):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


# ---- attention (builtin, as CAFormer configures it) -----------------------------------------------------------
def test_caformer_attention_is_permutation_equivariant_and_causal_when_asked() -> None:
    attn = forwardkit.create("token_mixer", "attention", dim=32, head_dim=16, proj_bias=False)
    x = torch.randn(2, 10, 32)
    perm = torch.randperm(10)
    torch.testing.assert_close(attn(x)[:, perm], attn(x[:, perm]), atol=1e-5, rtol=1e-5)
    causal = forwardkit.create("token_mixer", "attention", dim=32, head_dim=16, causal=True)
    x2 = x.clone()
    x2[:, 6:] = torch.randn(2, 4, 32)
    torch.testing.assert_close(causal(x)[:, :6], causal(x2)[:, :6])
