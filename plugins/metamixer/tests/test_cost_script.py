"""The cost benchmark runs at smoke sizes and reports every mixer against ffnified_attention."""

from __future__ import annotations

import json
from pathlib import Path

from forwardkit.testing import load_script

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "cost.py"


def test_cost_script_smoke(tmp_path: Path) -> None:
    mod = load_script(SCRIPT)
    out = mod.main(["--smoke", "--out", str(tmp_path / "cost.json")])
    assert json.loads((tmp_path / "cost.json").read_text())["smoke"] is True
    fwd, fwd_bwd = out["mixers"]
    assert set(fwd["ratio_over_ffnified"]) == {"ffnified_attention", "attention", "sepconv", "convnext_dwconv",
                                               "ffnified_attention_folded"}
    assert fwd["ratio_over_ffnified"]["ffnified_attention"] == 1.0
    assert "ffnified_attention_folded" not in fwd_bwd["median_ms"]
    fold = out["reparam_fold"]["tiny"]
    assert fold["max_abs_output_diff"] < 1e-4 and fold["params_after"] < fold["params_before"]
