"""The cost benchmark's smoke form runs and reports the ratios the README quotes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "cost.py"


def test_cost_smoke() -> None:
    spec = importlib.util.spec_from_file_location("skan_cost", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = module.main(["--smoke"])
    assert out["skan_phase1_over_bspline"] > 0 and out["skan_pruned_over_phase1"] > 0
    assert out["parameters"]["skan_pruned"] < out["parameters"]["skan_phase1"]
