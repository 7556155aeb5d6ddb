"""The noise itself (paper Sec. 3): variance schedule eta / (1 + t)^gamma, zero mean, independence."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from forwardkit_gradient_noise.callback import AnnealedGradientNoise
from forwardkit_gradient_noise.noise import add_gradient_noise_, gradient_noise_, noise_std, noise_variance
from torch import nn

N = 200_000  # entries per draw: the sample variance has relative std sqrt(2 / N) ~ 0.3 %


def _zero_grad_param(n: int = N) -> nn.Parameter:
    p = nn.Parameter(torch.zeros(n))
    p.grad = torch.zeros(n)
    return p


def _draw(step: int, *, eta: float, gamma: float, seed: int = 0) -> torch.Tensor:
    p = _zero_grad_param()
    gradient_noise_([p], step, eta=eta, gamma=gamma, generator=torch.Generator().manual_seed(seed))
    assert p.grad is not None
    return p.grad


@pytest.mark.parametrize("t", [0, 10, 1000])
def test_empirical_variance_follows_the_schedule(t: int) -> None:
    eta, gamma = 0.3, 0.55
    noise = _draw(t, eta=eta, gamma=gamma, seed=t)
    expected = eta / (1 + t) ** gamma
    assert noise.var().item() == pytest.approx(expected, rel=0.02)  # ~7 standard errors
    assert abs(noise.mean().item()) < 5 * math.sqrt(expected / N)


def test_variance_not_std_follows_the_schedule() -> None:
    """At t = 1000 the schedule value is 0.0224 (variance); the std-bug would give variance 0.0005."""
    eta, gamma, t = 1.0, 0.55, 1000
    var = _draw(t, eta=eta, gamma=gamma).var().item()
    assert var == pytest.approx(eta / (1 + t) ** gamma, rel=0.02)
    assert abs(var - (eta / (1 + t) ** gamma) ** 2) > 0.5 * var
    assert noise_std(t, eta=eta, gamma=gamma) == pytest.approx(math.sqrt(noise_variance(t, eta=eta, gamma=gamma)))


def test_annealing_decreases_with_t() -> None:
    variances = [_draw(t, eta=0.5, gamma=0.55, seed=t).var().item() for t in (0, 10, 100, 1000)]
    assert all(a > b for a, b in itertools.pairwise(variances))


def test_gamma_zero_gives_constant_variance() -> None:
    for t in (0, 10, 1000):
        assert _draw(t, eta=0.2, gamma=0.0, seed=t).var().item() == pytest.approx(0.2, rel=0.02)


def test_eta_zero_leaves_gradients_bit_identical() -> None:
    torch.manual_seed(0)
    p = nn.Parameter(torch.randn(10, 7))
    p.grad = torch.randn(10, 7)
    before = p.grad.clone()
    gen = torch.Generator().manual_seed(3)
    state = gen.get_state()
    gradient_noise_([p], 0, eta=0.0, gamma=0.55, generator=gen)
    assert torch.equal(p.grad, before)
    assert torch.equal(gen.get_state(), state)  # nothing drawn either


def test_noise_is_independent_across_parameters_and_steps() -> None:
    a, b = _zero_grad_param(50_000), _zero_grad_param(50_000)
    gen = torch.Generator().manual_seed(0)
    add_gradient_noise_([a, b], 1.0, generator=gen)
    assert a.grad is not None and b.grad is not None
    first_a = a.grad.clone()
    corr_params = torch.corrcoef(torch.stack([a.grad, b.grad]))[0, 1].item()
    a.grad.zero_()
    add_gradient_noise_([a], 1.0, generator=gen)
    corr_steps = torch.corrcoef(torch.stack([first_a, a.grad]))[0, 1].item()
    bound = 5 / math.sqrt(50_000)
    assert abs(corr_params) < bound and abs(corr_steps) < bound
    # neighbouring entries are uncorrelated too (i.i.d. elementwise)
    lag = torch.corrcoef(torch.stack([first_a[:-1], first_a[1:]]))[0, 1].item()
    assert abs(lag) < bound


def test_noise_is_added_not_replacing() -> None:
    p = nn.Parameter(torch.zeros(1000))
    p.grad = torch.full((1000,), 5.0)
    add_gradient_noise_([p], 0.1, generator=torch.Generator().manual_seed(0))
    assert p.grad.mean().item() == pytest.approx(5.0, abs=0.02)


def test_untouched_without_grad_or_when_frozen() -> None:
    no_grad = nn.Parameter(torch.zeros(5))
    frozen = nn.Parameter(torch.zeros(5), requires_grad=False)
    frozen.grad = torch.zeros(5)
    live = _zero_grad_param(5)
    assert add_gradient_noise_([no_grad, frozen, live], 1.0, generator=torch.Generator().manual_seed(0)) == 1
    assert no_grad.grad is None and torch.equal(frozen.grad, torch.zeros(5))
    assert live.grad is not None and bool((live.grad != 0).all())


def test_functional_form_matches_the_callback() -> None:
    """The callback's noise at step t is ``gradient_noise_`` with the same generator stream."""
    model = nn.Linear(6, 3)
    cb = AnnealedGradientNoise(eta=0.3, gamma=0.55, seed=11)
    gen = torch.Generator().manual_seed(11)
    for t in range(3):
        for p in model.parameters():
            p.grad = torch.zeros_like(p)
        cb.apply(model, t)
        got = [p.grad.clone() for p in model.parameters()]  # type: ignore[union-attr]
        ref = [nn.Parameter(torch.zeros_like(p)) for p in model.parameters()]
        for r in ref:
            r.grad = torch.zeros_like(r)
        gradient_noise_(ref, t, eta=0.3, gamma=0.55, generator=gen)
        assert all(torch.equal(a, r.grad) for a, r in zip(got, ref, strict=True))


def test_constant_schedule_and_weights_only() -> None:
    model = nn.Linear(400, 500)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    cb = AnnealedGradientNoise(schedule="constant", std=0.05, param_filter="weights_only", seed=0)
    cb.apply(model, 10_000)
    assert model.weight.grad.std().item() == pytest.approx(0.05, rel=0.02)  # type: ignore[union-attr]
    assert torch.equal(model.bias.grad, torch.zeros(500))  # type: ignore[arg-type]


def test_t0_shifts_the_schedule() -> None:
    cb = AnnealedGradientNoise(eta=1.0, gamma=0.55, t0=99)

    class Ctx:
        step = 0

    assert cb.step_index(Ctx()) == 99  # type: ignore[arg-type]
    assert cb.std_at(cb.step_index(Ctx())) == pytest.approx(math.sqrt(1.0 / 100**0.55))  # type: ignore[arg-type]
