"""The cost benchmark at smoke size: the PFN's prediction time against exact GP inference per n_train and against
HMC for the BNN prior, ratios and the JSON."""

from __future__ import annotations

import json
from pathlib import Path

from forwardkit.testing import load_script

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "cost.py"


def test_cost_script_smoke(tmp_path: Path) -> None:
    mod = load_script(SCRIPT)
    out = mod.main(["--smoke", "--threads", "1", "--out", str(tmp_path / "cost.json")])
    saved = json.loads((tmp_path / "cost.json").read_text())
    assert saved["smoke"] is True and set(saved["by_n_train"]) == {"4", "16"}
    for row in out["by_n_train"].values():
        assert set(row["median_ms"]) == {"gp_exact", "pfn_masked", "pfn_split"}
        assert row["time_ratio_over_gp_exact"]["gp_exact"] == 1.0
    assert out["pfn_over_gp"]["4"] > 0 and out["bnn"]["hmc_over_pfn"] > 0
