"""The kit's pytest plugin: harmless when unused, one test per (component, check) when used, and the
3-line ``tests/test_conformance.py`` a third-party plugin writes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

TOY_PLUGIN = '''
"""A third-party plugin with four token mixers: good, xfail (declared), xpass (wrongly declared), not causal."""
import sys
from typing import Any

import torch
from torch import Tensor, nn

from forwardkit.config import TokenMixerConfig
from forwardkit.interfaces import TokenMixer
from forwardkit.registry import Registry


class Good(TokenMixer):
    causal = True

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.proj = nn.Linear(self.dim, self.dim)

    def forward(self, x: Tensor) -> Tensor:
        t = x.flatten(1, -2)
        counts = torch.arange(1, t.shape[1] + 1, dtype=t.dtype).view(1, -1, 1)
        return self.proj(t.cumsum(1) / counts).reshape(x.shape)


class BatchMean(Good):
    expected_failures = {"check_batch_independence": "uses the batch mean on purpose"}

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x) + x.mean(0, keepdim=True)


class Overcautious(Good):
    expected_failures = {"check_output_shape": "thought to drop a token"}


class Global(Good):
    causal = False

    def forward(self, x: Tensor) -> Tensor:
        t = x.flatten(1, -2)
        return self.proj(t.mean(1, keepdim=True).expand_as(t)).reshape(x.shape)


def forwardkit_register(registry):
    names = {"good": "Good", "batch-mean": "BatchMean", "overcautious": "Overcautious", "global": "Global"}
    for name, cls in names.items():
        registry.add("token_mixer", name, target=f"toyplugin:{cls}", config="forwardkit.config:TokenMixerConfig")


REGISTRY = Registry()
REGISTRY.load_plugin("toyplugin", lambda: sys.modules[__name__], distribution="forwardkit-toyplugin")
'''

CONFORMANCE_TEST = """
from forwardkit.testing import parametrize_conformance
from toyplugin import REGISTRY


@parametrize_conformance(plugin="forwardkit-toyplugin", registry=REGISTRY)
def test_conformance(case, forwardkit_check):
    forwardkit_check(case)


@parametrize_conformance(plugin="not-installed", registry=REGISTRY)
def test_unknown_plugin(case, forwardkit_check):
    forwardkit_check(case)
"""


def run_pytest(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "HYPOTHESIS"))}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-o", "addopts=", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def counts(output: str) -> dict[str, int]:
    last = [line for line in output.splitlines() if re.search(r"\d+ (passed|failed|skipped|deselected)", line)][-1]
    return {
        word: int(n)
        for n, word in re.findall(r"(\d+) (passed|failed|xfailed|xpassed|skipped|deselected|errors?)", last)
    }


def test_plugin_is_harmless_when_unused(tmp_path: Path) -> None:
    (tmp_path / "test_plain.py").write_text(
        textwrap.dedent(
            """
            import sys

            def test_plain(request, forwardkit_check):
                assert request.config.pluginmanager.has_plugin("forwardkit")
                assert request.config.getoption("forwardkit_conformance") is False
                assert request.config.getini("forwardkit_conformance") is False
                assert "torch" not in sys.modules, "the forwardkit pytest plugin imported torch"
            """
        )
    )
    result = run_pytest(tmp_path, "-q")
    assert result.returncode == 0, result.stdout + result.stderr
    assert counts(result.stdout) == {"passed": 1}
    assert "forwardkit conformance" not in result.stdout


def test_third_party_plugin_runs_the_kit_on_its_own_components(tmp_path: Path) -> None:
    (tmp_path / "toyplugin.py").write_text(TOY_PLUGIN)
    (tmp_path / "test_conformance.py").write_text(CONFORMANCE_TEST)
    result = run_pytest(tmp_path, "-q", "-rxs")
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    n = 10  # checks of a token mixer
    # 4 components x n checks: 1 xfail (declared), 1 xpass (a failure), 1 skip (not causal),
    # plus one failing case for the plugin filter that matched nothing
    assert counts(result.stdout) == {"passed": 4 * n - 3, "failed": 2, "xfailed": 1, "skipped": 1}, out
    assert "[XPASS(strict)] token_mixer/overcautious::check_output_shape" in out
    assert "uses the batch mean on purpose" in out  # the xfail reason
    assert "not causal" in out  # the skip reason
    assert "no registered component matches plugins=['not-installed']" in out
    # the kit's own summary counts the unmatched-filter case as a failed check of its own
    assert f"5 component(s), {4 * n + 1} check(s): {4 * n - 3} passed, 1 failed, 1 xfailed, 1 xpassed, 1 skipped" in out


def test_option_adds_one_test_per_installed_component_and_check(tmp_path: Path) -> None:
    (tmp_path / "test_plain.py").write_text("def test_plain():\n    pass\n")
    result = run_pytest(tmp_path, "-v", "--forwardkit-conformance", "--forwardkit-plugin", "builtin", "-k", "identity")
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    found = counts(result.stdout)
    assert found["passed"] == 10 and found["deselected"] >= 1 and "failed" not in found, out
    assert "forwardkit-conformance::token_mixer/identity:check_causality PASSED" in out
    assert "test_plain" not in out  # -k selects among the kit's items like any others
    assert "forwardkit conformance" in out and "10 passed, 0 failed" in out


def test_profile_options_reach_the_kit_and_its_summary(tmp_path: Path) -> None:
    args = ["--forwardkit-conformance", "--forwardkit-plugin", "builtin", "-k", "identity and check_output_shape"]
    args += ["--forwardkit-profile", "default"]
    result = run_pytest(tmp_path, "-q", *args, "--forwardkit-examples", "3", "--forwardkit-seed", "5")
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "(profile default: 3 drawn examples per property, seed 5)" in out
    bad = run_pytest(tmp_path, "-q", *args, "--forwardkit-seed", "soon")
    assert bad.returncode == 4 and "seed must be an integer" in bad.stdout + bad.stderr
    assert not (tmp_path / ".hypothesis").exists()
