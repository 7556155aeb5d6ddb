"""Checks of adapters, applied to small models (:data:`forwardkit.testing.toys.DEFAULT_MODELS` or the
adapter's ``conformance_models``)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from forwardkit.testing import toys
from forwardkit.testing.checks.common import Subject, conformance_check, fail
from forwardkit.testing.checks.helpers import (
    assert_same_outputs,
    assert_same_state,
    describe_config,
    example_batch,
    fresh_model,
    model_input,
    non_finite,
    seeded,
    tensors,
)

__all__ = ["check_adapter_inplace", "check_adapter_signature"]


def _apply(adapter: Any, model: nn.Module, where: str) -> nn.Module:
    try:
        new = adapter.apply(model)
    except Exception as exc:
        fail(
            f"apply() raised {type(exc).__name__}: {exc} ({where}); "
            "if the adapter needs a particular model, declare conformance_models"
        )
    if not isinstance(new, nn.Module):
        fail(f"apply() returned a {type(new).__name__}, not an nn.Module ({where})")
    return new


def _called_like(new: nn.Module, x: Tensor, before: Any, where: str) -> Any:
    """``new(x)`` in eval then train mode gives finite outputs of the shapes of ``before``."""
    after: Any = None
    for training in (False, True):
        new.train(training)
        with torch.no_grad():
            try:
                after = new(x)
            except Exception as exc:
                fail(
                    f"the adapted model cannot be called like the original, model(x) raised "
                    f"{type(exc).__name__}: {exc} ({where})"
                )
        shapes_before = [tuple(t.shape) for t in tensors(before)]
        shapes_after = [tuple(t.shape) for t in tensors(after)]
        if shapes_before != shapes_after:
            fail(f"output shapes changed from {shapes_before} to {shapes_after} ({where})")
        if non_finite(after):
            fail(f"the adapted model gives non-finite outputs ({where})")
    return after


def _signature_case(subject: Subject, config: Mapping[str, Any], label: str, factory: Callable[[], nn.Module]) -> None:
    model = fresh_model(label, factory)
    batch = example_batch(model, 2, 0)
    x = model_input(model, batch)
    model.eval()
    with torch.no_grad():
        before = model(x)
    adapter = seeded(0, functools.partial(subject.build, config))
    where = f"on model {label}, {describe_config(config)}"
    new = _apply(adapter, model, where)
    after = _called_like(new, x, before, where)
    extra = adapter.loss(new, batch, after)
    if extra is not None:
        if not isinstance(extra, Tensor) or extra.numel() != 1 or not torch.isfinite(extra).all():
            fail(f"loss() must return None or a finite scalar tensor, got {extra!r} ({where})")


@conformance_check("adapter")
def check_adapter_signature(subject: Subject, *, configs: Any = None, models: Any = None) -> int:
    """``apply(model)`` returns an ``nn.Module`` called like the original: the same input gives outputs
    of the same shapes, finite, in eval and train mode; ``loss()`` returns None or a finite scalar."""
    checked = 0
    for config in subject.configs(configs):
        for label, factory in subject.models(models, toys.DEFAULT_MODELS):
            _signature_case(subject, config, label, factory)
            checked += 1
    return checked


def _structure(model: nn.Module) -> list[tuple[str, str]]:
    return [(name, type(m).__name__) for name, m in model.named_modules()]


def _copy_left_original(
    model: nn.Module, new: nn.Module, x: Tensor, before: tuple[Any, dict[str, Tensor], Any], where: str
) -> None:
    """An ``inplace=False`` adapter left the given model as it was and shares no trainable parameter."""
    before_out, before_state, before_structure = before
    if new is model:
        fail(f"declares inplace=False (returns a copy) but apply() returned the model it was given ({where})")
    if _structure(model) != before_structure:
        fail(f"declares inplace=False but changed the modules of the model it was given ({where})")
    after_state = {k: v for k, v in model.state_dict().items() if isinstance(v, Tensor)}
    assert_same_state(
        before_state, after_state, f"declares inplace=False but changed the given model's state ({where})"
    )
    model.eval()
    with torch.no_grad():
        assert_same_outputs(
            before_out, model(x), f"declares inplace=False but the given model's output changed ({where})"
        )
    mine = {p.data_ptr() for p in model.parameters() if p.requires_grad}
    shared = [n for n, p in new.named_parameters() if p.requires_grad and p.data_ptr() in mine]
    if shared:
        fail(
            f"declares inplace=False but the returned model shares trainable parameters {shared[:5]} "
            f"with the given one ({where})"
        )


def _inplace_case(subject: Subject, config: Mapping[str, Any], label: str, factory: Callable[[], nn.Module]) -> None:
    model = fresh_model(label, factory)
    model.eval()
    x = model_input(model, example_batch(model, 2, 0))
    with torch.no_grad():
        before_out = model(x)
    before_state = {k: v.detach().clone() for k, v in model.state_dict().items() if isinstance(v, Tensor)}
    before = (before_out, before_state, _structure(model))
    adapter = seeded(0, functools.partial(subject.build, config))
    new = adapter.apply(model)
    where = f"on model {label}, {describe_config(config)}"
    if bool(getattr(adapter, "inplace", False)):
        if new is not model:
            fail(f"declares inplace=True but apply() returned a different object ({where})")
        return
    _copy_left_original(model, new, x, before, where)


@conformance_check("adapter")
def check_adapter_inplace(subject: Subject, *, configs: Any = None, models: Any = None) -> int:
    """``inplace=True``: ``apply`` returns the very model it was given. ``inplace=False``: it returns a
    different object, leaves the given model unchanged (modules, state, output) and shares no trainable
    parameter with it."""
    checked = 0
    for config in subject.configs(configs):
        for label, factory in subject.models(models, toys.DEFAULT_MODELS):
            _inplace_case(subject, config, label, factory)
            checked += 1
    return checked
