"""Conformance checks: one ``check_<kind>`` per kind, and the individual properties as plain functions.

Every check takes a component *class*, a registry :class:`~forwardkit.registry.ComponentInfo` or a
``"kind/name"`` string, returns None when the property holds, raises :class:`AssertionError` with a
clear message when it does not, and raises :class:`SkipCheck` (a :class:`unittest.SkipTest`, shown
by pytest as a skip) when there is nothing to check. Called directly, a check ignores the component's
``expected_failures``; the runners (:func:`run_check`, :func:`check_component`, :func:`check_all`,
``check_<kind>`` and the pytest plugin) apply them: a declared failure that fails is ``xfailed``, one
that passes is ``xpassed`` and counts as a failure.

Options every runner passes through (a check ignores those it does not use):

``configs``       config dicts to check instead of the component's ``conformance_configs``/defaults.
``models``        model specs for kinds that act on a model (``"toy"``, ``"metaformer"``, a spec dict,
                  or a zero-argument factory); default: the component's ``conformance_models``, else
                  :data:`forwardkit.testing.toys.DEFAULT_MODELS`.
``max_examples``  hypothesis examples per mixer property (default
                  :data:`forwardkit.testing.strategies.MAX_EXAMPLES`).

Extension point
    New checks register with :func:`conformance_check` and are picked up by every runner and by the
    pytest plugin, as :mod:`forwardkit.testing.resume` (``check_resume``: a run checkpointed at step k
    and resumed ends bit-identical to the uninterrupted run, for learning rules and callbacks) and
    :mod:`forwardkit.testing.task_checks` do.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import inspect
import io
import json
import math
import random
import time
import traceback
import unittest
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

import torch
from hypothesis import example, given, reject
from hypothesis.errors import Unsatisfiable
from pydantic import BaseModel
from torch import Tensor, nn

from forwardkit.errors import ForwardkitError
from forwardkit.interfaces.model import forward_batch
from forwardkit.kinds import INTERFACES, KINDS
from forwardkit.registry import ComponentInfo, Registry, default_registry, import_path
from forwardkit.testing import strategies as fks
from forwardkit.testing import toys
from forwardkit.testing.report import CheckOutcome, ConformanceReport

__all__ = [
    "OPTIONS",
    "ConformanceCase",
    "SkipCheck",
    "Subject",
    "as_subject",
    "check_adapter",
    "check_adapter_inplace",
    "check_adapter_signature",
    "check_all",
    "check_analyzer",
    "check_analyzer_output",
    "check_batch_independence",
    "check_callback",
    "check_callback_events",
    "check_causality",
    "check_channel_mixer",
    "check_component",
    "check_compressor",
    "check_compressor_report",
    "check_compressor_signature",
    "check_config_round_trip",
    "check_dataset",
    "check_dataset_determinism",
    "check_dataset_items",
    "check_dataset_sizes",
    "check_declarations",
    "check_determinism",
    "check_finite",
    "check_forward_batch",
    "check_gradients",
    "check_learning_rule",
    "check_learning_rule_step",
    "check_model",
    "check_output_shape",
    "check_pointwise",
    "check_state_dict_plain",
    "check_state_dict_round_trip",
    "check_token_mixer",
    "checks_for",
    "conformance_cases",
    "conformance_check",
    "measure_model",
    "run_check",
]

#: the options runners pass to checks
OPTIONS: tuple[str, ...] = ("configs", "models", "max_examples")
#: tolerance of "identical" outputs (same computation twice)
SAME = {"rtol": 1e-5, "atol": 1e-6}
#: tolerance of "unchanged" outputs (same sample, different batch composition)
UNCHANGED = {"rtol": 1e-4, "atol": 1e-5}
#: exceptions that reject a *drawn* config (an invalid combination the Config does not validate)
_REJECTED_BUILD_ERRORS = (ValueError, AssertionError, NotImplementedError, ForwardkitError)


class SkipCheck(unittest.SkipTest):
    """Raised by a check that has nothing to check; recorded as ``skipped`` with its reason."""


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
        return dict(getattr(self.cls, "expected_failures", None) or {})

    def validate(self, config: Any = None) -> BaseModel:
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
        return toys.resolve_models(self.cls, models, default)


def _class_name(cls: Any) -> str:
    """``Outer.Inner`` for nested classes, without the ``<locals>`` of classes defined in functions."""
    name = getattr(cls, "__qualname__", None) or getattr(cls, "__name__", None) or repr(cls)
    return name.rpartition("<locals>.")[2]


def _kind_of_class(cls: Any) -> str | None:
    if not isinstance(cls, type):
        return None
    for kind in KINDS:
        if issubclass(cls, import_path(INTERFACES[kind])):
            return kind
    return None


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
        cls = component.load()
        return Subject(
            kind=component.kind,
            label=component.qualname,
            cls=cls,
            config_cls=component.load_config(),
            plugin=component.plugin,
            info=component,
        )
    found = kind or _kind_of_class(component)
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
        label=f"{found}/{_class_name(component)}",
        cls=component,
        config_cls=config_cls,
        plugin=module.split(".")[0] or None,
    )


# ---- registration of checks ---------------------------------------------------------------------------
_IMPLS: dict[str, dict[str, Callable[..., None]]] = {}  # check name -> kind -> implementation
_ORDER: dict[str, list[str]] = {kind: [] for kind in KINDS}  # kind -> check names, in order
_PUBLIC: dict[str, Callable[..., None]] = {}


@contextlib.contextmanager
def _isolated() -> Iterator[None]:
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
        with _isolated():
            impl(subject, **{k: v for k, v in options.items() if k in accepted and v is not None})

    check.__name__ = check.__qualname__ = name
    check.__module__ = __name__
    _PUBLIC[name] = check
    return check


def conformance_check(*kinds: str, name: str | None = None) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register a check implementation for ``kinds``; returns the public check function.

    The implementation receives a :class:`Subject` and keyword options (``configs``, ``models``,
    ``max_examples``: declare those it uses). It raises AssertionError on failure and
    :class:`SkipCheck` when there is nothing to check. Several implementations (one per kind) may share
    a ``name``; the public function dispatches on the component's kind. Every runner and the pytest
    plugin run registered checks in registration order.
    """
    for kind in kinds:
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}; kinds are {', '.join(KINDS)}")

    def decorate(impl: Callable[..., None]) -> Callable[..., None]:
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
    if name not in _PUBLIC:
        raise KeyError(f"no conformance check named {name!r}; checks are {sorted(_PUBLIC)}")
    return _PUBLIC[name]


# ---- helpers -------------------------------------------------------------------------------------------
def _tensors(obj: Any) -> list[Tensor]:
    """Every tensor in a (nested) output: tensors, mappings, sequences, dataclasses."""
    if isinstance(obj, Tensor):
        return [obj]
    if isinstance(obj, Mapping):
        return [t for v in obj.values() for t in _tensors(v)]
    if isinstance(obj, list | tuple):
        return [t for v in obj for t in _tensors(v)]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return [t for f in dataclasses.fields(obj) for t in _tensors(getattr(obj, f.name))]
    return []


def _max_diff(a: Tensor, b: Tensor) -> float:
    diff = (a.double() - b.double()).abs()
    diff = torch.where(torch.isnan(a) & torch.isnan(b), torch.zeros_like(diff), diff)
    return float(diff.max()) if diff.numel() else 0.0


def _close(a: Tensor, b: Tensor, tol: Mapping[str, float]) -> bool:
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if not (a.is_floating_point() or a.is_complex()):
        return bool(torch.equal(a, b))
    return bool(torch.allclose(a, b, equal_nan=True, **tol))


def _assert_same_outputs(a: Any, b: Any, what: str, tol: Mapping[str, float] = SAME) -> None:
    ta, tb = _tensors(a), _tensors(b)
    if len(ta) != len(tb):
        fail(f"{what}: {len(ta)} output tensor(s) vs {len(tb)}")
    for i, (x, y) in enumerate(zip(ta, tb, strict=True)):
        where = f" (output tensor {i})" if len(ta) > 1 else ""
        if x.shape != y.shape or x.dtype != y.dtype:
            fail(f"{what}{where}: shape/dtype {tuple(x.shape)}/{x.dtype} vs {tuple(y.shape)}/{y.dtype}")
        if not _close(x, y, tol):
            fail(f"{what}{where}: outputs differ (max abs diff {_max_diff(x, y):.3g})")


def _assert_same_state(a: Mapping[str, Any], b: Mapping[str, Any], what: str) -> None:
    if list(a) != list(b):
        missing, extra = sorted(set(a) - set(b)), sorted(set(b) - set(a))
        fail(f"{what}: state_dict keys differ (only in the first: {missing}, only in the second: {extra})")
    for key in a:
        x, y = a[key], b[key]
        if isinstance(x, Tensor) and isinstance(y, Tensor):
            if not _close(x, y, SAME):
                fail(f"{what}: state_dict entry {key!r} differs")


def _seeded(seed: int, fn: Callable[[], Any]) -> Any:
    torch.manual_seed(seed)
    return fn()


def _call(module: nn.Module, x: Any) -> Any:
    return module(x)


def _supports(mixer: Any, spatial: tuple[int, ...]) -> bool:
    supports = getattr(mixer, "supports", None)
    if callable(supports):
        return bool(supports(spatial))
    return len(spatial) in getattr(mixer, "ranks", (1, 2, 3))


def _mixer_dim(mixer: Any) -> int:
    dim = getattr(mixer, "dim", None)
    if dim is None:
        dim = mixer.config.dim
    return int(dim)


def _weights_like(t: Tensor, seed: int) -> Tensor:
    return torch.randn(t.shape, generator=torch.Generator().manual_seed(seed)).to(t.dtype)


def _describe_config(config: Mapping[str, Any]) -> str:
    return "the default config" if not config else f"config {dict(config)!r}"


# ---- running mixer properties over drawn cases ---------------------------------------------------------
@dataclass
class _Tally:
    ran: int = 0
    ranks: set[int] = field(default_factory=set)
    rejected_explicit: list[str] = field(default_factory=list)


def _build_case(subject: Subject, case: fks.MixerCase) -> Any:
    try:
        return _seeded(case.seed, lambda: subject.build(case.config))
    except Exception as exc:
        if case.explicit:
            raise AssertionError(
                f"cannot build {subject.label} from {_describe_config(case.config)}: {type(exc).__name__}: {exc}"
            ) from exc
        if isinstance(exc, _REJECTED_BUILD_ERRORS):
            reject()
        raise


def _run_mixer_cases(
    subject: Subject,
    prop: Callable[[Any, fks.MixerCase], None],
    *,
    configs: Sequence[Mapping[str, Any]] | None = None,
    max_examples: int | None = None,
    fixed: Mapping[str, Any] | None = None,
    min_batch: int = 1,
    min_tokens: int = 1,
    accept: Callable[[Any], bool] | None = None,
) -> _Tally:
    """Run ``prop(mixer, case)`` on the explicit cases, then on drawn ones; returns what ran."""
    subject.configs(configs)  # skips when neither pinned configs nor the defaults can be built
    pinned = [dict(c) for c in configs] if configs else fks.pinned_configs(subject.cls)
    tally = _Tally()
    strategy = fks.mixer_cases(subject, configs_=pinned, fixed=fixed, min_batch=min_batch, max_batch=max(3, min_batch))
    explicit = fks.explicit_mixer_cases(subject, configs_=pinned, fixed=fixed, batch=max(2, min_batch))
    if accept is not None:
        # a property that only some instances claim (causal, pointwise): when no explicit case's
        # instance claims it, drawn ones will not either (configs that switch it are pinned)
        firsts: dict[str, fks.MixerCase] = {}
        for case in explicit:
            firsts.setdefault(repr(sorted(case.config.items())), case)
        if not any(accept(_build_case(subject, case)) for case in firsts.values()):
            return tally

    def property_holds(case: fks.MixerCase) -> None:
        mixer = _build_case(subject, case)
        if accept is not None and not accept(mixer):
            reject()
        if case.tokens_count < min_tokens or not _supports(mixer, case.spatial):
            if case.explicit:
                tally.rejected_explicit.append(f"{case.spatial}")
            reject()
        prop(mixer, case)
        tally.ran += 1
        tally.ranks.add(case.rank)

    test = given(strategy)(property_holds)
    for case in reversed(explicit):
        test = example(case)(test)
    test = fks.conformance_settings(max_examples)(test)
    with contextlib.suppress(Unsatisfiable):
        test()
    return tally


def _require_ran(subject: Subject, tally: _Tally, what: str) -> None:
    if tally.ran == 0:
        fail(
            f"no case could be run for {what}: every config/shape tried was rejected "
            f"(supports() refused {tally.rejected_explicit or 'the drawn shapes'}); pin runnable "
            "configs with conformance_configs"
        )


# ---- token and channel mixers --------------------------------------------------------------------------
_MIXERS = ("token_mixer", "channel_mixer")


@conformance_check(*KINDS)
def check_declarations(subject: Subject, *, configs: Sequence[Mapping[str, Any]] | None = None) -> None:
    """The class declares what the kit relies on: the kind's interface, a pydantic Config (the one the
    registry names), defaults for every field (or ``conformance_configs``), ``expected_failures`` naming
    real checks with reasons, ``ranks`` within {1, 2, 3} for mixers, and the default config builds."""
    cls, kind = subject.cls, subject.kind
    interface = import_path(INTERFACES[kind])
    if isinstance(cls, type) and not issubclass(cls, interface):
        fail(f"{cls.__qualname__} is not a subclass of {interface.__name__} (registered as a {kind})")
    own_config = getattr(cls, "Config", None)
    if subject.info is not None and subject.info.config and own_config is not None:
        base_config = getattr(interface, "Config", None)
        if own_config is not base_config and own_config is not subject.config_cls:
            fail(
                f"the registry names config {subject.info.config!r} ({subject.config_cls.__qualname__}) but "
                f"{getattr(cls, '__qualname__', cls)}.Config is {own_config.__qualname__}"
            )
    declared = getattr(cls, "expected_failures", None) or {}
    if not isinstance(declared, Mapping):
        fail(f"expected_failures must be a mapping of check name -> reason, got {type(declared).__name__}")
    known = checks_for(kind)
    for check, reason in declared.items():
        if check not in known:
            fail(f"expected_failures names {check!r}, which is not a check of a {kind} (checks: {', '.join(known)})")
        if not isinstance(reason, str) or not reason.strip():
            fail(f"expected_failures[{check!r}] needs a reason (a non-empty string)")
    if kind in _MIXERS:
        if "dim" not in subject.config_cls.model_fields:
            fail(
                f"{subject.config_cls.__qualname__} has no 'dim' field (subclass {kind.title().replace('_', '')}Config)"
            )
        ranks = set(getattr(cls, "ranks", ()))
        if not ranks or not ranks <= {1, 2, 3}:
            fail(f"ranks must be a non-empty subset of {{1, 2, 3}}, got {sorted(ranks)}")
    pinned = [dict(c) for c in configs] if configs else fks.pinned_configs(cls)
    if pinned:
        for i, data in enumerate(pinned):
            try:
                subject.validate(data)
            except Exception as exc:
                fail(f"conformance_configs[{i}] = {data!r} does not validate: {exc}")
    else:
        required = [n for n, f in subject.config_cls.model_fields.items() if f.is_required()]
        if required:
            fail(
                f"{subject.config_cls.__qualname__} fields {required} have no default; give them defaults "
                "(design: every Config has defaults) or declare conformance_configs"
            )
    config = (pinned or [{}])[0]
    try:
        obj = _seeded(0, lambda: subject.build(config))
    except Exception as exc:
        fail(f"cannot build from {_describe_config(config)}: {type(exc).__name__}: {exc}")
    if not isinstance(obj, interface):
        fail(f"building {subject.label} gave a {type(obj).__name__}, which is not a {interface.__name__}")


def _mixer_shape_prop(mixer: Any, case: fks.MixerCase) -> None:
    x = case.tokens(_mixer_dim(mixer))
    for training in (True, False):
        mixer.train(training)
        mode = "train" if training else "eval"
        with torch.no_grad():
            out = mixer(x)
        if not isinstance(out, Tensor):
            fail(f"forward returned a {type(out).__name__}, not a tensor ({mode} mode, input {tuple(x.shape)})")
        if out.shape != x.shape:
            fail(f"output shape {tuple(out.shape)} != input shape {tuple(x.shape)} ({mode} mode)")
        if out.dtype != x.dtype:
            fail(f"output dtype {out.dtype} != input dtype {x.dtype} ({mode} mode)")


@conformance_check(*_MIXERS, name="check_output_shape")
def _output_shape_mixer(subject: Subject, *, configs: Any = None, max_examples: int | None = None) -> None:
    """Output shape (and dtype) equals the input shape ``(B, *spatial, C)`` in train and eval mode, for
    every declared rank (the default config at each rank's canonical shape, then drawn cases)."""
    tally = _run_mixer_cases(subject, _mixer_shape_prop, configs=configs, max_examples=max_examples)
    _require_ran(subject, tally, "check_output_shape")
    declared = {r for r in getattr(subject.cls, "ranks", (1, 2, 3)) if r in (1, 2, 3)}
    missing = sorted(declared - tally.ranks)
    if missing:
        fail(
            f"ranks {missing} are declared but supports() refused every shape of those ranks tried "
            f"(canonical {[fks.CANONICAL_SPATIAL[r] for r in missing]} and drawn ones); declare only the "
            "ranks the mixer accepts"
        )


def _mixer_finite_prop(mixer: Any, case: fks.MixerCase) -> None:
    x = case.tokens(_mixer_dim(mixer))
    for training in (True, False):
        mixer.train(training)
        with torch.no_grad():
            out = mixer(x)
        bad = [t for t in _tensors(out) if t.is_floating_point() and not torch.isfinite(t).all()]
        if bad:
            mode = "train" if training else "eval"
            fail(f"non-finite output values ({mode} mode, standard-normal input {tuple(x.shape)})")


@conformance_check(*_MIXERS, name="check_finite")
def _finite_mixer(subject: Subject, *, configs: Any = None, max_examples: int | None = None) -> None:
    """Outputs are finite for standard-normal inputs, in train and eval mode."""
    tally = _run_mixer_cases(subject, _mixer_finite_prop, configs=configs, max_examples=max_examples)
    _require_ran(subject, tally, "check_finite")


def _missing_grads(module: nn.Module) -> tuple[list[str], list[str]]:
    missing, nonfinite = [], []
    for name, p in module.named_parameters():
        if not p.requires_grad:
            continue
        if p.grad is None:
            missing.append(name)
        elif not torch.isfinite(p.grad).all():
            nonfinite.append(name)
    return missing, nonfinite


def _mixer_grad_prop(mixer: Any, case: fks.MixerCase) -> None:
    mixer.train()
    dim = _mixer_dim(mixer)
    x = case.tokens(dim).requires_grad_(True)
    out = mixer(x)
    if not isinstance(out, Tensor) or not out.requires_grad:
        fail("the output does not require grad: the input's gradient cannot flow through the mixer")
    (out * _weights_like(out, case.seed + 7)).sum().backward()
    if x.grad is None:
        fail("no gradient reached the input")
    if not torch.isfinite(x.grad).all():
        fail("non-finite gradient at the input")
    missing, nonfinite = _missing_grads(mixer)
    if missing:  # a parameter may serve only one rank: try the other supported ranks before failing
        for rank in getattr(mixer, "ranks", (1, 2, 3)):
            spatial = fks.CANONICAL_SPATIAL.get(rank)
            if spatial is None or spatial == case.spatial or not _supports(mixer, spatial):
                continue
            other = fks.MixerCase(config=case.config, batch=case.batch, spatial=spatial, seed=case.seed)
            y = mixer(other.tokens(dim))
            (y * _weights_like(y, case.seed + 8)).sum().backward()
        missing, nonfinite = _missing_grads(mixer)
    if missing:
        fail(f"no gradient reached trainable parameter(s) {missing} (shape {case.shape(dim)})")
    if nonfinite:
        fail(f"non-finite gradients in parameter(s) {nonfinite}")


@conformance_check(*_MIXERS, name="check_gradients")
def _gradients_mixer(subject: Subject, *, configs: Any = None, max_examples: int | None = None) -> None:
    """In train mode, the gradient of a random projection of the output reaches the input and every
    trainable parameter (at some supported rank), and is finite."""
    tally = _run_mixer_cases(subject, _mixer_grad_prop, configs=configs, max_examples=max_examples)
    _require_ran(subject, tally, "check_gradients")


def _mixer_batch_prop(mixer: Any, case: fks.MixerCase) -> None:
    mixer.eval()
    x = case.tokens(_mixer_dim(mixer))
    j = case.seed % case.batch
    x2 = x.clone()
    x2[j] = case.tokens(x.shape[-1], offset=1)[j]
    with torch.no_grad():
        out, out2 = mixer(x), mixer(x2)
    for i in range(case.batch):
        if i != j and not _close(out[i], out2[i], UNCHANGED):
            fail(
                f"eval output of sample {i} changed (max abs diff {_max_diff(out[i], out2[i]):.3g}) when only "
                f"sample {j} of the batch changed (input {tuple(x.shape)}): the mixer mixes across the batch"
            )


@conformance_check(*_MIXERS, name="check_batch_independence")
def _batch_independence_mixer(subject: Subject, *, configs: Any = None, max_examples: int | None = None) -> None:
    """In eval mode, changing sample j of a batch does not change the output of any other sample."""
    tally = _run_mixer_cases(subject, _mixer_batch_prop, configs=configs, max_examples=max_examples, min_batch=2)
    _require_ran(subject, tally, "check_batch_independence")


def _causal_prop(mixer: Any, case: fks.MixerCase) -> None:
    mixer.eval()
    x = case.tokens(_mixer_dim(mixer))
    b, n, c = case.batch, case.tokens_count, x.shape[-1]
    t = case.seed % (n - 1)
    flat = x.reshape(b, n, c).clone()
    flat[:, t + 1 :] = case.tokens(c, offset=1).reshape(b, n, c)[:, t + 1 :]
    with torch.no_grad():
        out = mixer(x).reshape(b, n, -1)[:, : t + 1]
        out2 = mixer(flat.reshape(x.shape)).reshape(b, n, -1)[:, : t + 1]
    if not _close(out, out2, UNCHANGED):
        diff = (out - out2).abs().amax(dim=(0, 2))
        first = int(torch.nonzero(diff > UNCHANGED["atol"])[0]) if bool((diff > UNCHANGED["atol"]).any()) else 0
        fail(
            f"declared causal, but the output at flattened position {first} changed (max abs diff "
            f"{_max_diff(out, out2):.3g}) when only positions > {t} changed (input {tuple(x.shape)})"
        )


@conformance_check("token_mixer", name="check_causality")
def _causality(subject: Subject, *, configs: Any = None, max_examples: int | None = None) -> None:
    """For instances with ``causal=True`` (a Config field ``causal`` is set True for this check), the
    eval output at flattened position t does not depend on inputs at positions > t."""
    fixed = {"causal": True} if "causal" in subject.config_cls.model_fields else None
    tally = _run_mixer_cases(
        subject,
        _causal_prop,
        configs=configs,
        max_examples=max_examples,
        fixed=fixed,
        min_tokens=2,
        accept=lambda m: bool(getattr(m, "causal", False)),
    )
    if tally.ran == 0:
        raise SkipCheck("not causal: no instance tried has causal=True, so there is no causality to check")


def _pointwise_prop(mixer: Any, case: fks.MixerCase) -> None:
    mixer.eval()
    x = case.tokens(_mixer_dim(mixer))
    b, n, c = case.batch, case.tokens_count, x.shape[-1]
    p = case.seed % n
    flat = x.reshape(b, n, c).clone()
    flat[:, p] = case.tokens(c, offset=1).reshape(b, n, c)[:, p]
    with torch.no_grad():
        out = mixer(x).reshape(b, n, -1)
        out2 = mixer(flat.reshape(x.shape)).reshape(b, n, -1)
    keep = [i for i in range(n) if i != p]
    if not _close(out[:, keep], out2[:, keep], UNCHANGED):
        diff = (out[:, keep] - out2[:, keep]).abs().amax(dim=(0, 2))
        where = keep[int(diff.argmax())]
        fail(
            f"declared pointwise, but the output at token {where} changed (max abs diff {float(diff.max()):.3g}) "
            f"when only token {p} changed (input {tuple(x.shape)}); set pointwise = False if it mixes tokens"
        )


@conformance_check("channel_mixer", name="check_pointwise")
def _pointwise(subject: Subject, *, configs: Any = None, max_examples: int | None = None) -> None:
    """Where ``pointwise`` is True, each token is transformed on its own: changing token p (eval mode)
    changes no other token's output."""
    tally = _run_mixer_cases(
        subject,
        _pointwise_prop,
        configs=configs,
        max_examples=max_examples,
        min_tokens=2,
        accept=lambda m: bool(getattr(m, "pointwise", True)),
    )
    if tally.ran == 0:
        raise SkipCheck("declares pointwise = False: token-wise independence is not claimed")


# ---- properties shared by every nn.Module kind (mixers and models) --------------------------------------
@dataclass
class _Probe:
    """How to build one module and feed it: the shared state_dict/config/determinism properties."""

    subject: Subject
    config: BaseModel | Mapping[str, Any]
    make_input: Callable[[nn.Module, int], Any]  # (instance, seed) -> input
    forward: Callable[[nn.Module, Any], Any]
    where: str

    def build(self, seed: int, config: Any = None) -> nn.Module:
        return _seeded(seed, lambda: self.subject.build(self.config if config is None else config))


def _prop_state_dict(probe: _Probe, seed: int) -> None:
    a = probe.build(seed)
    x = probe.make_input(a, seed)
    a.train()
    with torch.no_grad():  # move running statistics away from their initial values
        probe.forward(a, x)
        probe.forward(a, probe.make_input(a, seed + 1))
    b = probe.build(seed + 1)
    state = a.state_dict()
    try:
        b.load_state_dict(state)
    except Exception as exc:
        fail(
            f"a new instance cannot load_state_dict() the state of another ({probe.where}): {type(exc).__name__}: {exc}"
        )
    a.eval()
    b.eval()
    with torch.no_grad():
        _assert_same_outputs(
            probe.forward(a, x),
            probe.forward(b, x),
            f"a new instance (other seed) with load_state_dict(state_dict()) gives a different eval output "
            f"({probe.where}); state that matters is not in the state_dict (plain tensor attributes? "
            "non-persistent buffers?)",
        )


def _assert_config_round_trips(config: BaseModel, again: BaseModel, data: Mapping[str, Any]) -> None:
    """``again`` (validated from ``data``, the JSON dump of ``config``) equals ``config``."""
    if again == config and again.model_dump(mode="json") == data:
        return
    diffs = [
        f"{name}: {getattr(config, name, None)!r} -> {getattr(again, name, None)!r}"
        for name in type(config).model_fields
        if getattr(config, name, None) != getattr(again, name, None)
    ]
    detail = "; ".join(diffs) if diffs else f"{data!r} -> {again.model_dump(mode='json')!r}"
    fail(
        f"the config does not round-trip through JSON (Config.model_validate(config.model_dump(mode='json'))): {detail}"
    )


def _json_round_trip(subject: Subject, obj: Any) -> BaseModel:
    """``obj.config`` through JSON and back: checks it serialises, validates and equals; returns the copy."""
    config = getattr(obj, "config", None)
    if not isinstance(config, BaseModel):
        fail(f"the instance has no pydantic .config (got {type(config).__name__})")
    data = config.model_dump(mode="json")
    try:
        json.dumps(data)
    except (TypeError, ValueError) as exc:
        fail(f"config.model_dump(mode='json') is not JSON-serialisable: {exc}")
    try:
        again = subject.config_cls.model_validate(data)
    except Exception as exc:
        fail(f"Config.model_validate(config.model_dump(mode='json')) fails: {exc}")
    _assert_config_round_trips(config, again, data)
    return again


def _prop_config_round_trip(probe: _Probe, seed: int) -> None:
    a = probe.build(seed)
    again = _json_round_trip(probe.subject, a)
    b = probe.build(seed, again)
    _assert_same_state(
        a.state_dict(),
        b.state_dict(),
        f"instances built under the same seed from the config and its JSON round trip ({probe.where})",
    )
    x = probe.make_input(a, seed)
    a.eval()
    b.eval()
    with torch.no_grad():
        _assert_same_outputs(
            probe.forward(a, x),
            probe.forward(b, x),
            f"the config's JSON round trip builds a component with a different output ({probe.where})",
        )


def _prop_determinism(probe: _Probe, seed: int) -> None:
    outs, states = [], []
    for _ in range(2):
        m = probe.build(seed)
        x = probe.make_input(m, seed)
        m.train()
        torch.manual_seed(seed + 3)
        with torch.no_grad():
            outs.append(probe.forward(m, x))
        states.append(m.state_dict())
    _assert_same_state(states[0], states[1], f"two instances built after torch.manual_seed({seed}) ({probe.where})")
    _assert_same_outputs(
        outs[0], outs[1], f"two instances built and run (train mode) under the same torch.manual_seed ({probe.where})"
    )


def _mixer_probe(subject: Subject, case: fks.MixerCase) -> _Probe:
    return _Probe(
        subject=subject,
        config=case.config,
        make_input=lambda m, s: case.tokens(_mixer_dim(m), offset=s - case.seed),
        forward=_call,
        where=f"{_describe_config(case.config)}, input ({case.batch}, {', '.join(map(str, case.spatial))}, C)",
    )


def _probe_check(name: str, prop: Callable[[_Probe, int], None], doc: str) -> None:
    """Register check ``name`` for mixers: ``prop`` on a probe built for every drawn mixer case."""

    def impl(subject: Subject, *, configs: Any = None, max_examples: int | None = None) -> None:
        tally = _run_mixer_cases(
            subject,
            lambda m, case: prop(_mixer_probe(subject, case), case.seed),
            configs=configs,
            max_examples=max_examples,
        )
        _require_ran(subject, tally, name)

    impl.__doc__ = doc
    conformance_check(*_MIXERS, name=name)(impl)


_probe_check(
    "check_state_dict_round_trip",
    _prop_state_dict,
    "A new instance (built under another seed) that loads ``state_dict()`` of a trained-mode instance gives "
    "the identical eval output.",
)
_probe_check(
    "check_config_round_trip",
    _prop_config_round_trip,
    '``Config.model_validate(config.model_dump(mode="json"))`` equals the config and builds (under the same '
    "seed) a component with the identical state and output.",
)
_probe_check(
    "check_determinism",
    _prop_determinism,
    "Two instances built and run (train mode, dropout included) under the same ``torch.manual_seed`` have "
    "identical state and outputs.",
)


# ---- models --------------------------------------------------------------------------------------------
def _example_batch(model: nn.Module, batch_size: int, seed: int) -> dict[str, Tensor]:
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


def _model_probe(subject: Subject, config: Mapping[str, Any], batch_size: int = 3) -> _Probe:
    return _Probe(
        subject=subject,
        config=config,
        make_input=lambda m, s: _example_batch(m, batch_size, s),
        forward=forward_batch,
        where=_describe_config(config),
    )


def _build_model(subject: Subject, config: Mapping[str, Any], seed: int = 0) -> nn.Module:
    try:
        return _seeded(seed, lambda: subject.build(config))
    except Exception as exc:
        raise AssertionError(
            f"cannot build {subject.label} from {_describe_config(config)}: {type(exc).__name__}: {exc}"
        ) from exc


@conformance_check("model")
def check_forward_batch(subject: Subject, *, configs: Any = None) -> None:
    """``example_batch()`` returns a dict of tensors that ``forward_batch`` accepts in train and eval
    mode, giving at least one floating-point tensor."""
    for config in subject.configs(configs):
        model = _build_model(subject, config)
        batch = _example_batch(model, 2, 0)
        for training in (True, False):
            model.train(training)
            with torch.no_grad():
                try:
                    out = forward_batch(model, batch)
                except Exception as exc:
                    shapes = {k: tuple(v.shape) for k, v in batch.items()}
                    fail(
                        f"forward_batch(example_batch()) raised {type(exc).__name__}: {exc} "
                        f"(batch {shapes}, {_describe_config(config)})"
                    )
            if not any(t.is_floating_point() for t in _tensors(out)):
                fail(f"forward_batch returned no floating-point tensor (got {type(out).__name__})")


@conformance_check("model", name="check_finite")
def _finite_model(subject: Subject, *, configs: Any = None) -> None:
    """``forward_batch(example_batch())`` is finite in train and eval mode."""
    for config in subject.configs(configs):
        model = _build_model(subject, config)
        batch = _example_batch(model, 3, 0)
        for training in (True, False):
            model.train(training)
            with torch.no_grad():
                out = forward_batch(model, batch)
            if any(t.is_floating_point() and not torch.isfinite(t).all() for t in _tensors(out)):
                fail(f"non-finite output ({'train' if training else 'eval'} mode, {_describe_config(config)})")


@conformance_check("model", name="check_gradients")
def _gradients_model(subject: Subject, *, configs: Any = None) -> None:
    """In train mode, the gradient of a random projection of ``forward_batch(example_batch())``
    reaches every trainable parameter and is finite."""
    for config in subject.configs(configs):
        model = _build_model(subject, config)
        model.train()
        batch = _example_batch(model, 3, 0)
        outs = [t for t in _tensors(forward_batch(model, batch)) if t.is_floating_point() and t.requires_grad]
        if not outs:
            fail("no output tensor requires grad: gradients cannot reach the parameters")
        loss = torch.stack([(t * _weights_like(t, 11 + i)).sum() for i, t in enumerate(outs)]).sum()
        loss.backward()
        missing, nonfinite = _missing_grads(model)
        if missing:
            fail(f"no gradient reached trainable parameter(s) {missing} ({_describe_config(config)})")
        if nonfinite:
            fail(f"non-finite gradients in parameter(s) {nonfinite} ({_describe_config(config)})")


@conformance_check("model", name="check_batch_independence")
def _batch_independence_model(subject: Subject, *, configs: Any = None) -> None:
    """In eval mode, replacing sample j of ``example_batch(3)`` (in every batch tensor) does not change
    the output rows of the other samples."""
    size = 3
    for config in subject.configs(configs):
        model = _build_model(subject, config)
        model.eval()
        batch = _example_batch(model, size, 0)
        other = _example_batch(model, size, 1)
        not_major = [k for k, v in batch.items() if v.dim() == 0 or v.shape[0] != size]
        if not_major:
            raise SkipCheck(
                f"example_batch({size}) is not batch-major (entries {not_major}): samples cannot be swapped"
            )
        j = 1
        changed = {k: v.clone() for k, v in batch.items()}
        for k in changed:
            changed[k][j] = other[k][j]
        with torch.no_grad():
            out, out2 = _tensors(forward_batch(model, batch)), _tensors(forward_batch(model, changed))
        rows = [(a, b) for a, b in zip(out, out2, strict=True) if a.dim() > 0 and a.shape[0] == size]
        if not rows:
            raise SkipCheck("no output tensor has the batch as its first dimension")
        for a, b in rows:
            for i in range(size):
                if i != j and not _close(a[i], b[i], UNCHANGED):
                    fail(
                        f"eval output of sample {i} changed (max abs diff {_max_diff(a[i], b[i]):.3g}) when only "
                        f"sample {j} of the batch changed ({_describe_config(config)})"
                    )


@conformance_check("model", name="check_state_dict_round_trip")
def _state_dict_model(subject: Subject, *, configs: Any = None) -> None:
    """A new instance (other seed) that loads ``state_dict()`` of a trained-mode instance gives the
    identical eval output on ``example_batch()``."""
    for config in subject.configs(configs):
        _prop_state_dict(_model_probe(subject, config), 0)


@conformance_check("model", name="check_config_round_trip")
def _config_model(subject: Subject, *, configs: Any = None) -> None:
    """``Config.model_validate(config.model_dump(mode="json"))`` equals the config and builds (same
    seed) a model with identical state and output."""
    for config in subject.configs(configs):
        _prop_config_round_trip(_model_probe(subject, config), 0)


@conformance_check("model", name="check_determinism")
def _determinism_model(subject: Subject, *, configs: Any = None) -> None:
    """Two models built and run (train mode) under the same ``torch.manual_seed`` have identical state
    and outputs."""
    for config in subject.configs(configs):
        _prop_determinism(_model_probe(subject, config), 0)


# ---- config round trip for the kinds that are not modules ---------------------------------------------
@conformance_check(*(k for k in KINDS if k not in (*_MIXERS, "model")), name="check_config_round_trip")
def _config_plain(subject: Subject, *, configs: Any = None) -> None:
    """``Config.model_validate(config.model_dump(mode="json"))`` equals the config, and the component
    built from it has the same config."""
    for config in subject.configs(configs):
        obj = _seeded(0, functools.partial(subject.build, config))
        again = _json_round_trip(subject, obj)
        rebuilt = subject.build(again)
        if rebuilt.config != obj.config:
            fail("a component built from the round-tripped config has a different .config")


# ---- adapters ------------------------------------------------------------------------------------------
def _model_input(model: nn.Module, batch: Mapping[str, Tensor]) -> Tensor:
    return batch[getattr(model, "input_key", "x")]


def _fresh_model(label: str, factory: Callable[[], nn.Module], seed: int = 0) -> nn.Module:
    try:
        return _seeded(seed, factory)
    except Exception as exc:
        raise AssertionError(f"cannot build the test model {label}: {type(exc).__name__}: {exc}") from exc


@conformance_check("adapter")
def check_adapter_signature(subject: Subject, *, configs: Any = None, models: Any = None) -> None:
    """``apply(model)`` returns an ``nn.Module`` called like the original: the same input gives outputs
    of the same shapes, finite, in eval and train mode; ``loss()`` returns None or a finite scalar."""
    for config in subject.configs(configs):
        for label, factory in subject.models(models, toys.DEFAULT_MODELS):
            model = _fresh_model(label, factory)
            batch = _example_batch(model, 2, 0)
            x = _model_input(model, batch)
            model.eval()
            with torch.no_grad():
                before = model(x)
            adapter = _seeded(0, functools.partial(subject.build, config))
            where = f"on model {label}, {_describe_config(config)}"
            try:
                new = adapter.apply(model)
            except Exception as exc:
                fail(
                    f"apply() raised {type(exc).__name__}: {exc} ({where}); "
                    "if the adapter needs a particular model, declare conformance_models"
                )
            if not isinstance(new, nn.Module):
                fail(f"apply() returned a {type(new).__name__}, not an nn.Module ({where})")
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
                shapes_before = [tuple(t.shape) for t in _tensors(before)]
                shapes_after = [tuple(t.shape) for t in _tensors(after)]
                if shapes_before != shapes_after:
                    fail(f"output shapes changed from {shapes_before} to {shapes_after} ({where})")
                if any(t.is_floating_point() and not torch.isfinite(t).all() for t in _tensors(after)):
                    fail(f"the adapted model gives non-finite outputs ({where})")
            extra = adapter.loss(new, batch, after)
            if extra is not None:
                if not isinstance(extra, Tensor) or extra.numel() != 1 or not torch.isfinite(extra).all():
                    fail(f"loss() must return None or a finite scalar tensor, got {extra!r} ({where})")


def _structure(model: nn.Module) -> list[tuple[str, str]]:
    return [(name, type(m).__name__) for name, m in model.named_modules()]


@conformance_check("adapter")
def check_adapter_inplace(subject: Subject, *, configs: Any = None, models: Any = None) -> None:
    """``inplace=True``: ``apply`` returns the very model it was given. ``inplace=False``: it returns a
    different object, leaves the given model unchanged (modules, state, output) and shares no trainable
    parameter with it."""
    for config in subject.configs(configs):
        for label, factory in subject.models(models, toys.DEFAULT_MODELS):
            model = _fresh_model(label, factory)
            model.eval()
            batch = _example_batch(model, 2, 0)
            x = _model_input(model, batch)
            with torch.no_grad():
                before_out = model(x)
            before_state = {k: v.detach().clone() for k, v in model.state_dict().items() if isinstance(v, Tensor)}
            before_structure = _structure(model)
            adapter = _seeded(0, functools.partial(subject.build, config))
            inplace = bool(getattr(adapter, "inplace", False))
            new = adapter.apply(model)
            where = f"on model {label}, {_describe_config(config)}"
            if inplace:
                if new is not model:
                    fail(f"declares inplace=True but apply() returned a different object ({where})")
                continue
            if new is model:
                fail(f"declares inplace=False (returns a copy) but apply() returned the model it was given ({where})")
            if _structure(model) != before_structure:
                fail(f"declares inplace=False but changed the modules of the model it was given ({where})")
            after_state = {k: v for k, v in model.state_dict().items() if isinstance(v, Tensor)}
            _assert_same_state(
                before_state, after_state, f"declares inplace=False but changed the given model's state ({where})"
            )
            model.eval()
            with torch.no_grad():
                _assert_same_outputs(
                    before_out, model(x), f"declares inplace=False but the given model's output changed ({where})"
                )
            mine = {p.data_ptr() for p in model.parameters() if p.requires_grad}
            shared = [n for n, p in new.named_parameters() if p.requires_grad and p.data_ptr() in mine]
            if shared:
                fail(
                    f"declares inplace=False but the returned model shares trainable parameters {shared[:5]} "
                    f"with the given one ({where})"
                )


# ---- compressors ---------------------------------------------------------------------------------------
def _unique_tensors(model: nn.Module) -> list[Tensor]:
    seen, out = set(), []
    for t in model.state_dict().values():
        if isinstance(t, Tensor):
            key = (t.data_ptr(), t.numel(), t.dtype)
            if key not in seen:
                seen.add(key)
                out.append(t)
    return out


def measure_model(model: nn.Module) -> dict[str, Any]:
    """What the kit measures on a model to compare with a compressor's report.

    ``parameters``: elements of ``model.parameters()``; ``nonzero_parameters``: the non-zero ones;
    ``tensor_bytes``: bytes of the unique tensors of the state_dict (what safetensors stores, without
    its header); ``torch_save_bytes``: size of ``torch.save(state_dict)``; ``safetensors_bytes``: size of
    the safetensors serialisation (None if it cannot serialise the state).
    """
    params = list({id(p): p for p in model.parameters()}.values())
    tensors = _unique_tensors(model)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    safe: int | None
    try:
        from safetensors.torch import save

        safe = len(save({k: v.contiguous() for k, v in model.state_dict().items() if isinstance(v, Tensor)}))
    except Exception:
        safe = None
    return {
        "parameters": sum(p.numel() for p in params),
        "nonzero_parameters": sum(int(torch.count_nonzero(p)) for p in params),
        "tensor_bytes": sum(t.numel() * t.element_size() for t in tensors),
        "torch_save_bytes": buffer.getbuffer().nbytes,
        "safetensors_bytes": safe,
    }


def _compare_figures(reported: Any, measured: Mapping[str, Any], which: str, where: str) -> None:
    params = getattr(reported, "parameters", None)
    size = getattr(reported, "bytes", None)
    if not isinstance(params, int) or isinstance(params, bool) or not isinstance(size, int) or isinstance(size, bool):
        fail(f"report.{which} must hold int 'parameters' and 'bytes', got {reported!r} ({where})")
    allowed = {measured["parameters"], measured["nonzero_parameters"]}
    if params not in allowed:
        fail(
            f"report.{which}.parameters = {params}, but the kit measures {measured['parameters']} parameters "
            f"({measured['nonzero_parameters']} non-zero) on the {which} model ({where})"
        )
    candidates = [
        measured[k] for k in ("tensor_bytes", "torch_save_bytes", "safetensors_bytes") if measured[k] is not None
    ]
    if not any(abs(size - c) <= 0.01 * c + 64 for c in candidates):
        fail(
            f"report.{which}.bytes = {size}, but the kit measures {measured['tensor_bytes']} tensor bytes, "
            f"{measured['torch_save_bytes']} with torch.save, {measured['safetensors_bytes']} with safetensors "
            f"on the {which} model ({where})"
        )


def _compress(
    subject: Subject, config: Mapping[str, Any], label: str, factory: Callable[[], nn.Module]
) -> tuple[Any, ...]:
    model = _fresh_model(label, factory)
    model.eval()
    data = [_example_batch(model, 4, s) for s in (0, 1)]
    batch = data[0]
    x = _model_input(model, batch)
    with torch.no_grad():
        before_out = model(x)
    before = measure_model(model)
    compressor = _seeded(0, lambda: subject.build(config))
    where = f"on model {label}, {_describe_config(config)}"
    try:
        result = compressor.compress(model, data)
    except Exception as exc:
        fail(f"compress() raised {type(exc).__name__}: {exc} ({where})")
    if not isinstance(result, tuple) or len(result) != 2:
        fail(f"compress() must return (model, report), got {type(result).__name__} ({where})")
    new, report = result
    if not isinstance(new, nn.Module):
        fail(f"compress() returned a {type(new).__name__} as the model, not an nn.Module ({where})")
    return new, report, before, before_out, x, where


@conformance_check("compressor")
def check_compressor_report(subject: Subject, *, configs: Any = None, models: Any = None) -> None:
    """The report's ``before``/``after`` figures match what the kit measures again on the given and the
    returned model (parameters: total or non-zero; bytes: within 1% of the tensor, torch.save or
    safetensors size; see :func:`measure_model`)."""
    from forwardkit.interfaces.compressor import CompressionReport

    for config in subject.configs(configs):
        for label, factory in subject.models(models, toys.DEFAULT_MODELS):
            new, report, before, _, _, where = _compress(subject, config, label, factory)
            if not isinstance(report, CompressionReport):
                fail(f"compress() must return a CompressionReport, got {type(report).__name__} ({where})")
            _compare_figures(report.before, before, "before", where)
            _compare_figures(report.after, measure_model(new), "after", where)


@conformance_check("compressor")
def check_compressor_signature(subject: Subject, *, configs: Any = None, models: Any = None) -> None:
    """The compressed model is called like the original: the same input gives finite outputs of the
    same shapes."""
    for config in subject.configs(configs):
        for label, factory in subject.models(models, toys.DEFAULT_MODELS):
            new, _, _, before_out, x, where = _compress(subject, config, label, factory)
            new.eval()
            with torch.no_grad():
                try:
                    after = new(x)
                except Exception as exc:
                    fail(
                        f"the compressed model cannot be called like the original: "
                        f"{type(exc).__name__}: {exc} ({where})"
                    )
            a, b = [tuple(t.shape) for t in _tensors(before_out)], [tuple(t.shape) for t in _tensors(after)]
            if a != b:
                fail(f"output shapes changed from {a} to {b} ({where})")
            if any(t.is_floating_point() and not torch.isfinite(t).all() for t in _tensors(after)):
                fail(f"the compressed model gives non-finite outputs ({where})")


# ---- datasets ------------------------------------------------------------------------------------------
def _reseed_all(seed: int) -> None:
    import numpy as np

    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def _same_item(a: Any, b: Any) -> bool:
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        return (
            isinstance(a, Tensor)
            and isinstance(b, Tensor)
            and a.shape == b.shape
            and a.dtype == b.dtype
            and bool(torch.equal(a, b))
        )
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return list(a) == list(b) and all(_same_item(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same_item(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _splits(ds: Any) -> list[str]:
    splits = list(getattr(ds, "splits", ()))
    if not splits:
        fail("the dataset declares no splits")
    return splits


def _edge_indices(n: int) -> list[int]:
    return sorted({0, n - 1}) if n > 0 else []


@conformance_check("dataset")
def check_dataset_determinism(subject: Subject, *, configs: Any = None) -> None:
    """Two instances from the same config (built after different global seeds) yield identical first
    and last items in every split: data depend on the config's seed, not on global RNG state."""
    for config in subject.configs(configs):
        seen: list[dict[str, list[Any]]] = []
        for global_seed in (1, 2):
            _reseed_all(global_seed)
            ds = subject.build(config)
            items: dict[str, list[Any]] = {}
            for split in _splits(ds):
                data = ds.split(split)
                items[split] = [data[i] for i in _edge_indices(len(data))]
            seen.append(items)
        for split, first in seen[0].items():
            second = seen[1][split]
            if len(first) != len(second):
                fail(f"split {split!r} has a different size in two instances ({_describe_config(config)})")
            for a, b in zip(first, second, strict=True):
                if not _same_item(a, b):
                    fail(
                        f"two instances with the same config yield different items in split {split!r} "
                        f"({_describe_config(config)}): generate from the config's seed, not global RNG state"
                    )


def _check_item(item: Any, md: Any, split: str, index: int) -> None:
    where = f"split {split!r}, item {index}"
    if not isinstance(item, Mapping):
        fail(f"items must be dicts of tensors; {where} is a {type(item).__name__}")
    for key in ("x", "y"):
        if key not in item:
            fail(f"{where} has no {key!r} (keys: {sorted(item)})")
        if not isinstance(item[key], Tensor):
            fail(f"{where}: {key!r} is a {type(item[key]).__name__}, not a tensor")
    x, y = item["x"], item["y"]
    if tuple(x.shape) != tuple(md.input_shape):
        fail(f"{where}: x has shape {tuple(x.shape)} but metadata.input_shape is {tuple(md.input_shape)}")
    if tuple(y.shape) != tuple(md.target_shape):
        fail(f"{where}: y has shape {tuple(y.shape)} but metadata.target_shape is {tuple(md.target_shape)}")
    for key, t in (("x", x), ("y", y)):
        if t.is_floating_point() and not torch.isfinite(t).all():
            fail(f"{where}: {key} has non-finite values")
    if md.task == "classification":
        if md.num_classes is None:
            fail("metadata.task is 'classification' but metadata.num_classes is None")
        if y.is_floating_point():
            fail(f"{where}: classification targets must be integer class indices, got {y.dtype}")
    if md.num_classes is not None and not y.is_floating_point() and y.dtype != torch.bool and y.numel():
        low, high = int(y.min()), int(y.max())
        if low < 0 or high >= md.num_classes:
            fail(
                f"{where}: class index {low if low < 0 else high} outside [0, {md.num_classes}) (metadata.num_classes)"
            )


@conformance_check("dataset")
def check_dataset_items(subject: Subject, *, configs: Any = None) -> None:
    """The first and last item of every split is a dict with tensors ``x`` and ``y`` whose shapes are
    ``metadata.input_shape``/``target_shape``, finite, with integer class indices in
    ``[0, num_classes)`` (classification needs ``num_classes``; ``class_names`` matches it)."""
    from forwardkit.interfaces.dataset import DatasetMetadata

    for config in subject.configs(configs):
        ds = subject.build(config)
        md = ds.metadata
        if not isinstance(md, DatasetMetadata):
            fail(f"metadata must be a DatasetMetadata, got {type(md).__name__}")
        if md.class_names is not None and md.num_classes is not None and len(md.class_names) != md.num_classes:
            fail(f"metadata lists {len(md.class_names)} class_names but num_classes is {md.num_classes}")
        checked = 0
        for split in _splits(ds):
            data = ds.split(split)
            for i in _edge_indices(len(data)):
                _check_item(data[i], md, split, i)
                checked += 1
        if checked == 0:
            fail(f"every split is empty ({_describe_config(config)})")


@conformance_check("dataset")
def check_dataset_sizes(subject: Subject, *, configs: Any = None) -> None:
    """``metadata.sizes`` names exactly the dataset's splits, and ``len(split(name))`` equals it."""
    for config in subject.configs(configs):
        ds = subject.build(config)
        md = ds.metadata
        splits = _splits(ds)
        missing = [s for s in splits if s not in md.sizes]
        if missing:
            fail(f"metadata.sizes has no entry for split(s) {missing} (sizes: {md.sizes})")
        extra = [s for s in md.sizes if s not in splits]
        if extra:
            fail(f"metadata.sizes names split(s) {extra} the dataset does not declare (splits: {splits})")
        for split in splits:
            n = len(ds.split(split))
            if n != md.sizes[split]:
                fail(
                    f"split {split!r} has {n} items but metadata.sizes says {md.sizes[split]} "
                    f"({_describe_config(config)})"
                )


# ---- analyzers -----------------------------------------------------------------------------------------
def _finite_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@conformance_check("analyzer")
def check_analyzer_output(subject: Subject, *, configs: Any = None, models: Any = None) -> None:
    """``analyze(model, data)`` on a small model (data: two example batches) returns a non-empty
    ``Analysis`` whose numbers (and numeric table cells) are finite."""
    from forwardkit.interfaces.analyzer import Analysis

    for config in subject.configs(configs):
        for label, factory in subject.models(models, toys.DEFAULT_MODELS):
            model = _fresh_model(label, factory)
            model.eval()
            data = [_example_batch(model, 4, s) for s in (0, 1)]
            analyzer = _seeded(0, functools.partial(subject.build, config))
            where = f"on model {label}, {_describe_config(config)}"
            try:
                result = analyzer.analyze(model, data)
            except Exception as exc:
                fail(f"analyze() raised {type(exc).__name__}: {exc} ({where})")
            try:
                if not isinstance(result, Analysis):
                    fail(f"analyze() must return an Analysis, got {type(result).__name__} ({where})")
                if not (result.numbers or result.tables or result.figures):
                    fail(f"analyze() returned an empty Analysis ({where})")
                bad = {k: v for k, v in result.numbers.items() if not isinstance(k, str) or not _finite_number(v)}
                if bad:
                    fail(f"Analysis.numbers must map names to finite numbers; bad entries {bad} ({where})")
                for name, rows in result.tables.items():
                    if not isinstance(rows, list) or not all(isinstance(r, Mapping) for r in rows):
                        fail(f"Analysis.tables[{name!r}] must be a list of row dicts ({where})")
                    for r in rows:
                        for key, value in r.items():
                            if isinstance(value, float) and not math.isfinite(value):
                                fail(f"Analysis.tables[{name!r}] has a non-finite value in column {key!r} ({where})")
            finally:
                _close_figures(getattr(result, "figures", {}) or {})


def _close_figures(figures: Mapping[str, Any]) -> None:
    if not figures:
        return
    try:
        import matplotlib.pyplot as plt
    except Exception:
        return
    for fig in figures.values():
        with contextlib.suppress(Exception):
            plt.close(fig)


# ---- learning rules and callbacks ----------------------------------------------------------------------
_PLAIN_SCALARS = (type(None), bool, int, float, str)


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
        if not (isinstance(a, Tensor) and isinstance(b, Tensor) and a.shape == b.shape and _close(a, b, SAME)):
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
    bad = {k: v for k, v in metrics.items() if not isinstance(k, str) or not _finite_number(v)}
    if bad:
        fail(f"step() metrics must map names to finite Python numbers; bad entries {bad!r} ({where})")


def _train_rule(
    subject: Subject, config: Mapping[str, Any], label: str, factory: Callable[[], nn.Module], steps: int = 2
) -> tuple[Any, Any]:
    model = _fresh_model(label, factory)
    rule = _seeded(0, lambda: subject.build(config))
    ctx = _context(model)
    where = f"on model {label}, {_describe_config(config)}"
    try:
        rule.setup(model, ctx)
    except Exception as exc:
        fail(f"setup(model, ctx) raised {type(exc).__name__}: {exc} ({where})")
    for step in range(steps):
        batch = _example_batch(model, 4, step)
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
def check_learning_rule_step(subject: Subject, *, configs: Any = None, models: Any = None) -> None:
    """``setup(model, ctx)`` then two ``step(batch, ctx)`` calls run on a small model, return dicts of
    finite float metrics and leave the parameters finite."""
    for config in subject.configs(configs):
        for label, factory in subject.models(models, toys.DEFAULT_TRAINING_MODELS):
            _train_rule(subject, config, label, factory)


def _run_callback(
    subject: Subject, config: Mapping[str, Any], label: str, factory: Callable[[], nn.Module], steps: int = 2
) -> Any:
    model = _fresh_model(label, factory)
    cb = _seeded(0, lambda: subject.build(config))
    ctx = _context(model)
    where = f"on model {label}, {_describe_config(config)}"
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)

    def event(name: str, *args: Any) -> Any:
        try:
            return getattr(cb, name)(*args)
        except Exception as exc:
            fail(f"{name}() raised {type(exc).__name__}: {exc} ({where})")

    model.train()
    event("on_fit_start", ctx)
    event("on_epoch_start", ctx)
    for step in range(steps):
        batch = _example_batch(model, 4, step)
        new_batch = event("on_batch_start", batch, ctx)
        if not isinstance(new_batch, Mapping) or not all(isinstance(v, Tensor) for v in new_batch.values()):
            fail(
                f"on_batch_start() must return the (possibly transformed) batch dict of tensors, "
                f"got {type(new_batch).__name__} ({where})"
            )
        optimizer.zero_grad()
        loss = toys.default_loss(forward_batch(model, new_batch), new_batch)
        loss.backward()
        event("on_after_backward", ctx)
        optimizer.step()
        ctx.step += 1
        event("on_step_end", {"loss": float(loss.detach())}, ctx)
    changed = event("on_epoch_end", ctx)
    if not isinstance(changed, bool):
        fail(f"on_epoch_end() must return a bool (True when it changed the model), got {changed!r} ({where})")
    event("on_fit_end", ctx)
    return cb


@conformance_check("callback")
def check_callback_events(subject: Subject, *, configs: Any = None, models: Any = None) -> None:
    """Every event runs in loop order on a small model for two SGD steps: ``on_batch_start`` returns a
    batch dict of tensors and ``on_epoch_end`` a bool."""
    for config in subject.configs(configs):
        for label, factory in subject.models(models, toys.DEFAULT_TRAINING_MODELS):
            _run_callback(subject, config, label, factory)


@conformance_check("learning_rule", "callback")
def check_state_dict_plain(subject: Subject, *, configs: Any = None, models: Any = None) -> None:
    """After two steps, ``state_dict()`` is plain data (dicts, lists, str, numbers, None, tensors) and a
    new instance (set up on a same-architecture model) that loads it returns the same ``state_dict()``.
    (Exact resume through the trainer is ``check_resume``, in :mod:`forwardkit.testing.resume`.)"""
    for config in subject.configs(configs):
        for label, factory in subject.models(models, toys.DEFAULT_TRAINING_MODELS):
            if subject.kind == "learning_rule":
                obj, _ = _train_rule(subject, config, label, factory)
            else:
                obj = _run_callback(subject, config, label, factory)
            state = obj.state_dict()
            if not isinstance(state, Mapping):
                fail(f"state_dict() must return a dict, got {type(state).__name__}")
            _assert_plain(state, "state_dict()")
            saved = copy.deepcopy(state)
            fresh = _seeded(1, functools.partial(subject.build, config))
            if subject.kind == "learning_rule":
                model = _fresh_model(label, factory, seed=1)
                fresh.setup(model, _context(model))
            try:
                fresh.load_state_dict(copy.deepcopy(saved))
            except Exception as exc:
                fail(f"a new instance cannot load_state_dict(state_dict()): {type(exc).__name__}: {exc}")
            _same_plain(saved, fresh.state_dict(), "state_dict()")


# ---- runners -------------------------------------------------------------------------------------------
def _describe_exception(exc: BaseException) -> str:
    if isinstance(exc, AssertionError):
        text = str(exc) or "assertion failed"
    else:
        frames = traceback.extract_tb(exc.__traceback__)
        where = f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""
        text = f"{type(exc).__name__}: {exc}{where}"
    notes = [n for n in getattr(exc, "__notes__", []) or [] if n.strip()]
    if notes:
        text += "\n" + "\n".join(notes)
    return text


def _label_of(component: Any) -> tuple[str, str | None, str | None]:
    if isinstance(component, Subject):
        return component.label, component.kind, component.plugin
    if isinstance(component, ComponentInfo):
        return component.qualname, component.kind, component.plugin
    if isinstance(component, str):
        return component, component.partition("/")[0] or None, None
    kind = _kind_of_class(component)
    return f"{kind}/{_class_name(component)}", kind, None


def run_check(check: str | Callable[..., None], component: Any, **options: Any) -> CheckOutcome:
    """Run one check on ``component`` and return its outcome, applying ``expected_failures``."""
    name = check if isinstance(check, str) else check.__name__
    label, kind, plugin = _label_of(component)
    start = time.perf_counter()

    def outcome(status: str, message: str = "") -> CheckOutcome:
        return CheckOutcome(
            label, name, status, message, kind=kind, plugin=plugin, duration=time.perf_counter() - start
        )

    try:
        subject = as_subject(component)
    except Exception as exc:
        return outcome("failed", f"cannot load the component: {_describe_exception(exc)}")
    label, kind, plugin = subject.label, subject.kind, subject.plugin
    try:
        func = get_check(name)
    except KeyError as exc:
        return outcome("failed", str(exc.args[0]))
    reason = subject.expected_failures.get(name)
    try:
        func(subject, **options)
    except SkipCheck as exc:
        return outcome("skipped", str(exc))
    except Exception as exc:
        message = _describe_exception(exc)
        if reason is not None:
            return outcome("xfailed", f"{reason} [{message.splitlines()[0] if message else ''}]")
        return outcome("failed", message)
    if reason is not None:
        return outcome(
            "xpassed",
            f"declared an expected failure ({reason!r}) but the check passed; remove it from expected_failures",
        )
    return outcome("passed")


def check_component(
    component: Any,
    *,
    checks: Iterable[str] | None = None,
    raise_on_failure: bool = False,
    report: ConformanceReport | None = None,
    **options: Any,
) -> ConformanceReport:
    """Run every check of the component's kind (or only ``checks``); returns a :class:`ConformanceReport`.

    ``component`` is a class, a registry ComponentInfo or ``"kind/name"``. With ``raise_on_failure``
    an AssertionError listing the failed/xpassed checks is raised after all ran.
    """
    report = report if report is not None else ConformanceReport()
    label, kind, plugin = _label_of(component)
    try:
        subject = as_subject(component)
    except Exception as exc:
        report.add(
            CheckOutcome(
                label,
                "check_declarations",
                "failed",
                f"cannot load the component: {_describe_exception(exc)}",
                kind=kind,
                plugin=plugin,
            )
        )
    else:
        names = list(checks) if checks is not None else checks_for(subject.kind)
        for name in names:
            report.add(run_check(name, subject, **options))
    if raise_on_failure:
        report.raise_for_failures()
    return report


def _kind_runner(kind: str) -> Callable[..., ConformanceReport]:
    def run(component: Any, *, raise_on_failure: bool = True, **options: Any) -> ConformanceReport:
        subject = as_subject(component)
        if subject.kind != kind:
            raise TypeError(f"check_{kind} got a {subject.kind} ({subject.label})")
        return check_component(subject, raise_on_failure=raise_on_failure, **options)

    run.__name__ = run.__qualname__ = f"check_{kind}"
    run.__doc__ = (
        f"Run every {kind} check on ``component`` (class, ComponentInfo or 'kind/name').\n\n"
        "Returns the :class:`ConformanceReport`; by default raises AssertionError when a check failed or "
        "a declared expected failure passed (``raise_on_failure=False`` only returns the report). "
        f"Options: {', '.join(OPTIONS)}."
    )
    return run


check_token_mixer = _kind_runner("token_mixer")
check_channel_mixer = _kind_runner("channel_mixer")
check_model = _kind_runner("model")
check_learning_rule = _kind_runner("learning_rule")
check_callback = _kind_runner("callback")
check_adapter = _kind_runner("adapter")
check_compressor = _kind_runner("compressor")
check_dataset = _kind_runner("dataset")
check_analyzer = _kind_runner("analyzer")

# public names of the checks registered above under private implementations
check_output_shape = get_check("check_output_shape")
check_finite = get_check("check_finite")
check_gradients = get_check("check_gradients")
check_batch_independence = get_check("check_batch_independence")
check_causality = get_check("check_causality")
check_pointwise = get_check("check_pointwise")
check_state_dict_round_trip = get_check("check_state_dict_round_trip")
check_config_round_trip = get_check("check_config_round_trip")
check_determinism = get_check("check_determinism")


# ---- cases over a registry (check_all and the pytest plugin) -------------------------------------------
def _norm(name: str | None) -> str:
    return (name or "").lower().replace("-", "_").replace(".", "_")


def _plugin_matches(wanted: Iterable[str], *names: str | None) -> bool:
    own = {_norm(n) for n in names if n}
    own |= {n.removeprefix("forwardkit_") for n in own}
    return any(_norm(w) in own or _norm(w).removeprefix("forwardkit_") in own for w in wanted)


@dataclass(frozen=True)
class ConformanceCase:
    """One (component, check) pair to run; ``error`` marks a case that fails without running
    (a plugin that did not load, a filter that matched nothing)."""

    label: str
    check: str
    kind: str | None = None
    plugin: str | None = None
    component: Any = field(default=None, compare=False, repr=False)
    error: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def id(self) -> str:
        return f"{self.label}:{self.check}"

    def run(self, **options: Any) -> CheckOutcome:
        if self.error is not None:
            return CheckOutcome(self.label, self.check, "failed", self.error, kind=self.kind, plugin=self.plugin)
        return run_check(self.check, self.component, **{**self.options, **options})


def conformance_cases(
    registry: Registry | None = None,
    *,
    plugins: str | Iterable[str] | None = None,
    kinds: str | Iterable[str] | None = None,
    names: str | Iterable[str] | None = None,
    checks: str | Iterable[str] | None = None,
    include_plugin_errors: bool = True,
    **options: Any,
) -> list[ConformanceCase]:
    """Every (component, check) case of a registry (default: the default registry), filtered.

    ``plugins`` matches a plugin's entry-point name or distribution (``forwardkit-x``, ``forwardkit_x``
    and ``x`` are the same). A plugin that failed to load, or a ``plugins`` filter that matches
    nothing, gives a failing case, so that nothing missing looks green. No component class is
    imported here.
    """
    registry = registry if registry is not None else default_registry()
    as_set = lambda v: None if v is None else ({v} if isinstance(v, str) else set(v))
    plugins, kinds, names, checks = as_set(plugins), as_set(kinds), as_set(names), as_set(checks)
    cases: list[ConformanceCase] = []
    if include_plugin_errors:
        for status in registry.failed_plugins():
            if plugins is not None and not _plugin_matches(plugins, status.name, status.distribution):
                continue
            why = status.error or "; ".join(status.problems)
            cases.append(
                ConformanceCase(
                    f"plugin/{status.name}",
                    "check_plugin_loads",
                    kind=None,
                    plugin=status.name,
                    error=f"plugin {status.name!r} did not load cleanly: {why}",
                )
            )
    matched = 0
    for info in registry.components():
        if plugins is not None and not _plugin_matches(plugins, info.plugin, info.distribution):
            continue
        if kinds is not None and info.kind not in kinds:
            continue
        if names is not None and info.name not in names and info.qualname not in names:
            continue
        matched += 1
        for check in checks_for(info.kind):
            if checks is None or check in checks:
                cases.append(
                    ConformanceCase(
                        info.qualname, check, kind=info.kind, plugin=info.plugin, component=info, options=options
                    )
                )
    if matched == 0 and not cases:
        known = sorted(registry.plugins)
        cases.append(
            ConformanceCase(
                "conformance/nothing",
                "check_components_found",
                error=f"no registered component matches plugins={sorted(plugins) if plugins else None}, "
                f"kinds={sorted(kinds) if kinds else None}, names={sorted(names) if names else None} "
                f"(loaded plugins: {', '.join(known) or 'none'})",
            )
        )
    return cases


def check_all(
    registry: Registry | None = None,
    *,
    plugins: str | Iterable[str] | None = None,
    kinds: str | Iterable[str] | None = None,
    names: str | Iterable[str] | None = None,
    checks: str | Iterable[str] | None = None,
    raise_on_failure: bool = False,
    **options: Any,
) -> ConformanceReport:
    """Run the kit on every registered component (filtered like :func:`conformance_cases`)."""
    report = ConformanceReport()
    for case in conformance_cases(registry, plugins=plugins, kinds=kinds, names=names, checks=checks, **options):
        report.add(case.run())
    if raise_on_failure:
        report.raise_for_failures()
    return report

# registered last: checks that need the training engine
from forwardkit.testing import resume as _resume  # noqa: E402,F401
from forwardkit.testing import task_checks as _task_checks  # noqa: E402,F401
