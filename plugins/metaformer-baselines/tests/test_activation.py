"""StarReLU (paper sec. 3.1): the normalising constants, the default init, and the fused gradients."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from forwardkit_metaformer_baselines.activation import NORMALISING_BIAS, NORMALISING_SCALE, StarReLU, star_relu


def test_normalising_constants_give_zero_mean_unit_variance() -> None:
    x = torch.randn(1_000_000, generator=torch.Generator().manual_seed(0))
    act = StarReLU(scale_init=0.8944, bias_init=-0.4472)
    with torch.no_grad():
        y = act(x)
    assert abs(y.mean().item()) < 0.01
    assert abs(y.var().item() - 1.0) < 0.02
    assert abs(NORMALISING_SCALE - 0.8944) < 1e-4 and abs(NORMALISING_BIAS + 0.4472) < 1e-4


def test_default_init_is_squared_relu_and_scalars_get_gradients() -> None:
    act = StarReLU()
    assert act.scale.numel() == 1 and act.bias.numel() == 1
    x = torch.randn(4, 5, 6)
    y = act(x)
    assert torch.equal(y, F.relu(x) ** 2)
    y.sum().backward()
    assert act.scale.grad is not None and act.bias.grad is not None
    assert act.scale.grad.abs().item() > 0 and act.bias.grad.item() == x.numel()


def test_fused_gradients_match_autograd_of_the_formula() -> None:
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(3, 4, 5, dtype=torch.float64, generator=gen).requires_grad_()
    s = torch.tensor([0.7], dtype=torch.float64, requires_grad=True)
    b = torch.tensor([-0.2], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(star_relu, (x, s, b))
    g = torch.randn(3, 4, 5, dtype=torch.float64, generator=gen)
    fused = torch.autograd.grad(star_relu(x, s, b), (x, s, b), g)
    plain = torch.autograd.grad(s * F.relu(x) ** 2 + b, (x, s, b), g)
    for a, c in zip(fused, plain, strict=True):
        torch.testing.assert_close(a, c)
    y32 = torch.randn(64, 32, generator=gen).requires_grad_()
    s32, b32 = torch.ones(1, requires_grad=True), torch.zeros(1, requires_grad=True)
    for a, c in zip(torch.autograd.grad(star_relu(y32, s32, b32).sum(), (y32, s32, b32)),
                    torch.autograd.grad((s32 * F.relu(y32) ** 2 + b32).sum(), (y32, s32, b32)), strict=True):
        torch.testing.assert_close(a, c)


def test_fixed_scalars_are_not_trained() -> None:
    act = StarReLU(learnable=False)
    assert not act.scale.requires_grad and not act.bias.requires_grad
    x = torch.randn(2, 3, requires_grad=True)
    act(x).sum().backward()
    assert x.grad is not None and act.scale.grad is None
