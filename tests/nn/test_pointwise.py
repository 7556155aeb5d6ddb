"""The dispatched hot pieces of forwardkit.nn agree with their paper-literal references: the pointwise
projection (MKL's sgemm or oneDNN's 1x1 conv) and GroupNorm1 (torch's fused group norm)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import forwardkit.nn as fknn
from forwardkit.nn import (
    FeedForward,
    GroupNorm1,
    Pointwise,
    group_norm1,
    group_norm1_reference,
    pointwise,
    pointwise_backend,
    pointwise_choices,
    pointwise_reference,
    projections,
)


def _grads(y: torch.Tensor, inputs: list[torch.Tensor], g: torch.Tensor) -> tuple[torch.Tensor, ...]:
    return torch.autograd.grad(y, inputs, g)


@pytest.mark.parametrize("shape", [(2, 7, 6), (2, 5, 6, 6), (2, 3, 4, 5, 6), (9, 6)])
@pytest.mark.parametrize("backend", ["linear", "conv1x1"])
@pytest.mark.parametrize("bias", [False, True])
def test_pointwise_backends_agree_with_the_reference(shape, backend, bias):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=gen, requires_grad=True)
    w = torch.randn(10, 6, generator=gen, requires_grad=True)
    b = torch.randn(10, generator=gen, requires_grad=True) if bias else None
    inputs = [x, w] + ([b] if b is not None else [])
    ours = pointwise(x, w, b, backend=backend)
    ref = pointwise_reference(x, w, b)
    assert ours.shape == (*shape[:-1], 10) and ours.is_contiguous()
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)
    g = torch.randn(ours.shape, generator=gen)
    for a, r in zip(_grads(ours, inputs, g), _grads(ref, inputs, g), strict=True):
        torch.testing.assert_close(a, r, atol=1e-5, rtol=1e-5)


@pytest.fixture
def fresh_choices(monkeypatch):
    """An empty choice table and no FORWARDKIT_POINTWISE for the test."""
    monkeypatch.setattr(projections, "_choices", {})
    monkeypatch.delenv(projections.ENV, raising=False)
    return projections._choices


def test_pointwise_measures_each_shape_once_and_keeps_the_faster(monkeypatch, fresh_choices):
    timings = {"linear": 1.0, "conv1x1": 0.5}
    measured: list[tuple[int, ...]] = []

    def fake(x, w, b, grad):
        measured.append(tuple(x.shape))
        return dict(timings)

    monkeypatch.setattr(projections, "_time_both", fake)
    monkeypatch.setattr(projections, "MEASURE_MIN_MACS", 1)
    calls: list[str] = []
    real = projections._conv1x1
    monkeypatch.setattr(projections, "_conv1x1", lambda *a: calls.append("conv") or real(*a))
    layer = Pointwise(6, 8)
    x = torch.randn(2, 4, 4, 6)
    layer(x)
    layer(x)
    assert measured == [(2, 4, 4, 6)] and calls == ["conv", "conv"]  # measured once, then remembered
    (key,) = fresh_choices
    assert fresh_choices[key] == "conv1x1" and "grad1" in key and "th" in key
    timings["conv1x1"] = 0.99  # within the margin: the portable F.linear
    Pointwise(6, 8)(torch.randn(3, 4, 4, 6))
    assert list(pointwise_choices().values()) == ["conv1x1", "linear"] and calls == ["conv", "conv"]
    with torch.no_grad():  # inference is its own case (no backward in the timing)
        layer(x)
    assert len(measured) == 3
    # non-contiguous input, float64 and tracing take F.linear without measuring
    layer(x.transpose(1, 2))
    Pointwise(6, 8).double()(x.double())
    torch.jit.trace(layer, torch.randn(5, 4, 4, 6), check_trace=False)
    assert len(measured) == 3
    with pytest.raises(ValueError, match="unknown pointwise backend"):
        pointwise(x, layer.weight, backend="gemm")  # type: ignore[arg-type]


def test_small_projections_other_devices_and_deterministic_mode_take_linear(fresh_choices):
    assert pointwise_backend(16, 64, 256) == "linear"  # far below MEASURE_MIN_MACS
    assert pointwise_backend(10**6, 64, 256, dtype=torch.float64) == "linear"
    assert pointwise_backend(10**6, 64, 256, device="cuda") == "linear"
    assert pointwise_backend(10**6, 64, 256) is None  # not measured yet
    was = torch.are_deterministic_algorithms_enabled()
    try:
        torch.use_deterministic_algorithms(True)
        assert pointwise_backend(10**6, 64, 256) == "linear"
    finally:
        torch.use_deterministic_algorithms(was)


def test_forcing_a_kernel_by_context_and_environment(monkeypatch, fresh_choices):
    with projections.pointwise_kernel("conv1x1"):
        assert pointwise_backend(16, 4, 4) == "conv1x1"
        with projections.pointwise_kernel("linear"):
            assert pointwise_backend(10**6, 64, 256) == "linear"
    assert pointwise_backend(16, 4, 4) == "linear"
    with pytest.raises(ValueError, match="unknown pointwise backend"):
        with projections.pointwise_kernel("gemm"):  # type: ignore[arg-type]
            pass
    monkeypatch.setenv(projections.ENV, "conv1x1")
    assert pointwise_backend(16, 4, 4) == "conv1x1"
    monkeypatch.setenv(projections.ENV, "fast")
    with pytest.raises(ValueError, match=r"FORWARDKIT_POINTWISE='fast'.*'measure'.*'linear', 'conv1x1'"):
        pointwise_backend(16, 4, 4)


def test_the_measurement_touches_no_random_state_parameter_or_gradient(fresh_choices):
    layer = Pointwise(128, 128)
    x = torch.randn(4, 16, 32, 128, requires_grad=True)  # 2048 tokens x 128 x 128 = MEASURE_MIN_MACS
    before = torch.get_rng_state()
    weight = layer.weight.detach().clone()
    y = layer(x)
    assert torch.equal(torch.get_rng_state(), before)
    assert len(fresh_choices) == 1 and layer.weight.grad is None and x.grad is None
    assert torch.equal(layer.weight, weight)
    y.sum().backward()
    torch.testing.assert_close(x.grad, layer.weight.sum(0).expand_as(x), atol=1e-4, rtol=1e-4)


def test_choices_round_trip_and_unknown_kernels_are_refused(fresh_choices):
    projections.load_pointwise_choices({"t100/b1/8x8/bias1/th1/grad1": "conv1x1"})
    assert pointwise_backend(100, 8, 8, batch=1, threads=1, grad=True) == "linear"  # below the size floor
    assert pointwise_choices() == {"t100/b1/8x8/bias1/th1/grad1": "conv1x1"}
    key = projections._key(10**6, 10**6, 64, 256, True, 1, True)
    projections.load_pointwise_choices({key: "conv1x1"})
    assert pointwise_backend(10**6, 64, 256, threads=1, grad=True) == "conv1x1"
    with pytest.raises(ValueError, match=r"unknown kernels.*allowed: linear, conv1x1"):
        projections.load_pointwise_choices({key: "gemm"})


def test_pointwise_is_a_linear_with_the_same_keys_and_init():
    torch.manual_seed(3)
    a = nn.Linear(5, 7)
    torch.manual_seed(3)
    b = Pointwise(5, 7)
    assert isinstance(b, nn.Linear) and list(b.state_dict()) == ["weight", "bias"]
    assert torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias)
    x = torch.randn(3, 4, 5)
    torch.testing.assert_close(b(x), a(x))
    ff = FeedForward(dim=6)
    assert isinstance(ff.fc1, Pointwise) and set(ff.state_dict()) == {"fc1.weight", "fc1.bias", "fc2.weight",
                                                                       "fc2.bias"}


@pytest.mark.parametrize("shape", [(2, 9, 4), (2, 5, 6, 4), (2, 3, 4, 5, 4), (3, 4)])
def test_group_norm1_matches_the_formula(shape):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(shape, generator=gen, dtype=torch.float64, requires_grad=True)
    w = (torch.rand(shape[-1], generator=gen, dtype=torch.float64) + 0.5).requires_grad_(True)
    ours, ref = group_norm1(x, w, 1e-6), group_norm1_reference(x, w, 1e-6)
    torch.testing.assert_close(ours, ref)
    assert ours.is_contiguous()
    g = torch.randn(shape, generator=gen, dtype=torch.float64)
    for a, r in zip(_grads(ours, [x, w], g), _grads(ref, [x, w], g), strict=True):
        torch.testing.assert_close(a, r)
    norm = GroupNorm1(dim=shape[-1]).double()
    torch.testing.assert_close(norm(x), group_norm1_reference(x, norm.weight, norm.eps))


def test_the_names_are_public():
    for name in ("pointwise", "Pointwise", "pointwise_backend", "pointwise_reference", "pointwise_choices",
                 "pointwise_kernel", "load_pointwise_choices", "group_norm1", "group_norm1_reference"):
        assert name in fknn.__all__
