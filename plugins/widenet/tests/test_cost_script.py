"""The cost benchmark runs at smoke sizes and reports every measured ratio in one JSON."""

from __future__ import annotations

import json
from pathlib import Path

from forwardkit.testing import load_script

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "cost.py"


def test_cost_script_smoke(tmp_path: Path) -> None:
    mod = load_script(SCRIPT)
    out = mod.main(["--smoke", "--threads", "1", "--out", str(tmp_path / "cost.json")])
    assert json.loads((tmp_path / "cost.json").read_text())["smoke"] is True
    ratios = out["parameters"]["ratios"]
    assert ratios["widenet/vit"] < 1 and ratios["albert/vit"] < ratios["widenet/vit"] < ratios["vit_moe/vit"]
    for row in out["flops"]:  # K times the dense FFN (plus the router), whatever E
        assert row["analytic_ratio_over_dense"] == row["top_k"] + row["experts"] / (2 * 64)
        assert row["counted_ratio_over_dense"] >= row["top_k"]
    first = out["dispatch"][0]
    assert set(first["ratio_over_dense_active"]) == {"moe_sorted", "moe_einsum", "dense_active", "dense"}
    assert first["ratio_over_dense_active"]["dense_active"] == 1.0
    assert {r["pass"] for r in out["dispatch"]} == {"fwd", "fwd+bwd"}
    assert set(out["models"]["ratio_over_vit"]) == {"vit", "shared_dense", "widenet"}
