"""The cost benchmark's smoke form runs and reports the ratios the README quotes."""

from __future__ import annotations

from pathlib import Path

from forwardkit.testing import load_script

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "cost.py"


def test_cost_smoke() -> None:
    module = load_script(SCRIPT)
    out = module.main(["--smoke"])
    assert out["skan_phase1_over_bspline"] > 0 and out["skan_pruned_over_phase1"] > 0
    assert out["parameters"]["skan_pruned"] < out["parameters"]["skan_phase1"]
