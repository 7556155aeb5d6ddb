"""The benchmark scripts run on a tiny budget and write their JSON (the README quotes the kept ones)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parents[1]


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"cnn_filter_db_{name}", HERE / "benchmarks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_speed_benchmark_writes_seconds(tmp_path: Path) -> None:
    out = tmp_path / "speed.json"
    _script("speed").main(["--sizes", "2000", "--out", str(out)])
    data = json.loads(out.read_text())
    assert data["shift_seconds"]["2000"] > 0 and data["quality_seconds"]["2000"] > 0


def test_tau_benchmark_random_layers_are_near_one_for_large_n(tmp_path: Path) -> None:
    out = tmp_path / "tau.json"
    _script("tau").main(["--sizes", "8", "4096", "--draws", "5", "--out", str(out)])
    sizes = json.loads(out.read_text())["sizes"]
    assert abs(sizes["4096"]["random_ve_norm"] - 1.0) < 0.02 and sizes["8"]["random_ve_norm"] > 1.1
