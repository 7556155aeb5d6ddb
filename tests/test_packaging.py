"""Packaging: a scaffolded plugin installs, is discovered, passes the kit and smoke-runs its reproduction;
the wheelhouse (``make wheelhouse``) installs exactly one plugin and the plugins it depends on.

These build and install real distributions, so they are the slowest tests (tens of seconds).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import forwardkit

ROOT = Path(__file__).resolve().parents[1]
PIP_QUIET = ["--quiet", "--disable-pip-version-check"]


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kw)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


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
    assert found["toy_paper_loss_ema"]["kind"] == "callback"
    assert listed["failed_plugins"] == []
    project = tomllib.loads((plugin / "pyproject.toml").read_text())
    assert project["project"]["optional-dependencies"]["test"] == ["forwardkit[test]"]
    assert project["tool"]["pytest"]["ini_options"]["testpaths"] == ["tests"]
    result = _run([sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", str(plugin / "tests")],
                  env=env, cwd=tmp_path)
    last = result.stdout.strip().splitlines()[-1]
    assert re.search(r"\b\d+ passed", last) and not re.search(r"\b[1-9]\d* (failed|error)", last), result.stdout
    for check in ("toy_paper_loss_ema:check_resume", "toy_paper_mixer:check_causality"):  # the kit ran them
        assert re.search(rf"PASSED \S+\[\S+/{check}\]", result.stdout), result.stdout
    # the scaffold's reproduction spec validates and its smoke run goes through every arm
    out = tmp_path / "smoke"
    smoke = _run([sys.executable, "-m", "forwardkit", "reproduce", "toy-paper", "--smoke", "--workers", "1",
                  "--out", str(out)], env=env, cwd=tmp_path)
    assert "toy-paper: inconclusive (too few seeds) (smoke)" in smoke.stdout, smoke.stdout
    results = json.loads((out / "results.json").read_text())
    assert results["smoke"] is True and set(results["arms"]) == {"identity", "method"}
    assert (out / "report.md").is_file()


def _wheelhouse() -> ModuleType:
    """tools/wheelhouse.py, what ``make wheelhouse`` runs."""
    name = "forwardkit_tools_wheelhouse"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / "wheelhouse.py")
        assert spec is not None and spec.loader is not None
        sys.modules[name] = module = importlib.util.module_from_spec(spec)  # dataclasses look their module up
        spec.loader.exec_module(module)
    return sys.modules[name]


def _is_forwardkit(requirement: str) -> bool:
    return canonicalize_name(Requirement(requirement).name).startswith("forwardkit")


def _closure(projects: dict[str, Any], slug: str) -> list[Any]:
    """The core, plugin ``slug`` and every repository plugin it depends on, directly or not."""
    by_name = {canonicalize_name(p.name): p for p in projects.values()}
    chosen, todo = [projects["core"], projects[slug]], [projects[slug]]
    while todo:
        for requirement in todo.pop().dependencies:
            other = by_name.get(canonicalize_name(Requirement(requirement).name))
            if other is not None and other not in chosen:
                chosen.append(other)
                todo.append(other)
    return chosen


def _dependent_plugin(projects: dict[str, Any]) -> str:
    """A plugin that depends on another plugin of the repository (ibn-net, which needs datasets)."""
    plugins = {canonicalize_name(p.name) for slug, p in projects.items() if slug != "core"}

    def needs_a_plugin(project: Any) -> bool:
        return any(canonicalize_name(Requirement(r).name) in plugins for r in project.dependencies)

    dependent = [slug for slug, p in projects.items() if slug != "core" and needs_a_plugin(p)]
    if not dependent:
        pytest.fail("no plugin under plugins/ depends on another one")
    return "ibn-net" if "ibn-net" in dependent else dependent[0]


def _third_party(chosen: list[Any]) -> list[str]:
    """What the chosen distributions need from the package index, with the core's test extra."""
    core = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = [r for p in chosen for r in p.dependencies]
    requirements += core["optional-dependencies"]["test"]
    return sorted({r for r in requirements if not _is_forwardkit(r)})


@pytest.mark.slow
def test_wheelhouse_installs_exactly_one_plugin_and_its_plugin_dependencies(tmp_path):
    wheelhouse = _wheelhouse()
    projects = {p.slug: p for p in wheelhouse.projects(ROOT)}
    wheels = tmp_path / "wheelhouse"
    slug = _dependent_plugin(projects)
    chosen = _closure(projects, slug)
    # what `make wheelhouse` builds for every distribution, here for the plugin's closure and one plugin
    # outside it (which must not be installed): building 64 wheels would cost the suite a minute or more
    bystander = next(p for name, p in sorted(projects.items()) if p not in chosen and name != "core")
    built = wheelhouse.build_all([*chosen, bystander], wheels)
    assert len(built) == len(chosen) + 1 and all(w.parent == wheels for w in built)
    venv = tmp_path / "clean"
    _run([sys.executable, "-m", "venv", str(venv)])
    py = venv / "bin" / "python"
    # torch & co. come from the package index; then every forwardkit distribution from the wheelhouse alone
    _run([str(py), "-m", "pip", "install", *PIP_QUIET, "-c", str(ROOT / "constraints.txt"), *_third_party(chosen)],
         cwd=tmp_path)
    _run([str(py), "-m", "pip", "install", *PIP_QUIET, "--no-index", "--find-links", str(wheels),
          f"forwardkit[{slug},test]"], cwd=tmp_path)
    script = "import importlib.metadata as m, json; print(json.dumps([d.metadata['Name'] for d in m.distributions()]))"
    names = json.loads(_run([str(py), "-c", script], cwd=tmp_path).stdout)
    installed = {canonicalize_name(n) for n in names if canonicalize_name(n).startswith("forwardkit")}
    assert installed == {canonicalize_name(p.name) for p in chosen}
    listed = json.loads(_run([str(py), "-m", "forwardkit", "list", "--json"], cwd=tmp_path).stdout)
    assert listed["failed_plugins"] == []
    by_plugin: dict[str, set[str]] = {}
    for c in listed["components"]:
        by_plugin.setdefault(c["plugin"], set()).add(f"{c['kind']}/{c['name']}")
    here: dict[str, set[str]] = {}
    for c in forwardkit.get_registry().components():
        here.setdefault(c.plugin, set()).add(f"{c.kind}/{c.name}")
    plugins = {p.slug for p in chosen if p.slug != "core"}
    assert set(by_plugin) == {"builtin", *plugins}
    assert all(by_plugin[p] == here[p] for p in by_plugin)  # what this checkout's plugins register
    # the installed core is the wheel, not this checkout, and its test extra brought the kit's pytest plugin
    where = _run([str(py), "-c", "import forwardkit; print(forwardkit.__file__)"], cwd=tmp_path).stdout
    assert str(venv) in where
    kit = _run([str(py), "-m", "pytest", "--help"], cwd=tmp_path).stdout
    assert "--forwardkit-conformance" in kit
