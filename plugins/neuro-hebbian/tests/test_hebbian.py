"""The soft Hebbian rule (eqs. 1-3): the card's tests (locality, soft WTA limits, Oja normalisation, fixed point)
and the vectorised form against the paper-literal loop."""

from __future__ import annotations

import pytest
import torch
from forwardkit_neuro_hebbian.config import SoftHebbianConfig
from forwardkit_neuro_hebbian.hebbian import (
    SoftHebbianConv,
    hebbian_patches,
    layer_weight_matrix,
    plastic,
    soft_hebbian_delta,
    soft_hebbian_delta_reference,
    soft_hebbian_update_,
)
from torch import nn

RAW = SoftHebbianConfig(keep_scale=False)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("norm_mode", ["oja", "none"])
@pytest.mark.parametrize("tau", [0.3, 1.0, 5.0])
def test_the_vectorised_step_equals_the_paper_literal_loop(norm_mode, tau):
    g = _gen()
    w, x = torch.randn(5, 7, generator=g, dtype=torch.float64), torch.randn(11, 7, generator=g, dtype=torch.float64)
    fast = soft_hebbian_delta(w, x, tau=tau, norm_mode=norm_mode)
    torch.testing.assert_close(fast, soft_hebbian_delta_reference(w, x, tau=tau, norm_mode=norm_mode))


def test_im2col_patches_reproduce_the_convolution():
    conv = nn.Conv2d(2, 3, 3, padding=1, stride=2)
    x = torch.randn(2, 2, 7, 7, generator=_gen())
    patches = hebbian_patches(conv, x)                              # (B * L, D)
    out = conv(x).permute(0, 2, 3, 1).reshape(-1, 3)
    torch.testing.assert_close(patches @ layer_weight_matrix(conv).T + conv.bias, out, atol=1e-5, rtol=1e-5)
    lin = nn.Linear(4, 2)
    assert hebbian_patches(lin, torch.randn(3, 5, 4)).shape == (15, 4)


def test_soft_wta_limits():
    g = _gen(1)
    w, x = torch.randn(4, 6, generator=g, dtype=torch.float64), torch.randn(9, 6, generator=g, dtype=torch.float64)
    u = x @ w.T
    # tau -> 0: hard winner-take-all, only the argmax neuron of each patch moves, by (x - u_k W_k)
    hard = torch.zeros_like(w)
    for n, k in enumerate(u.argmax(1).tolist()):
        hard[k] += x[n] - u[n, k] * w[k]
    torch.testing.assert_close(soft_hebbian_delta(w, x, tau=1e-9), hard / len(x))
    losers = sorted(set(range(4)) - set(u.argmax(1).tolist()))
    if losers:
        assert torch.all(soft_hebbian_delta(w, x, tau=1e-9)[losers] == 0)
    # tau -> inf: every neuron gets responsibility 1 / K
    flat = (x.sum(0)[None] - (u.T.sum(1, keepdim=True)) * w) / (4 * len(x))
    torch.testing.assert_close(soft_hebbian_delta(w, x, tau=1e9), flat)


@pytest.mark.parametrize("scale", [0.5, 2.0])
def test_oja_normalisation_drives_every_filter_to_unit_norm(scale):
    g = _gen(2)
    layer = nn.Linear(8, 4, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.nn.functional.normalize(torch.randn(4, 8, generator=g), dim=1) * scale)
    cfg = SoftHebbianConfig(keep_scale=False, eta=0.05, tau=1.0)
    for _ in range(600):
        soft_hebbian_update_(layer, torch.randn(64, 8, generator=g), cfg)
    norms = layer.weight.norm(dim=1)
    assert torch.all((norms - 1).abs() < 0.1), norms
    plain = nn.Linear(8, 4, bias=False)
    with torch.no_grad():
        plain.weight.copy_(layer.weight * 0 + torch.nn.functional.normalize(torch.randn(4, 8, generator=g), dim=1))
    for _ in range(50):  # without the Oja term nothing bounds the norms: positive inputs keep pushing them up
        soft_hebbian_update_(plain, torch.rand(64, 8, generator=g), SoftHebbianConfig(keep_scale=False, eta=0.05,
                                                                                     norm_mode="none"))
    assert plain.weight.norm(dim=1).max() > 1.5


def test_a_neuron_equal_to_the_only_input_is_a_fixed_point():
    v = torch.nn.functional.normalize(torch.randn(6, generator=_gen(3)), dim=0)
    others = torch.randn(3, 6, generator=_gen(4))
    w = torch.cat([v[None], others])
    patches = v.expand(10, 6)
    step = soft_hebbian_delta(w, patches, tau=0.5)
    assert torch.allclose(step[0], torch.zeros(6), atol=1e-6)
    assert step[1:].abs().sum() > 0


def test_keep_scale_changes_directions_and_keeps_every_filter_norm():
    conv = nn.Conv2d(1, 4, 3, padding=1)
    before = conv.weight.detach().clone()
    x = torch.rand(4, 1, 8, 8, generator=_gen(5))
    out = soft_hebbian_update_(conv, x, SoftHebbianConfig(eta=0.5))
    torch.testing.assert_close(conv.weight.reshape(4, -1).norm(dim=1), before.reshape(4, -1).norm(dim=1))
    assert not torch.equal(conv.weight, before) and out["hebbian_step"] > 0


def test_the_update_is_local_it_reads_no_gradient_and_writes_none():
    conv = nn.Conv2d(1, 4, 3, padding=1)
    x = torch.rand(2, 1, 6, 6, generator=_gen(6))
    sentinel = torch.full_like(conv.weight, 7.0)
    conv.weight.grad = sentinel.clone()
    other = nn.Conv2d(1, 4, 3, padding=1)
    with torch.no_grad():
        other.weight.copy_(conv.weight)
    soft_hebbian_update_(conv, x, RAW)
    soft_hebbian_update_(other, x, RAW)
    assert torch.equal(conv.weight.grad, sentinel) and other.weight.grad is None   # .grad neither read nor written
    assert torch.equal(conv.weight, other.weight)                                    # the same step either way
    # what follows the layer plays no part: a forward through different downstream layers gives the same update
    a, b = nn.Conv2d(1, 4, 3, padding=1), nn.Conv2d(1, 4, 3, padding=1)
    with torch.no_grad():
        b.weight.copy_(a.weight)
        b.bias.copy_(a.bias)
    for layer, head in ((a, nn.Linear(4, 3)), (b, nn.Linear(4, 9))):
        with plastic(layer, RAW):
            head(layer(x).mean((2, 3)))
    assert torch.equal(a.weight, b.weight)


def test_plastic_updates_before_the_forward_and_removes_its_hook():
    conv = nn.Conv2d(1, 3, 3, padding=1)
    x = torch.rand(2, 1, 5, 5, generator=_gen(7))
    log: list[dict[str, float]] = []
    with plastic(conv, SoftHebbianConfig(eta=0.3), log=log):
        y = conv(x)
    torch.testing.assert_close(y, conv(x))          # the output was computed with the updated weights
    assert len(log) == 1 and not conv._forward_pre_hooks
    w = conv.weight.detach().clone()
    conv(x)
    assert torch.equal(conv.weight, w)              # outside the context the layer is a plain conv


def test_subsampling_is_seeded_and_the_bias_can_learn():
    conv = nn.Conv2d(1, 2, 3, padding=1)
    x = torch.rand(3, 1, 6, 6, generator=_gen(8))
    assert hebbian_patches(conv, x, subsample=5, generator=_gen(0)).shape == (15, 9)
    assert torch.equal(hebbian_patches(conv, x, subsample=5, generator=_gen(0)),
                       hebbian_patches(conv, x, subsample=5, generator=_gen(0)))
    bias = conv.bias.detach().clone()
    soft_hebbian_update_(conv, x, SoftHebbianConfig(update_bias=True, eta=0.5))
    assert not torch.equal(conv.bias, bias)
    wrapped = SoftHebbianConv(nn.Conv2d(1, 2, 3), eta=0.2)
    assert wrapped.config.eta == 0.2 and wrapped(x).shape == (3, 2, 4, 4)
    wrapped.hebbian_update(x)
    with pytest.raises(TypeError):
        SoftHebbianConv(nn.ReLU())
