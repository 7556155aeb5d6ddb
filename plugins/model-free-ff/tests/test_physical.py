"""The physical black box: no gradient flows into or through it, in isolation and inside training; the adapter;
the simulated optics against its paper-literal and numpy forms."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from forwardkit_model_free_ff.optics import (
    SimulatedOpticalLayer,
    optical_response,
    optical_response_numpy,
    optical_response_reference,
)
from forwardkit_model_free_ff.physical import BlackBox, PhysicalLayer, black_box
from forwardkit_model_free_ff.rule import ModelFreeFF
from torch import nn

import forwardkit
from forwardkit.interfaces import RunContext


class Recorder(nn.Module):
    """A frozen 'hardware' module with a parameter, that records whether autograd was on when it was called."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(6, 5)
        self.grad_enabled: list[bool] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.grad_enabled.append(torch.is_grad_enabled())
        return torch.tanh(self.lin(x))


class Logged:
    """A plain callable around a simulator, recording autograd mode and whether outputs carry a graph."""

    def __init__(self, inner: nn.Module) -> None:
        self.inner = inner
        self.log: list[bool] = []

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.log.append(torch.is_grad_enabled())
        out = self.inner(x)
        self.log.append(out.requires_grad)
        return out


def test_a_black_box_output_has_no_autograd_history_and_backward_through_it_is_impossible():
    hw = Recorder()
    box = black_box(hw)
    x = torch.randn(3, 6, requires_grad=True)
    z = box(x)
    assert hw.grad_enabled == [False]  # called under torch.no_grad()
    assert not z.requires_grad and z.grad_fn is None
    assert all(not p.requires_grad for p in hw.parameters())  # the wrapped module is frozen
    with pytest.raises(RuntimeError):
        torch.autograd.grad(z.sum(), x)
    with pytest.raises(RuntimeError):
        z.sum().backward()
    # even a loss that also depends on x directly gets no gradient *through* the box
    (y := (z.sum() + (2 * x).sum())).backward()
    assert x.grad is not None and torch.equal(x.grad, torch.full_like(x, 2.0)) and y.requires_grad
    assert all(p.grad is None for p in hw.parameters())
    assert int(box.queries) == 3 and torch.allclose(z, torch.tanh(hw.lin(x)).detach())


def test_model_free_ff_training_never_differentiates_the_physics():
    model = forwardkit.create("model", "hybrid_pnn", in_features=16, num_classes=4, hidden=8,
                              physics={"name": "simulated_optical", "out_dim": 8})
    recorders = []
    for k in range(model.num_blocks):  # wrap each simulator so that every call records the autograd mode
        logged = Logged(model.physics[k].hardware)
        recorders.append(logged.log)
        model.replace_physics(k, logged)
    rule = ModelFreeFF(inner_steps=3)
    ctx = RunContext(model=model)
    rule.setup(model, ctx)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    batch = model.example_batch(8, generator=torch.Generator().manual_seed(0))
    rule.step(batch, ctx)
    assert all(log and not any(log) for log in recorders)  # grad mode off, outputs without grad, every call
    assert all(not torch.equal(before[n], p) for n, p in model.named_parameters())  # and still every Linear trained


def test_a_numpy_black_box_gives_the_same_training_as_the_torch_simulator():
    def build() -> tuple[Any, ModelFreeFF, RunContext]:
        torch.manual_seed(0)
        model = forwardkit.create("model", "hybrid_pnn", in_features=16, num_classes=4, hidden=8, physics_seed=3,
                                  physics={"name": "simulated_optical", "out_dim": 8})
        rule = ModelFreeFF(inner_steps=2)
        ctx = RunContext(model=model)
        rule.setup(model, ctx)
        return model, rule, ctx

    torch_model, torch_rule, torch_ctx = build()
    np_model, np_rule, np_ctx = build()
    for k in range(np_model.num_blocks):
        weight = np_model.physics[k].hardware.weight.numpy().copy()
        np_model.replace_physics(k, lambda x, w=weight: optical_response_numpy(x, w), interface="numpy")
    for step in range(3):
        batch = torch_model.example_batch(8, generator=torch.Generator().manual_seed(step))
        torch_rule.step(batch, torch_ctx)
        np_rule.step(batch, np_ctx)
    for (name, a), b in zip(torch_model.named_parameters(), np_model.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-5), name
    assert torch_model.queries() == np_model.queries() == 3 * 2 * 2 * 8
    x = torch_model.example_batch(5)["x"]
    assert torch.equal(torch_model(x).argmax(-1), np_model(x).argmax(-1))


def test_backprop_through_a_numpy_black_box_is_refused():
    box = black_box(lambda x: np.abs(x), interface="numpy")
    with box.surrogate("exact"), pytest.raises(RuntimeError, match="differentiable torch simulator"):
        box(torch.randn(2, 3, requires_grad=True))


def test_surrogates_give_measured_values_with_the_surrogates_gradient():
    hw = Recorder()
    box = black_box(hw)
    twin = nn.Linear(6, 5)
    x = torch.randn(4, 6, requires_grad=True)
    with box.surrogate(twin):
        z = box(x)
    assert torch.allclose(z, box.measure(x)) and z.requires_grad
    (g,) = torch.autograd.grad(z.sum(), x)
    assert torch.allclose(g, twin.weight.sum(0).expand(4, 6))  # d sum(twin(x)) / dx
    with box.surrogate("exact"):
        z = box(x)
    (g,) = torch.autograd.grad(z.sum(), x)
    assert torch.allclose(g, torch.autograd.grad(torch.tanh(hw.lin(x)).sum(), x)[0])
    assert not box(x).requires_grad  # outside the block: a black box again


def test_encoding_and_skip_concat():
    box = black_box(nn.Identity(), normalize_input="l2_abs", skip_concat=True)
    x = torch.tensor([[3.0, -4.0]])
    assert torch.allclose(box(x), torch.tensor([[0.6, 0.8, 3.0, -4.0]]), atol=1e-5)


def test_perturb_changes_the_hardware_in_place_or_replaces_it():
    box = black_box(lambda x: x + 1)
    box.perturb(lambda fn: (lambda x: fn(x) * 2))
    assert torch.equal(box(torch.zeros(1, 2)), torch.full((1, 2), 2.0))
    sim = SimulatedOpticalLayer(in_features=4, out_dim=3)
    box = black_box(sim)
    before = sim.weight.clone()
    box.perturb(lambda hw: hw.drift_(0.5, torch.Generator().manual_seed(1)))
    fresh = (sim.weight - before) / 0.5
    assert fresh.abs().max() > 0 and abs(float(fresh.std()) - (1 / 8) ** 0.5) < 0.25


def test_the_adapter_returns_a_frozen_copy_or_wraps_one_submodule():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    x = torch.randn(5, 3)
    whole = PhysicalLayer().apply(model)
    assert isinstance(whole, BlackBox) and torch.allclose(whole(x), model(x))
    assert all(p.requires_grad for p in model.parameters())  # the given model is left as it was
    part = PhysicalLayer(target="0").apply(model)
    assert isinstance(part[0], BlackBox) and torch.allclose(part(x), model(x))
    part(x).sum().backward()
    assert part[2].weight.grad is not None and all(p.grad is None for p in part[0].parameters())
    with pytest.raises(ValueError, match="not a submodule"):
        PhysicalLayer(target="nope").apply(model)


@pytest.mark.parametrize("kind", ["amplitude", "intensity", "saturable"])
def test_the_real_kernel_equals_the_complex_product_and_numpy(kind):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 7, generator=g)
    w = torch.randn(2, 5, 7, generator=g)
    fast = optical_response(x, w, kind, 0.7)
    assert torch.allclose(fast, optical_response_reference(x, w, kind, 0.7).to(fast.dtype), atol=1e-5)
    assert np.allclose(fast.numpy(), optical_response_numpy(x.numpy(), w.numpy(), kind, 0.7), atol=1e-5)


def test_detection_noise_is_relative_seeded_by_call_count_and_resumable():
    sim = SimulatedOpticalLayer(in_features=8, out_dim=64, noise_std=0.01, seed=2)
    clean = SimulatedOpticalLayer(in_features=8, out_dim=64, seed=2)
    x = torch.rand(3, 8)
    a, b = sim(x), sim(x)
    assert not torch.equal(a, b) and int(sim.calls) == 2
    rel = ((a - clean(x)) / clean(x).mean(-1, keepdim=True)).std()
    assert 0.005 < float(rel) < 0.02
    again = SimulatedOpticalLayer(in_features=8, out_dim=64, noise_std=0.01, seed=2)
    again.load_state_dict({**sim.state_dict(), "calls": torch.tensor(1)})
    assert torch.equal(again(x), b)  # the call count is state: a resumed run draws the same noise
