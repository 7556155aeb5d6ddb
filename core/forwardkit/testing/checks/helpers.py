"""Helpers shared by the check families: comparing outputs and states, seeding, example batches, models."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from forwardkit.testing.checks.common import fail

#: tolerance of "identical" outputs (same computation twice)
SAME = {"rtol": 1e-5, "atol": 1e-6}
#: tolerance of "unchanged" outputs (same sample, different batch composition)
UNCHANGED = {"rtol": 1e-4, "atol": 1e-5}


def tensors(obj: Any) -> list[Tensor]:
    """Every tensor in a (nested) output: tensors, mappings, sequences, dataclasses."""
    if isinstance(obj, Tensor):
        return [obj]
    if isinstance(obj, Mapping):
        return [t for v in obj.values() for t in tensors(v)]
    if isinstance(obj, list | tuple):
        return [t for v in obj for t in tensors(v)]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return [t for f in dataclasses.fields(obj) for t in tensors(getattr(obj, f.name))]
    return []


def max_diff(a: Tensor, b: Tensor) -> float:
    """The largest absolute difference of two tensors (NaN where both are NaN counts as equal)."""
    diff = (a.double() - b.double()).abs()
    diff = torch.where(torch.isnan(a) & torch.isnan(b), torch.zeros_like(diff), diff)
    return float(diff.max()) if diff.numel() else 0.0


def close(a: Tensor, b: Tensor, tol: Mapping[str, float]) -> bool:
    """Same shape and dtype, and equal within ``tol`` (exactly equal for integer tensors)."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if not (a.is_floating_point() or a.is_complex()):
        return bool(torch.equal(a, b))
    return bool(torch.allclose(a, b, equal_nan=True, **tol))


def non_finite(out: Any) -> bool:
    """True when a floating-point tensor of ``out`` holds a NaN or an infinity."""
    return any(t.is_floating_point() and not torch.isfinite(t).all() for t in tensors(out))


def assert_same_outputs(a: Any, b: Any, what: str, tol: Mapping[str, float] = SAME) -> None:
    """Fail with ``what`` unless the tensors of ``a`` and ``b`` agree (count, shapes, dtypes, values)."""
    ta, tb = tensors(a), tensors(b)
    if len(ta) != len(tb):
        fail(f"{what}: {len(ta)} output tensor(s) vs {len(tb)}")
    for i, (x, y) in enumerate(zip(ta, tb, strict=True)):
        where = f" (output tensor {i})" if len(ta) > 1 else ""
        if x.shape != y.shape or x.dtype != y.dtype:
            fail(f"{what}{where}: shape/dtype {tuple(x.shape)}/{x.dtype} vs {tuple(y.shape)}/{y.dtype}")
        if not close(x, y, tol):
            fail(f"{what}{where}: outputs differ (max abs diff {max_diff(x, y):.3g})")


def assert_same_state(a: Mapping[str, Any], b: Mapping[str, Any], what: str) -> None:
    """Fail with ``what`` unless two state dicts have the same keys, in order, and equal tensors."""
    if list(a) != list(b):
        missing, extra = sorted(set(a) - set(b)), sorted(set(b) - set(a))
        fail(f"{what}: state_dict keys differ (only in the first: {missing}, only in the second: {extra})")
    for key in a:
        x, y = a[key], b[key]
        if isinstance(x, Tensor) and isinstance(y, Tensor):
            if not close(x, y, SAME):
                fail(f"{what}: state_dict entry {key!r} differs")


def seeded(seed: int, fn: Callable[[], Any]) -> Any:
    """``fn()`` after ``torch.manual_seed(seed)``."""
    torch.manual_seed(seed)
    return fn()


def call(module: nn.Module, x: Any) -> Any:
    """``module(x)``."""
    return module(x)


def weights_like(t: Tensor, seed: int) -> Tensor:
    """Standard-normal weights of ``t``'s shape from ``seed`` (for a random projection of an output)."""
    return torch.randn(t.shape, generator=torch.Generator().manual_seed(seed)).to(t.dtype)


def describe_config(config: Mapping[str, Any]) -> str:
    """``the default config`` or ``config {...}``, for messages."""
    return "the default config" if not config else f"config {dict(config)!r}"


def example_batch(model: nn.Module, batch_size: int, seed: int) -> dict[str, Tensor]:
    """``model.example_batch(batch_size)`` from ``seed``, checked to be a non-empty dict of tensors."""
    maker = getattr(model, "example_batch", None)
    if maker is None:
        fail(f"{type(model).__name__} has no example_batch()")
    torch.manual_seed(seed)
    batch = maker(batch_size, generator=torch.Generator().manual_seed(seed))
    if not isinstance(batch, Mapping) or not batch:
        fail(f"example_batch() must return a non-empty dict of tensors, got {type(batch).__name__}")
    bad = [k for k, v in batch.items() if not isinstance(k, str) or not isinstance(v, Tensor)]
    if bad:
        fail(f"example_batch() must return a dict of str -> tensor; entries {bad} are not")
    return dict(batch)


def model_input(model: nn.Module, batch: Mapping[str, Tensor]) -> Tensor:
    """The tensor of ``batch`` the model is called on (``model.input_key``, default ``x``)."""
    return batch[getattr(model, "input_key", "x")]


def fresh_model(label: str, factory: Callable[[], nn.Module], seed: int = 0) -> nn.Module:
    """A new test model from ``factory`` under ``seed``; a factory that fails fails the check."""
    try:
        return seeded(seed, factory)
    except Exception as exc:
        raise AssertionError(f"cannot build the test model {label}: {type(exc).__name__}: {exc}") from exc


def finite_number(value: Any) -> bool:
    """A finite Python int or float (not a bool, not a tensor)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
