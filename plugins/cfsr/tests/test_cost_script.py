"""The cost benchmark runs at smoke sizes and reports every entry against the merged CFSR."""

from __future__ import annotations

import json
from pathlib import Path

from forwardkit.testing import load_script

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "cost.py"


def test_cost_script_smoke(tmp_path: Path) -> None:
    mod = load_script(SCRIPT)
    out = mod.main(["--smoke", "--out", str(tmp_path / "cost.json"), "--threads", "1"])
    assert json.loads((tmp_path / "cost.json").read_text())["smoke"] is True
    blocks, models = out["blocks"], out["models"]
    assert set(blocks["ratio_over_cfsr_merged"]) == {"cfsr_merged", "cfsr_train", "cfsr_branch_sum", "swin",
                                                     "swin_shifted", "cnn"}
    assert set(models["ratio_over_cfsr_merged"]) == {"cfsr_merged", "cfsr_train", "cfsr_branch_sum", "swin_sr",
                                                     "cnn_same_params", "cnn_tiny"}
    for table in (blocks, models):
        assert table["ratio_over_cfsr_merged"]["cfsr_merged"] == 1.0
        assert table["params"]["cfsr_merged"] < table["params"]["cfsr_train"] == table["params"]["cfsr_branch_sum"]
        assert set(table["macs"]) == set(table["params"])  # counted in the full run (None with --smoke)
    assert models["params"]["cfsr_merged"] == 36_804 and models["params"]["cnn_tiny"] == 37_952
    assert models["params"]["cnn_same_params"] >= models["params"]["cfsr_merged"]

