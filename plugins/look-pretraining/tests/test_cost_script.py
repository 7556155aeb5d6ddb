"""The cost benchmark at smoke size: LOOK and CE steps interleaved, ratios over CE, chunked == reference losses."""

from __future__ import annotations

import json
from pathlib import Path

from forwardkit.testing import load_script

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "cost.py"


def test_cost_script_smoke(tmp_path: Path) -> None:
    mod = load_script(SCRIPT)
    out = mod.main(["--smoke", "--out", str(tmp_path / "cost.json")])
    saved = json.loads((tmp_path / "cost.json").read_text())
    assert saved["smoke"] is True and saved["steps"]["time_ratio_over_ce"]["ce"] == 1.0
    assert set(out["look_over_ce"]) == {"200", "2000"}
    assert all(v < 1e-5 for v in out["loss_only"]["max_abs_difference"].values())
