"""The base of the checks: the component under test, the outcomes a check raises, and check registration.

Every other module of :mod:`forwardkit.testing.checks` (and any plugin that adds a check) builds on
this one; it imports no other check module, so there is no import cycle between the families.

A check implementation receives a :class:`Subject` and keyword options, raises AssertionError (via
:func:`fail`) when the property does not hold and :class:`SkipCheck` when there is nothing to check,
and returns the number of cases it checked: a check that returns 0 ran on no case, and fails
(:data:`NO_CASE`). An implementation that returns None does not count its cases (third-party checks
written before the rule), and is taken at its word.
"""

from __future__ import annotations

import contextlib
import inspect
import random
import unittest
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import torch
from pydantic import BaseModel
from torch import nn

from forwardkit.kinds import INTERFACES, KINDS
from forwardkit.registry import ComponentInfo, Registry, default_registry, import_path
from forwardkit.testing import strategies as fks
from forwardkit.testing import toys

__all__ = [
    "NO_CASE",
    "OPTIONS",
    "DeclaredFailure",
    "SkipCheck",
    "StaleDeclaration",
    "Subject",
    "as_subject",
    "checks_for",
    "class_name",
    "conformance_check",
    "fail",
    "get_check",
    "kind_of_class",
]

#: the options runners pass to checks
OPTIONS: tuple[str, ...] = ("configs", "models", "max_examples", "seed")
#: the message of a check that returned 0 cases
NO_CASE = (
    "{name} ran on no case: nothing was checked, so the property was not tested; "
    "give the kit inputs it can run (conformance_configs, conformance_models, example data)"
)

#: a check implementation: Subject and options in, cases checked out (None: not counted)
CheckImpl = Callable[..., "int | None"]


class SkipCheck(unittest.SkipTest):
    """Raised by a check that has nothing to check; recorded as ``skipped`` with its reason."""


class DeclaredFailure(AssertionError):
    """The property fails only where the component declared it would (``gradient_exempt``, ...).

    Called directly, a check raises it like any failure; the runners record it as ``xfailed``.
    """


class StaleDeclaration(AssertionError):
    """A declaration of the component (``gradient_exempt``, ...) no longer applies.

    The runners record it as ``xpassed``, which counts as a failure, like a declared expected
    failure whose check passed.
    """


def fail(message: str) -> NoReturn:
    """Fail a check with ``message``."""
    raise AssertionError(message)


# ---- the component under test ------------------------------------------------------------------------
@dataclass
class Subject:
    """A component under test: its kind, label, class (or factory) and Config class."""

    kind: str
    label: str
    cls: Any
    config_cls: type[BaseModel]
    plugin: str | None = None
    info: ComponentInfo | None = None

    @property
    def expected_failures(self) -> dict[str, str]:
        """The checks the component declares it fails, with the reasons."""
        return dict(getattr(self.cls, "expected_failures", None) or {})

    @property
    def gradient_exempt(self) -> dict[str, str]:
        """Parameter-name patterns declared to get no (or an exactly zero) gradient, with the reasons."""
        return dict(getattr(self.cls, "gradient_exempt", None) or {})

    def validate(self, config: Any = None) -> BaseModel:
        """The Config from a dict (fields not given keep their defaults) or a Config."""
        if isinstance(config, BaseModel):
            return config
        return self.config_cls.model_validate(dict(config or {}))

    def build(self, config: Any = None) -> Any:
        """An instance from a config (dict or Config); fields not given keep their defaults."""
        return self.cls(self.validate(config))

    def configs(self, configs: Sequence[Mapping[str, Any]] | None = None) -> list[dict[str, Any]]:
        """The configs to check: ``configs``, else ``conformance_configs``, else the defaults."""
        pinned = [dict(c) for c in configs] if configs else fks.pinned_configs(self.cls)
        if pinned:
            return pinned
        required = [n for n, f in self.config_cls.model_fields.items() if f.is_required()]
        if required:
            raise SkipCheck(
                f"{self.config_cls.__name__} fields {required} have no default and no conformance_configs "
                "are declared, so the kit cannot build the component (see check_declarations)"
            )
        return [{}]

    def models(self, models: Sequence[Any] | None, default: Sequence[Any]) -> list[tuple[str, Callable[[], nn.Module]]]:
        """``(label, factory)`` of the models to apply the component to."""
        return toys.resolve_models(self.cls, models, default)


def class_name(cls: Any) -> str:
    """``Outer.Inner`` for nested classes, without the ``<locals>`` of classes defined in functions."""
    name = getattr(cls, "__qualname__", None) or getattr(cls, "__name__", None) or repr(cls)
    return name.rpartition("<locals>.")[2]


def kind_of_class(cls: Any) -> str | None:
    """The kind whose interface ``cls`` implements (None for anything else)."""
    if not isinstance(cls, type):
        return None
    for kind in KINDS:
        if issubclass(cls, import_path(INTERFACES[kind])):
            return kind
    return None


def _subject_of_info(info: ComponentInfo) -> Subject:
    return Subject(
        kind=info.kind,
        label=info.qualname,
        cls=info.load(),
        config_cls=info.load_config(),
        plugin=info.plugin,
        info=info,
    )


def as_subject(component: Any, *, kind: str | None = None, registry: Registry | None = None) -> Subject:
    """A :class:`Subject` from a component class, a ComponentInfo, ``"kind/name"`` or a Subject."""
    if isinstance(component, Subject):
        return component
    if isinstance(component, str):
        if "/" not in component:
            raise ValueError(f"give a component as 'kind/name', got {component!r}")
        k, _, name = component.partition("/")
        component = (registry or default_registry()).get(k, name)
    if isinstance(component, ComponentInfo):
        return _subject_of_info(component)
    found = kind or kind_of_class(component)
    if found is None:
        raise TypeError(
            f"{component!r} is not a component class of any kind ({', '.join(KINDS)}); "
            "pass a class, a registry ComponentInfo or 'kind/name'"
        )
    config_cls = getattr(component, "Config", None)
    if not (isinstance(config_cls, type) and issubclass(config_cls, BaseModel)):
        raise TypeError(f"{component!r} has no pydantic Config")
    module = getattr(component, "__module__", "") or ""
    return Subject(
        kind=found,
        label=f"{found}/{class_name(component)}",
        cls=component,
        config_cls=config_cls,
        plugin=module.split(".")[0] or None,
    )


# ---- registration of checks ---------------------------------------------------------------------------
_IMPLS: dict[str, dict[str, CheckImpl]] = {}  # check name -> kind -> implementation
_ORDER: dict[str, list[str]] = {kind: [] for kind in KINDS}  # kind -> check names, in order
_PUBLIC: dict[str, Callable[..., None]] = {}


@contextlib.contextmanager
def isolated() -> Iterator[None]:
    """Run a check on one CPU thread; restore torch's, numpy's and Python's global RNG, grad mode and
    thread count afterwards. (Checks run tiny inputs, for which torch's thread pool only costs time:
    on a busy 2-core machine a 16-channel Linear takes ~100x longer with 2 threads than with 1.)"""
    import numpy as np

    py_state, np_state = random.getstate(), np.random.get_state()
    grad = torch.is_grad_enabled()
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        with torch.random.fork_rng(devices=[]):
            yield
    finally:
        torch.set_num_threads(threads)
        torch.set_grad_enabled(grad)
        random.setstate(py_state)
        np.random.set_state(np_state)


def _require_cases(name: str, ran: Any) -> None:
    """The no-case rule: a check that counted its cases must have checked at least one."""
    if ran is None:
        return
    if isinstance(ran, bool) or not isinstance(ran, int):
        raise TypeError(f"the implementation of {name} must return the number of cases it checked, got {ran!r}")
    if ran <= 0:
        fail(NO_CASE.format(name=name))


def _public_check(name: str) -> Callable[..., None]:
    if name in _PUBLIC:
        return _PUBLIC[name]

    def check(component: Any, **options: Any) -> None:
        unknown = set(options) - set(OPTIONS)
        if unknown:
            raise TypeError(f"{name}() got unknown option(s) {sorted(unknown)}; options are {list(OPTIONS)}")
        subject = as_subject(component)
        impls = _IMPLS[name]
        impl = impls.get(subject.kind)
        if impl is None:
            raise SkipCheck(f"{name} applies to {', '.join(impls)}, not to a {subject.kind}")
        accepted = inspect.signature(impl).parameters
        with isolated():
            ran = impl(subject, **{k: v for k, v in options.items() if k in accepted and v is not None})
        _require_cases(name, ran)

    check.__name__ = check.__qualname__ = name
    check.__module__ = "forwardkit.testing.checks"
    _PUBLIC[name] = check
    return check


def conformance_check(*kinds: str, name: str | None = None) -> Callable[[CheckImpl], Callable[..., None]]:
    """Register a check implementation for ``kinds``; returns the public check function.

    The implementation receives a :class:`Subject` and keyword options (``configs``, ``models``,
    ``max_examples``, ``seed``: declare those it uses). It raises AssertionError on failure and
    :class:`SkipCheck` when there is nothing to check, and returns the number of cases it checked
    (0 fails the check: it ran on no case; None is not counted). Several implementations (one per
    kind) may share a ``name``; the public function dispatches on the component's kind. Every runner
    and the pytest plugin run registered checks in registration order.
    """
    for kind in kinds:
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}; kinds are {', '.join(KINDS)}")

    def decorate(impl: CheckImpl) -> Callable[..., None]:
        check_name = name or impl.__name__.lstrip("_")
        if not check_name.startswith("check_"):
            raise ValueError(f"check names start with 'check_', got {check_name!r}")
        for kind in kinds:
            _IMPLS.setdefault(check_name, {})[kind] = impl
            if check_name not in _ORDER[kind]:
                _ORDER[kind].append(check_name)
        public = _public_check(check_name)
        docs = [f"{k}: {inspect.getdoc(i) or ''}" for k, i in _IMPLS[check_name].items()]
        public.__doc__ = "\n\n".join(docs)
        return public

    return decorate


def checks_for(kind: str) -> list[str]:
    """The names of the checks registered for ``kind``, in the order runners run them."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; kinds are {', '.join(KINDS)}")
    return list(_ORDER[kind])


def get_check(name: str) -> Callable[..., None]:
    """The public function of the check called ``name``."""
    if name not in _PUBLIC:
        raise KeyError(f"no conformance check named {name!r}; checks are {sorted(_PUBLIC)}")
    return _PUBLIC[name]
