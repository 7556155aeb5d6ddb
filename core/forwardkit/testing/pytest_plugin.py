"""The conformance kit as a pytest plugin (entry point ``pytest11: forwardkit``).

Harmless when unused: pytest loads this module in every run, and it only registers an option, an ini
key, a marker and a fixture; it imports torch only once the kit is used.

Run the kit on every installed component (one test per component and check)::

    pytest --forwardkit-conformance                          # in addition to the collected tests
    pytest --forwardkit-conformance -m forwardkit_conformance # only the kit
    pytest --forwardkit-conformance --forwardkit-plugin my-plugin

(or ``forwardkit_conformance = true`` in the ini file). How hard the kit draws is set by
``--forwardkit-profile deep``, ``--forwardkit-examples N`` and ``--forwardkit-seed S`` (or the
``FORWARDKIT_PROFILE``/``FORWARDKIT_EXAMPLES``/``FORWARDKIT_SEED`` environment variables, see
:mod:`forwardkit.testing.profiles`). In a plugin's own tests::

    from forwardkit.testing import parametrize_conformance

    @parametrize_conformance(plugin="my-plugin")
    def test_conformance(case, forwardkit_check):
        forwardkit_check(case)

Outcomes map onto pytest's: passed, failed, skipped (with the reason), xfailed (a declared expected
failure) and, for a declared failure that passed, a failure reading ``XPASS(strict)``. A short
forwardkit conformance summary is printed at the end of any session in which the kit ran.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import pytest

from forwardkit.testing.profiles import (
    DEFAULT_EXAMPLES,
    DEFAULT_SEED,
    ENV_EXAMPLES,
    ENV_SEED,
    PROFILES,
    active_profile,
    configure,
)
from forwardkit.testing.report import STATUSES, CheckOutcome, ConformanceReport

if TYPE_CHECKING:
    from forwardkit.registry import Registry
    from forwardkit.testing.checks import ConformanceCase

MARKER = "forwardkit_conformance"
_PROPERTY = "forwardkit_conformance"
_SUMMARY_PLUGIN = "forwardkit-conformance-summary"


# ---- options --------------------------------------------------------------------------------------------
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("forwardkit", "forwardkit conformance kit")
    group.addoption(
        "--forwardkit-conformance",
        action="store_true",
        default=False,
        dest="forwardkit_conformance",
        help="run the forwardkit conformance kit: one test per (installed component, check)",
    )
    group.addoption(
        "--forwardkit-plugin",
        action="append",
        default=[],
        dest="forwardkit_plugins",
        metavar="NAME",
        help="with --forwardkit-conformance: only the components of this plugin (repeatable)",
    )
    group.addoption(
        "--forwardkit-profile",
        default=None,
        dest="forwardkit_profile",
        choices=sorted(PROFILES),
        help="how hard the kit draws: 'default' (few examples, fixed seed) or 'deep' (many, random seed)",
    )
    group.addoption(
        "--forwardkit-examples",
        type=int,
        default=None,
        dest="forwardkit_examples",
        metavar="N",
        help=f"drawn examples per mixer property (default {DEFAULT_EXAMPLES}; as {ENV_EXAMPLES})",
    )
    group.addoption(
        "--forwardkit-seed",
        default=None,
        dest="forwardkit_seed",
        metavar="SEED",
        help=f"the seed of the kit's draws, an integer or 'random' (default {DEFAULT_SEED}; as {ENV_SEED})",
    )
    parser.addini(
        "forwardkit_conformance",
        type="bool",
        default=False,
        help="run the forwardkit conformance kit on every installed component (as --forwardkit-conformance)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}: a check of the forwardkit conformance kit (forwardkit.testing)")
    _configure_profile(config)
    if not config.pluginmanager.has_plugin(_SUMMARY_PLUGIN):
        config.pluginmanager.register(_Summary(), _SUMMARY_PLUGIN)


def _configure_profile(config: pytest.Config) -> None:
    """Apply ``--forwardkit-profile/-examples/-seed`` (on the controller and on every xdist worker)."""
    chosen = {
        "profile": config.getoption("forwardkit_profile", None),
        "max_examples": config.getoption("forwardkit_examples", None),
        "seed": config.getoption("forwardkit_seed", None),
    }
    if any(v is not None for v in chosen.values()):
        try:
            configure(**chosen)
        except ValueError as exc:
            raise pytest.UsageError(str(exc)) from None


def pytest_unconfigure(config: pytest.Config) -> None:
    configure(reset=True)


def _enabled(config: pytest.Config) -> bool:
    return bool(config.getoption("forwardkit_conformance", False)) or bool(config.getini("forwardkit_conformance"))


# ---- items for --forwardkit-conformance ----------------------------------------------------------------
class ConformanceCollector(pytest.Collector):
    """The collector of the kit's items (one per installed component and check)."""

    def __init__(self, *, cases: list[ConformanceCase], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cases = cases

    def collect(self) -> list[pytest.Item]:
        return [ConformanceItem.from_parent(self, name=case.id, case=case) for case in self.cases]


class ConformanceItem(pytest.Item):
    """One conformance check on one component."""

    def __init__(self, *, case: ConformanceCase, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case
        self.add_marker(MARKER)

    def runtest(self) -> None:
        run_case(self.case, self)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, f"forwardkit conformance {self.case.id}"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    if not _enabled(config):
        return
    plugins = config.getoption("forwardkit_plugins") or None
    cases = _cases(plugins=plugins)
    collector = ConformanceCollector.from_parent(
        session, name="forwardkit-conformance", nodeid="forwardkit-conformance", cases=cases
    )
    items.extend(session.genitems(collector))


def _cases(registry: Registry | None = None, **filters: Any) -> list[ConformanceCase]:
    """The cases to run; if even listing them fails (a broken registry), one failing case says why."""
    from forwardkit.testing.checks import ConformanceCase, conformance_cases

    try:
        return conformance_cases(registry, **filters)
    except Exception as exc:
        return [ConformanceCase("conformance/registry", "check_registry_loads", error=f"{type(exc).__name__}: {exc}")]


# ---- running a case and reporting it to pytest ---------------------------------------------------------
def _record(node: Any, outcome: CheckOutcome) -> None:
    if node is not None:
        node.user_properties.append((_PROPERTY, outcome.to_dict()))


def raise_for_outcome(outcome: CheckOutcome) -> None:
    """Turn an outcome into pytest's: return (passed), skip, xfail or fail."""
    if outcome.status == "passed":
        return
    if outcome.status == "skipped":
        pytest.skip(f"{outcome.id}: {outcome.message or 'nothing to check'}")
    if outcome.status == "xfailed":
        pytest.xfail(outcome.message)
    if outcome.status == "xpassed":
        pytest.fail(f"[XPASS(strict)] {outcome.id}: {outcome.message}", pytrace=False)
    pytest.fail(f"{outcome.id}\n{outcome.message}", pytrace=False)


def run_case(case: ConformanceCase, node: Any = None, **options: Any) -> CheckOutcome:
    """Run a case, record its outcome on ``node`` (for the summary) and report it to pytest."""
    outcome = case.run(**options)
    _record(node, outcome)
    raise_for_outcome(outcome)
    return outcome


class _Check:
    """The ``forwardkit_check`` fixture: run a case, one check, or every check of a component."""

    def __init__(self, node: Any) -> None:
        self.node = node

    def __call__(self, target: Any, check: str | None = None, **options: Any) -> CheckOutcome | ConformanceReport:
        from forwardkit.testing.checks import ConformanceCase, check_component, run_check

        if isinstance(target, ConformanceCase):
            return run_case(target, self.node, **options)
        if check is not None:
            outcome = run_check(check, target, **options)
            _record(self.node, outcome)
            raise_for_outcome(outcome)
            return outcome
        report = check_component(target, **options)
        for outcome in report:
            _record(self.node, outcome)
        if not report.ok:
            pytest.fail(report.summary(), pytrace=False)
        return report


@pytest.fixture
def forwardkit_check(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """Run conformance checks inside a test, with pytest outcomes (skip, xfail, fail) and the summary.

    ``forwardkit_check(case)`` runs a case from :func:`parametrize_conformance`;
    ``forwardkit_check(MyMixer, "check_causality")`` runs one check; ``forwardkit_check(MyMixer)`` runs
    every check of its kind and fails if any failed or xpassed. Keyword options (``configs``,
    ``models``, ``max_examples``, ``seed``) pass through to the checks.
    """
    return _Check(request.node)


def parametrize_conformance(
    *,
    plugin: str | Iterable[str] | None = None,
    kinds: str | Iterable[str] | None = None,
    names: str | Iterable[str] | None = None,
    checks: str | Iterable[str] | None = None,
    registry: Registry | None = None,
    argname: str = "case",
    **options: Any,
) -> pytest.MarkDecorator:
    """Parametrize a test over (component, check) cases of the registry, filtered.

    ``plugin`` keeps the components of that plugin (entry-point or distribution name; ``forwardkit-x``,
    ``forwardkit_x`` and ``x`` match alike). A plugin that failed to load, or a filter that matches
    nothing, gives a failing case. Options (``configs``, ``models``, ``max_examples``, ``seed``) reach every
    check.
    Use with the ``forwardkit_check`` fixture::

        @parametrize_conformance(plugin="my-plugin")
        def test_conformance(case, forwardkit_check):
            forwardkit_check(case)
    """
    cases = _cases(registry, plugins=plugin, kinds=kinds, names=names, checks=checks, **options)
    params = [pytest.param(case, id=case.id, marks=getattr(pytest.mark, MARKER)) for case in cases]
    return pytest.mark.parametrize(argname, params)


def make_conformance_test(**filters: Any) -> Callable[..., None]:
    """A ready test function: ``test_conformance = make_conformance_test(plugin="my-plugin")``."""

    @parametrize_conformance(**filters)
    def test_conformance(case: Any, forwardkit_check: Callable[..., Any]) -> None:
        forwardkit_check(case)

    return test_conformance


# ---- the summary ---------------------------------------------------------------------------------------
def _profile_line() -> str:
    try:
        return active_profile().describe()
    except ValueError as exc:  # a bad FORWARDKIT_* variable: the checks reported it already
        return f"profile unknown: {exc}"


class _Summary:
    """Collects outcomes from test reports (also on the xdist controller) and prints the summary."""

    def __init__(self) -> None:
        self.report = ConformanceReport()

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call" and not (report.when == "setup" and report.skipped):
            return
        for key, value in report.user_properties:
            if key == _PROPERTY and isinstance(value, dict):
                self.report.add(CheckOutcome.from_dict(value))

    @pytest.hookimpl
    def pytest_terminal_summary(self, terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
        report = self.report
        if not len(report):
            return
        tr = terminalreporter
        tr.write_sep("=", "forwardkit conformance")
        tr.write_line(report.totals_line())
        tr.write_line(f"({_profile_line()})")
        if config.getoption("verbose", 0) > 0:
            tr.write_line(report.table())
        width = max(getattr(getattr(tr, "_tw", None), "fullwidth", 0) or 0, 120)
        shown = (
            ("failed", "xpassed", "xfailed", "skipped") if config.getoption("verbose", 0) > 0 else ("failed", "xpassed")
        )
        for status in shown:
            for o in report.with_status(status):
                first = (o.message or "").splitlines()[0] if o.message else ""
                line = f"{status.upper():8} {o.id}: {first}"
                tr.write_line(line if len(line) <= width else line[: width - 3] + "...")
        hidden = [s for s in STATUSES if s not in shown and s != "passed" and report.counts[s]]
        if hidden:
            tr.write_line(f"({', '.join(hidden)} reasons: run with -v, or see -rxs)")
