"""The cost benchmark at smoke size: the step-time ratios over BCT and the eval cache's saving, in the JSON."""

from __future__ import annotations

import json
from pathlib import Path

from forwardkit.testing import load_script

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "cost.py"


def test_cost_script_smoke(tmp_path: Path) -> None:
    mod = load_script(SCRIPT)
    out = mod.main(["--smoke", "--threads", "1", "--out", str(tmp_path / "cost.json")])
    saved = json.loads((tmp_path / "cost.json").read_text())
    assert saved["smoke"] is True
    ratios = out["steps"]["ratio_over_bct"]
    assert ratios["bct"] == 1.0 and set(ratios) == {"bct", "bt2", "bt2_no_cache", "independent"}
    assert out["eval_head"]["d8"]["recomputed_over_cached"] > 0
