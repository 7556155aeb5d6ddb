"""Packaging: a scaffolded plugin installs and is discovered; wheels give exactly one plugin's components.

These build and install real distributions, so they are the slowest tests (tens of seconds).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PIP_QUIET = ["--quiet", "--disable-pip-version-check"]


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kw)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def _catalog() -> dict:
    return json.loads((ROOT / "core" / "forwardkit" / "catalog.json").read_text())


def test_plugin_extras_and_catalog_are_in_sync():
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "sync_plugins.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow
def test_scaffolded_plugin_installs_is_discovered_and_passes_the_kit(tmp_path):
    _run([sys.executable, "-m", "forwardkit", "plugin", "new", "toy-paper", "--dir", str(tmp_path)])
    plugin = tmp_path / "toy-paper"
    site = tmp_path / "site"
    _run([sys.executable, "-m", "pip", "install", *PIP_QUIET, "--no-deps", "--no-build-isolation",
          "--target", str(site), str(plugin)])
    env = {**os.environ, "PYTHONPATH": str(site)}
    listed = json.loads(_run([sys.executable, "-m", "forwardkit", "list", "--json"], env=env).stdout)
    found = {c["name"]: c for c in listed["components"]}
    assert found["toy_paper_mixer"]["plugin"] == "toy-paper"
    assert found["toy_paper_mixer"]["distribution"] == "forwardkit-toy-paper"
    assert listed["failed_plugins"] == []
    result = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(plugin / "tests")],
                  env=env, cwd=tmp_path)
    last = result.stdout.strip().splitlines()[-1]
    assert re.search(r"\b\d+ passed", last) and not re.search(r"\b[1-9]\d* failed", last), result.stdout


def _first_plugin() -> str:
    plugins = sorted(_catalog()["plugins"])
    if not plugins:
        pytest.fail("no plugin under plugins/ to package")
    return "datasets" if "datasets" in plugins else plugins[0]


@pytest.mark.slow
def test_wheels_install_exactly_one_plugin_in_a_clean_venv(tmp_path):
    slug = _first_plugin()
    wheels = tmp_path / "wheelhouse"
    for project in (ROOT, ROOT / "plugins" / slug):
        _run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(wheels), str(project)],
             cwd=tmp_path)
    venv = tmp_path / "clean"
    _run([sys.executable, "-m", "venv", str(venv)])
    py = venv / "bin" / "python"
    _run([str(py), "-m", "pip", "install", *PIP_QUIET, "--find-links", str(wheels),
          "-c", str(ROOT / "constraints.txt"), f"forwardkit[{slug}]"], cwd=tmp_path)
    listed = json.loads(_run([str(py), "-m", "forwardkit", "list", "--json"], cwd=tmp_path).stdout)
    by_plugin: dict[str, set[str]] = {}
    for c in listed["components"]:
        by_plugin.setdefault(c["plugin"], set()).add(f"{c['kind']}/{c['name']}")
    expected = set(_catalog()["plugins"][slug]["components"])
    entry_point = _catalog()["plugins"][slug]["entry_point"]
    assert set(by_plugin) == {"builtin", entry_point}
    assert by_plugin[entry_point] == expected
    assert listed["failed_plugins"] == []
    # the installed core is the wheel, not this checkout
    where = _run([str(py), "-c", "import forwardkit; print(forwardkit.__file__)"], cwd=tmp_path).stdout
    assert str(venv) in where
