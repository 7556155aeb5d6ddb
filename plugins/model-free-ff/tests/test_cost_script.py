"""The cost benchmark at smoke size: FF against in-silico BP and PAT, times, digital MACs, physical queries."""

from __future__ import annotations

import json
from pathlib import Path

from forwardkit.testing import load_script

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "cost.py"


def test_cost_script_smoke(tmp_path: Path) -> None:
    mod = load_script(SCRIPT)
    out = mod.main(["--smoke", "--threads", "1", "--out", str(tmp_path / "cost.json")])
    assert json.loads((tmp_path / "cost.json").read_text())["smoke"] is True
    rules, ratios = out["rules"], out["ratios_over_model_free_ff"]
    assert set(rules) == {"model_free_ff", "insilico_bp", "physics_aware_training"}
    assert ratios["epoch_time"]["model_free_ff"] == 1.0
    n = out["n_train"]
    # FF measures each block twice per sample (pos, neg); inner steps reuse the measurements
    assert rules["model_free_ff"]["train_queries_per_epoch"] == 2 * 2 * n
    # BP and PAT measure block 1 once, block 2 at every inner step (its input changes): 2n + 2n * inner (= 2)
    assert rules["insilico_bp"]["train_queries_per_epoch"] == 2 * n + 2 * n * 2
    # PAT's first epoch also measures block 1 once more (block 2's current inputs) and block 2 at 64 probes
    assert rules["physics_aware_training"]["train_queries_epoch1"] == 2 * n + 64 + 2 * n + 2 * n * 2
    assert all(r["inference_queries_per_sample"] == 10 * 2 for r in rules.values())  # C x K
    # digital MACs: FF only its Linears; BP also simulates the physics; PAT also fits and runs its twins
    macs = {k: r["digital_macs_epoch1_epoch2"] for k, r in rules.items()}
    assert macs["model_free_ff"][0] == macs["model_free_ff"][1] > 0
    assert macs["insilico_bp"][1] > macs["model_free_ff"][1]
    assert macs["physics_aware_training"][0] > macs["physics_aware_training"][1] > macs["model_free_ff"][1]
