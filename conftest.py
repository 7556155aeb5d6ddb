"""The suite's time, per plugin: what `make test` spends on each plugin, and the budget that keeps 64 in 20 minutes.

Every test's seconds (setup + call + teardown, summed over the xdist workers) are charged to an owner:

- ``plugins/<slug>/...`` to that plugin (its own tests; ``test_conformance`` there is its kit run);
- ``tests/reproduce/test_installed_smoke.py::...[<slug>]`` to that plugin (its smoke reproduction);
- ``tests/conformance/test_registered.py::...[<kind>/<name>...]`` to the plugin that registers the component;
- everything else to ``core``.

At the end the totals go to ``build/suite-seconds.json`` (``--suite-seconds PATH`` to write elsewhere;
``make suite-seconds`` refreshes the kept copy in ``benchmarks/results/``), and a plugin whose total
exceeds ``--plugin-budget`` seconds (default :data:`PLUGIN_BUDGET_S`) fails the session, naming it.

The budget: `make test` must stay under 20 minutes on 2 cores with 64 plugins. Set-up, lint and type
checks take about 2 minutes and the core's tests about 300 test-seconds; two workers share the rest, so
64 plugins x 25 s / 2 workers = 800 s keeps the whole under 20 minutes with room to spare.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent
#: test-seconds a plugin may cost in `make test` (kit, own tests, smoke reproduction), on 2 cores
PLUGIN_BUDGET_S = 25.0
_PARAM = re.compile(r"\[(.+)\]$")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("forwardkit suite time")
    group.addoption("--suite-seconds", default=str(ROOT / "build" / "suite-seconds.json"),
                    help="where to write the per-plugin test seconds (JSON)")
    group.addoption("--plugin-budget", type=float, default=PLUGIN_BUDGET_S,
                    help="fail the session when a plugin's tests take more test-seconds than this (0: off)")


class SuiteClock:
    """A pytest plugin on the controller: sums report durations per (owner, part), reports at the end."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.seconds: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self._owners: dict[str, str] | None = None

    def component_owner(self, qualname: str) -> str:
        if self._owners is None:
            from forwardkit.registry import default_registry

            self._owners = {c.qualname: c.plugin for c in default_registry().components()}
        owner = self._owners.get(qualname, "core")
        return "core" if owner == "builtin" else owner

    def owner(self, nodeid: str) -> tuple[str, str]:
        path = nodeid.split("::", 1)[0]
        parts = path.split("/")
        if parts[0] == "plugins" and len(parts) > 2:
            return parts[1], "kit" if parts[-1] == "test_conformance.py" else "tests"
        param = _PARAM.search(nodeid)
        if path == "tests/reproduce/test_installed_smoke.py" and param and "test_smoke_reproduction" in nodeid:
            return param.group(1), "smoke"
        if path == "tests/conformance/test_registered.py" and param:
            component = "/".join(param.group(1).split("/")[:2]).split("::")[0]
            return self.component_owner(component), "kit"
        return "core", parts[1] if len(parts) > 2 else "tests"

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        owner, part = self.owner(report.nodeid)
        self.seconds[owner][part] += float(report.duration)

    def summary(self) -> dict[str, Any]:
        totals = {owner: sum(parts.values()) for owner, parts in self.seconds.items()}
        plugins = {k: v for k, v in totals.items() if k != "core"}
        return {"budget_seconds": float(self.config.getoption("--plugin-budget")),
                "unit": "test-seconds (setup + call + teardown, summed over the workers)",
                "core": round(totals.get("core", 0.0), 2),
                "plugins": {k: {"total": round(v, 2), **{p: round(s, 2) for p, s in self.seconds[k].items()}}
                            for k, v in sorted(plugins.items())},
                "projection_64_plugins": round(totals.get("core", 0.0) + 64 * max(plugins.values(), default=0.0), 1)}

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if not self.seconds:
            return
        data = self.summary()
        out = Path(self.config.getoption("--suite-seconds"))
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        budget = data["budget_seconds"]
        plugins = {k: v["total"] for k, v in data["plugins"].items()}
        over = {k: v for k, v in plugins.items() if budget and v > budget}
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None and plugins:
            worst = max(plugins, key=plugins.__getitem__)
            reporter.write_line(f"suite seconds: core {data['core']:.0f}, {len(plugins)} plugins, most {worst} "
                                f"{plugins[worst]:.1f} (budget {budget:g}); written to {out}")
            for name, seconds in sorted(over.items(), key=lambda kv: -kv[1]):
                parts = ", ".join(f"{p} {s:.1f}" for p, s in self.seconds[name].items())
                reporter.write_line(f"PLUGIN OVER BUDGET: {name} took {seconds:.1f} test-seconds > {budget:g} "
                                    f"({parts})", red=True)
        if over:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # the controller (or a run without xdist) keeps the clock
        config.pluginmanager.register(SuiteClock(config), "forwardkit-suite-clock")
