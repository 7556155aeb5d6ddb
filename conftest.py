"""The suite's time, per plugin: what `make test` spends on each plugin, and the budget that keeps 64 in 20 minutes.

Every test's seconds (setup + call + teardown, summed over the xdist workers) are charged to an owner:

- ``plugins/<slug>/...`` to that plugin (its own tests; ``test_conformance`` there is its kit run);
- ``tests/reproduce/test_installed_smoke.py::...[<slug>]`` to that plugin (its smoke reproduction);
- ``tests/conformance/test_registered.py::...[<kind>/<name>...]`` to the plugin that registers the component;
- everything else to ``core``.

At the end the totals go to ``build/suite-seconds.json`` (``--suite-seconds PATH`` to write elsewhere;
``make suite-seconds`` refreshes the kept copy in ``benchmarks/results/``), and a plugin whose total
exceeds ``--plugin-budget`` seconds (default :data:`PLUGIN_BUDGET_S`) fails the session, naming it.

The budget is in seconds of the reference machine. Every process that runs tests times a fixed piece of
work (:func:`calibration_ms`) when it starts and when it ends; on a machine slower than the reference
(a loaded CI runner: `make test` has taken 395 s and 792 s there for commits of about the same size) the
budget grows by the median ratio, between 1 and :data:`MAX_SPEED_FACTOR`, and ``build/suite-seconds.json`` records the
calibrations and the factor. One-time costs of a process (lazy imports of torch.export, torch.compile,
matplotlib, scikit-learn) are paid before the first test by :func:`warm_up`, not by whichever plugin a
worker happens to run first.

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
#: :func:`calibration_ms` on the reference machine (the dev machine of 2026-12-04, 2 cores, both busy with a
#: calibrating process, as the two workers of `make test` are): the median of 18 runs, 33-41 ms
REFERENCE_CALIBRATION_MS = 37.0
#: the budget grows with a slower machine by this factor at most
MAX_SPEED_FACTOR = 3.0
CALIBRATION_KEY = "forwardkit_calibration_ms"
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
        self.calibrations: list[float] = []  # calibration_ms of every process that ran tests
        self.xdist = bool(getattr(config.option, "numprocesses", None))

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        if not self.xdist:  # tests run in this process: calibrate it as a worker would be
            self.calibrations.append(calibration_ms())

    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """An xdist worker finished: keep the calibrations it measured at its start and end."""
        self.calibrations.extend(getattr(node, "workeroutput", {}).get(CALIBRATION_KEY, []))

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
        factor = speed_factor(self.calibrations)
        return {"budget_seconds": float(self.config.getoption("--plugin-budget")),
                "unit": "test-seconds (setup + call + teardown, summed over the workers)",
                "calibration_ms": [round(c, 2) for c in self.calibrations],
                "reference_calibration_ms": REFERENCE_CALIBRATION_MS,
                "speed_factor": round(factor, 3),
                "enforced_budget_seconds": round(float(self.config.getoption("--plugin-budget")) * factor, 2),
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
        budget, factor = data["enforced_budget_seconds"], data["speed_factor"]
        plugins = {k: v["total"] for k, v in data["plugins"].items()}
        over = {k: v for k, v in plugins.items() if budget and v > budget}
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None and plugins:
            worst = max(plugins, key=plugins.__getitem__)
            speed = f"{data['budget_seconds']:g} x speed factor {factor:.2f}" if factor > 1 else "reference speed"
            reporter.write_line(f"suite seconds: core {data['core']:.0f}, {len(plugins)} plugins, most {worst} "
                                f"{plugins[worst]:.1f} (budget {budget:g}: {speed}); written to {out}")
            for name, seconds in sorted(over.items(), key=lambda kv: -kv[1]):
                parts = ", ".join(f"{p} {s:.1f}" for p, s in self.seconds[name].items())
                reporter.write_line(f"PLUGIN OVER BUDGET: {name} took {seconds:.1f} test-seconds > {budget:g} "
                                    f"({parts})", red=True)
        if over:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def warm_up() -> None:
    """Pay, before the first test, the one-time costs that every process of the suite pays once, whichever test
    comes first: the lazy imports behind torch.export and torch.compile, matplotlib's Agg backend, scikit-learn's
    metrics. Charged to no test, they no longer land on whichever plugin an xdist worker happens to run first
    (about 4 s on this machine, which made the per-plugin budget depend on scheduling luck)."""
    import io

    import torch

    tiny, x = torch.nn.Linear(2, 2), torch.zeros(1, 2)
    torch.export.export(tiny, (x,))
    torch.compile(tiny)(x)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure()
    fig.savefig(io.BytesIO(), format="png")
    plt.close(fig)
    import sklearn.metrics  # noqa: F401


def calibration_ms() -> float:
    """Milliseconds this process takes, now, for a fixed piece of the work tests do (build a small conv net,
    eight forward and backward passes at batch 16 on one thread): the median of 7 rounds. Its ratio to
    :data:`REFERENCE_CALIBRATION_MS` is how much slower than the reference machine this run is."""
    import time

    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        gen = torch.Generator().manual_seed(0)
        x = torch.randn(16, 3, 32, 32, generator=gen)
        rounds = []
        for _ in range(7):
            start = time.perf_counter()
            net = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.GELU(), torch.nn.Conv2d(16, 16, 3),
                                      torch.nn.Flatten(), torch.nn.LazyLinear(10))
            for _ in range(8):
                net(x).square().mean().backward()
            rounds.append((time.perf_counter() - start) * 1e3)
        return sorted(rounds)[len(rounds) // 2]
    finally:
        torch.set_num_threads(threads)


def speed_factor(measured_ms: list[float]) -> float:
    """How much slower this run's processes were than the reference machine (median of their calibrations
    over :data:`REFERENCE_CALIBRATION_MS`), at least 1 (a faster machine keeps the budget as it is) and at most
    :data:`MAX_SPEED_FACTOR` (a machine slower than that breaks the 20 minutes whatever the plugins do)."""
    if not measured_ms:
        return 1.0
    median = sorted(measured_ms)[len(measured_ms) // 2]
    return min(MAX_SPEED_FACTOR, max(1.0, median / REFERENCE_CALIBRATION_MS))


def pytest_sessionstart(session: pytest.Session) -> None:
    if hasattr(session.config, "workerinput"):  # an xdist worker of the suite: its tests are clocked per plugin
        warm_up()
        session.config.workeroutput[CALIBRATION_KEY] = [calibration_ms()]


@pytest.hookimpl(tryfirst=True)  # before xdist sends workeroutput to the controller
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if hasattr(session.config, "workerinput"):
        session.config.workeroutput.setdefault(CALIBRATION_KEY, []).append(calibration_ms())


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # the controller (or a run without xdist) keeps the clock
        config.pluginmanager.register(SuiteClock(config), "forwardkit-suite-clock")
