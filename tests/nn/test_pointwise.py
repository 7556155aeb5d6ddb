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


def test_pointwise_rule_and_its_guards(monkeypatch):
    assert pointwise_backend(32 * 56 * 56, 64, 256, batch=32, threads=1) == "conv1x1"
    assert pointwise_backend(8 * 56 * 56, 64, 256, batch=8, threads=1) == "linear"  # one thread, batch 8: sgemm
    assert pointwise_backend(8 * 56 * 56, 64, 256, batch=8, threads=2) == "conv1x1"
    assert pointwise_backend(8 * 28 * 28, 128, 512, batch=8, threads=2) == "linear"  # few tokens: sgemm
    assert pointwise_backend(64 * 14 * 14, 320, 1280, batch=64, threads=2) == "linear"  # wide: sgemm
    assert pointwise_backend(10**6, 64, 256, dtype=torch.float64) == "linear"
    assert pointwise_backend(10**6, 64, 256, device="cuda") == "linear"
    # the module path follows the rule; a non-contiguous input, float64 and tracing take F.linear
    calls: list[str] = []
    real = projections._conv1x1
    monkeypatch.setattr(projections, "_conv1x1", lambda *a: calls.append("conv") or real(*a))
    monkeypatch.setattr(projections, "CONV1X1_MIN_TOKENS", 1)
    monkeypatch.setattr(projections, "CONV1X1_MIN_BATCH_1_THREAD", 1)
    layer = Pointwise(6, 8)
    x = torch.randn(2, 4, 4, 6)
    layer(x)
    assert calls == ["conv"]
    layer(x.transpose(1, 2))
    Pointwise(6, 8).double()(x.double())
    assert calls == ["conv"]
    torch.jit.trace(layer, x, check_trace=False)
    assert calls == ["conv"]
    with pytest.raises(ValueError, match="unknown pointwise backend"):
        pointwise(x, layer.weight, backend="gemm")  # type: ignore[arg-type]


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
    for name in ("pointwise", "Pointwise", "pointwise_backend", "pointwise_reference", "group_norm1",
                 "group_norm1_reference"):
        assert name in fknn.__all__
