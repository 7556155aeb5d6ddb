"""Plugins build on the core's public API only: never on the builtin plugin's modules, never on a core
name that starts with an underscore (what a third-party author could not rely on either)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = sorted(p.parent.name for p in (ROOT / "plugins").glob("*/pyproject.toml"))


def _private_uses(path: Path, root: Path = ROOT) -> list[str]:
    """Imports of forwardkit.builtin.* and of underscore names or modules of the core, in one file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    where = path.relative_to(root)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "forwardkit":
            parts = node.module.split(".")
            if parts[:2] == ["forwardkit", "builtin"] or any(p.startswith("_") for p in parts):
                found.append(f"{where}:{node.lineno}: from {node.module} import ...")
            found += [f"{where}:{node.lineno}: from {node.module} import {a.name}"
                      for a in node.names if a.name.startswith("_")]
        elif isinstance(node, ast.Import):
            found += [f"{where}:{node.lineno}: import {a.name}" for a in node.names
                      if a.name.startswith("forwardkit.builtin") or (a.name.startswith("forwardkit.")
                                                                    and "._" in a.name)]
    return found


@pytest.mark.parametrize("slug", PLUGINS)
def test_a_plugin_uses_only_the_public_api(slug):
    files = [p for p in (ROOT / "plugins" / slug).rglob("*.py") if "egg-info" not in str(p) and "build" not in p.parts]
    problems = [line for path in files for line in _private_uses(path)]
    assert not problems, ("use forwardkit.nn, forwardkit.data, forwardkit.tasks, the interfaces or "
                          "forwardkit.testing:\n" + "\n".join(problems))


def test_the_check_sees_a_private_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from forwardkit.builtin.mixers import Attention\nfrom forwardkit.registry import _fail\n"
                   "import forwardkit.builtin.layers\nfrom forwardkit.nn import MultiHeadAttention\n")
    assert len(_private_uses(bad, root=tmp_path)) == 3
