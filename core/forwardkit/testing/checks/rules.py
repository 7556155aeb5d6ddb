"""Checks of learning rules and callbacks: a short run on a small model, metrics, events and state.

Exact resume through the trainer is ``check_resume``, in :mod:`.resume`.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from forwardkit.interfaces.model import forward_batch
from forwardkit.testing import toys
from forwardkit.testing.checks.common import SkipCheck, Subject, conformance_check, fail
from forwardkit.testing.checks.helpers import (
    SAME,
    close,
    describe_config,
    example_batch,
    finite_number,
    fresh_model,
    seeded,
)

__all__ = [
    "TEST_TIME_ONLY",
    "check_callback_events",
    "check_learning_rule_step",
    "check_state_dict_plain",
    "require_training",
    "trains",
]

_PLAIN_SCALARS = (type(None), bool, int, float, str)

#: the reason a training check gives for a learning rule with ``trains = False``
TEST_TIME_ONLY = (
    "adapts at test time only (trains = False): it does not train, so there is no training run to check "
    "(check_test_time checks its adaptation)"
)


def trains(subject: Subject) -> bool:
    """False for a learning rule that declares ``trains = False`` (it adapts at test time only)."""
    return subject.kind != "learning_rule" or bool(getattr(subject.cls, "trains", True))


def require_training(subject: Subject) -> None:
    """Skip a training check of a learning rule that adapts at test time only (``trains = False``)."""
    if not trains(subject):
        raise SkipCheck(TEST_TIME_ONLY)


def _assert_plain(value: Any, path: str) -> None:
    """State must be plain data a checkpoint can store without pickling arbitrary objects."""
    if isinstance(value, (*_PLAIN_SCALARS, Tensor)):
        return
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, str | int) or isinstance(k, bool):
                fail(f"{path} has a key {k!r} of type {type(k).__name__}; keys must be str or int")
            _assert_plain(v, f"{path}[{k!r}]")
        return
    if isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _assert_plain(v, f"{path}[{i}]")
        return
    fail(
        f"{path} is a {type(value).__module__}.{type(value).__qualname__}; state must be plain data "
        "(dicts, lists, str, numbers, bools, None) and tensors, so checkpoints never unpickle objects"
    )


def _same_plain(a: Any, b: Any, path: str) -> None:
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        if not (isinstance(a, Tensor) and isinstance(b, Tensor) and a.shape == b.shape and close(a, b, SAME)):
            fail(f"{path} differs after load_state_dict(state_dict())")
        return
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        if set(a) != set(b):
            fail(
                f"{path} keys differ after load_state_dict(state_dict()): "
                f"{sorted(map(str, a))} vs {sorted(map(str, b))}"
            )
        for k in a:
            _same_plain(a[k], b[k], f"{path}[{k!r}]")
        return
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        if len(a) != len(b):
            fail(f"{path} length differs after load_state_dict(state_dict())")
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same_plain(x, y, f"{path}[{i}]")
        return
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return
    if a != b:
        fail(f"{path} differs after load_state_dict(state_dict()): {a!r} vs {b!r}")


def _context(model: nn.Module, steps: int = 2) -> Any:
    """A RunContext for a short run on ``model`` (fields the context does not have are left out)."""
    from forwardkit.interfaces.context import RunContext

    wanted: dict[str, Any] = {
        "model": model,
        "loss_fn": toys.default_loss,
        "steps_per_epoch": steps,
        "total_steps": steps,
        "max_steps": steps,
        "epochs": 1,
    }
    names = {f.name for f in dataclasses.fields(RunContext)}
    return RunContext(**{k: v for k, v in wanted.items() if k in names})


def _check_metrics(metrics: Any, where: str) -> None:
    if not isinstance(metrics, Mapping):
        fail(f"step() must return a dict of float metrics, got {type(metrics).__name__} ({where})")
    bad = {k: v for k, v in metrics.items() if not isinstance(k, str) or not finite_number(v)}
    if bad:
        fail(f"step() metrics must map names to finite Python numbers; bad entries {bad!r} ({where})")


def _train_rule(
    subject: Subject, config: Mapping[str, Any], label: str, factory: Callable[[], nn.Module], steps: int = 2
) -> tuple[Any, Any]:
    model = fresh_model(label, factory)
    rule = seeded(0, lambda: subject.build(config))
    ctx = _context(model)
    where = f"on model {label}, {describe_config(config)}"
    try:
        rule.setup(model, ctx)
    except Exception as exc:
        fail(f"setup(model, ctx) raised {type(exc).__name__}: {exc} ({where})")
    for step in range(steps):
        batch = example_batch(model, 4, step)
        try:
            metrics = rule.step(batch, ctx)
        except Exception as exc:
            fail(f"step(batch, ctx) raised {type(exc).__name__}: {exc} at step {step} ({where})")
        _check_metrics(metrics, where)
        ctx.step += 1
    bad = [n for n, p in model.named_parameters() if not torch.isfinite(p).all()]
    if bad:
        fail(f"parameters {bad[:5]} are non-finite after {steps} steps ({where})")
    return rule, ctx


@conformance_check("learning_rule")
def check_learning_rule_step(subject: Subject, *, configs: Any = None, models: Any = None) -> int:
    """``setup(model, ctx)`` then two ``step(batch, ctx)`` calls run on a small model, return dicts of
    finite float metrics and leave the parameters finite. Skipped for a rule with ``trains = False``."""
    require_training(subject)
    checked = 0
    for config in subject.configs(configs):
        for label, factory in subject.models(models, toys.DEFAULT_TRAINING_MODELS):
            _train_rule(subject, config, label, factory)
            checked += 1
    return checked


@dataclasses.dataclass
class _EventRun:
    """A callback driven through the loop's events by hand, on a small model with plain SGD."""

    cb: Any
    model: nn.Module
    ctx: Any
    where: str

    def event(self, name: str, *args: Any) -> Any:
        """Call event ``name``; an event that raises fails the check."""
        try:
            return getattr(self.cb, name)(*args)
        except Exception as exc:
            fail(f"{name}() raised {type(exc).__name__}: {exc} ({self.where})")

    def step(self, optimizer: torch.optim.Optimizer, step: int) -> None:
        """One training step with every per-batch event, in the trainer's order."""
        batch = example_batch(self.model, 4, step)
        new_batch = self.event("on_batch_start", batch, self.ctx)
        if not isinstance(new_batch, Mapping) or not all(isinstance(v, Tensor) for v in new_batch.values()):
            fail(
                f"on_batch_start() must return the (possibly transformed) batch dict of tensors, "
                f"got {type(new_batch).__name__} ({self.where})"
            )
        optimizer.zero_grad()
        loss = toys.default_loss(forward_batch(self.model, new_batch), new_batch)
        loss.backward()
        self.event("on_after_backward", self.ctx)
        optimizer.step()
        self.ctx.step += 1
        self.event("on_step_end", {"loss": float(loss.detach())}, self.ctx)


def _run_callback(
    subject: Subject, config: Mapping[str, Any], label: str, factory: Callable[[], nn.Module], steps: int = 2
) -> Any:
    model = fresh_model(label, factory)
    run = _EventRun(seeded(0, lambda: subject.build(config)), model, _context(model), "")
    run.where = f"on model {label}, {describe_config(config)}"
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    model.train()
    run.event("on_fit_start", run.ctx)
    run.event("on_epoch_start", run.ctx)
    for step in range(steps):
        run.step(optimizer, step)
    changed = run.event("on_epoch_end", run.ctx)
    if not isinstance(changed, bool):
        fail(f"on_epoch_end() must return a bool (True when it changed the model), got {changed!r} ({run.where})")
    run.event("on_fit_end", run.ctx)
    return run.cb


@conformance_check("callback")
def check_callback_events(subject: Subject, *, configs: Any = None, models: Any = None) -> int:
    """Every event runs in loop order on a small model for two SGD steps: ``on_batch_start`` returns a
    batch dict of tensors and ``on_epoch_end`` a bool."""
    checked = 0
    for config in subject.configs(configs):
        for label, factory in subject.models(models, toys.DEFAULT_TRAINING_MODELS):
            _run_callback(subject, config, label, factory)
            checked += 1
    return checked


def _reloaded(subject: Subject, config: Mapping[str, Any], label: str, factory: Callable[[], nn.Module]) -> None:
    """After two steps ``state_dict()`` is plain, and a new instance that loads it gives it back."""
    if subject.kind == "learning_rule":
        obj, _ = _train_rule(subject, config, label, factory)
    else:
        obj = _run_callback(subject, config, label, factory)
    state = obj.state_dict()
    if not isinstance(state, Mapping):
        fail(f"state_dict() must return a dict, got {type(state).__name__}")
    _assert_plain(state, "state_dict()")
    saved = copy.deepcopy(state)
    fresh = seeded(1, functools.partial(subject.build, config))
    if subject.kind == "learning_rule":
        model = fresh_model(label, factory, seed=1)
        fresh.setup(model, _context(model))
    try:
        fresh.load_state_dict(copy.deepcopy(saved))
    except Exception as exc:
        fail(f"a new instance cannot load_state_dict(state_dict()): {type(exc).__name__}: {exc}")
    _same_plain(saved, fresh.state_dict(), "state_dict()")


@conformance_check("learning_rule", "callback")
def check_state_dict_plain(subject: Subject, *, configs: Any = None, models: Any = None) -> int:
    """After two steps, ``state_dict()`` is plain data (dicts, lists, str, numbers, None, tensors) and a
    new instance (set up on a same-architecture model) that loads it returns the same ``state_dict()``.
    (Exact resume through the trainer is ``check_resume``, in :mod:`forwardkit.testing.checks.resume`.)
    Skipped for a learning rule with ``trains = False``."""
    require_training(subject)
    checked = 0
    for config in subject.configs(configs):
        for label, factory in subject.models(models, toys.DEFAULT_TRAINING_MODELS):
            _reloaded(subject, config, label, factory)
            checked += 1
    return checked
