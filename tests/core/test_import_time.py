"""`import forwardkit` and `forwardkit list` never import torch, and listing is fast."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path


def imported_modules(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, check=True)
    mods = set()
    for line in out.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            mods.add(line.rsplit("|", 1)[1].strip())
    return mods


def test_import_forwardkit_does_not_import_torch():
    mods = imported_modules("import forwardkit")
    assert "torch" not in mods
    assert not any(m.startswith("forwardkit.builtin.") for m in mods)


def test_list_does_not_import_torch_or_component_code():
    code = "import sys; from forwardkit.cli.main import main; sys.argv=['forwardkit','list','--json']; main()"
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    mods = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert "torch" not in mods
    plugin_code = [m for m in mods if m.startswith("forwardkit_") and not m.endswith((".plugin", "forwardkit_"))]
    assert not [m for m in plugin_code if "." in m and m.rsplit(".", 1)[1] not in ("plugin",)]
    assert not {"forwardkit.builtin.mixers", "forwardkit.builtin.metaformer", "pydantic.main"} & mods


def test_list_json_is_fast():
    cmd = [sys.executable, "-m", "forwardkit", "list", "--json"]
    subprocess.run(cmd, capture_output=True, check=True)  # warm the file cache
    best = min(_timed(cmd) for _ in range(3))
    assert best < 0.3, f"forwardkit list --json took {best:.3f}s"


def _timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, capture_output=True, check=True, env=env)
    return time.perf_counter() - start


def test_list_stays_fast_with_64_plugins_installed(tmp_path):
    """64 light plugins (as many as the paper cards) on the path: listing still imports no torch, < 0.3 s.
    The plugins come from benchmarks/list_timing.py, which keeps the measured figure."""
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "list_timing.py"
    spec = importlib.util.spec_from_file_location("list_timing", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.write_light_plugins(tmp_path, 64)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    cmd = [sys.executable, "-m", "forwardkit", "list", "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    assert len([c for c in json.loads(out.stdout)["components"] if c["plugin"].startswith("fkfake")]) == 192
    best = min(_timed(cmd, env) for _ in range(3))
    assert best < 0.3, f"forwardkit list --json with 64 plugins took {best:.3f}s"
