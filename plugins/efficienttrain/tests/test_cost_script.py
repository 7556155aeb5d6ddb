"""The cost benchmark at smoke size: per-step times at B = 20, 24, 28 and the crop's overhead, MACs, and the paired
ET / plain training runs with their speed-up and accuracy bar, in the JSON."""

from __future__ import annotations

import json
from pathlib import Path

from forwardkit.testing import load_script

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "cost.py"


def test_cost_script_smoke(tmp_path: Path) -> None:
    mod = load_script(SCRIPT)
    out = mod.main(["--smoke", "--threads", "1", "--out", str(tmp_path / "cost.json")])
    saved = json.loads((tmp_path / "cost.json").read_text())
    assert saved["smoke"] is True and saved["seeds"] == [0]
    steps = out["steps"]
    assert steps["time_ratio_over_step_28"]["step_28"] == 1.0
    assert {"crop_fft_then_step_20", "crop_matmul_then_step_20", "crop_fft_20", "lanczos_20",
            "augment_m9"} <= set(steps["median_ms"])
    assert abs(steps["macs_ratio_over_28"]["20"] - (20 / 28) ** 2) < 0.03
    assert abs(steps["v1_schedule_flops_speedup"] - 1 / 0.653061) < 1e-4
    runs = out["runs"]
    assert len(runs["runs"]["efficienttrain"]) == len(runs["runs"]["baseline_full"]) == 1
    assert runs["wallclock_speedup"]["median"] > 0 and isinstance(runs["accuracy"]["within_bar"], bool)
