"""The cost benchmark at smoke size: every candidate timed, ratios over the MAE-style step, the head's size."""

from __future__ import annotations

import json
from pathlib import Path

from forwardkit.testing import load_script

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "cost.py"


def test_cost_script_smoke(tmp_path: Path) -> None:
    mod = load_script(SCRIPT)
    out = mod.main(["--smoke", "--rounds", "1", "--out", str(tmp_path / "cost.json")])
    saved = json.loads((tmp_path / "cost.json").read_text())
    assert saved["smoke"] is True and saved["ratio_over_mae"]["mae"] == 1.0
    assert {"supervised", "mae", "next_next_all", "next_all", "next_all_k1", "next_all_k15"} <= set(out["median_ms"])
    assert out["forwards_per_step"]["next_next_all"] == 1 and 0 < out["head_over_unet_parameters"]
