"""The runners: one check on one component (:func:`run_check`), every check of a component
(:func:`check_component`, ``check_<kind>``), and every registered component (:func:`check_all`,
:func:`conformance_cases`, which the pytest plugin uses).

The runners apply the component's declarations: a check named in ``expected_failures`` that fails is
``xfailed`` and one that passes is ``xpassed`` (a failure); a :class:`~.common.DeclaredFailure` (a
property that fails only where declared, e.g. ``gradient_exempt``) is ``xfailed``, and a
:class:`~.common.StaleDeclaration` is ``xpassed``.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from forwardkit.registry import ComponentInfo, Registry, default_registry
from forwardkit.testing.checks.common import (
    OPTIONS,
    DeclaredFailure,
    SkipCheck,
    StaleDeclaration,
    Subject,
    as_subject,
    checks_for,
    class_name,
    get_check,
    kind_of_class,
)
from forwardkit.testing.report import CheckOutcome, ConformanceReport

__all__ = [
    "ConformanceCase",
    "check_adapter",
    "check_all",
    "check_analyzer",
    "check_callback",
    "check_channel_mixer",
    "check_component",
    "check_compressor",
    "check_dataset",
    "check_learning_rule",
    "check_model",
    "check_token_mixer",
    "conformance_cases",
    "run_check",
]


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
    kind = kind_of_class(component)
    return f"{kind}/{class_name(component)}", kind, None


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
    except DeclaredFailure as exc:
        return outcome("xfailed", _describe_exception(exc))
    except StaleDeclaration as exc:
        return outcome("xpassed", _describe_exception(exc))
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
