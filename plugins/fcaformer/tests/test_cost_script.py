"""The cost benchmark runs at smoke sizes and reports every stage and model with vs without cross tokens."""

from __future__ import annotations

import json
from pathlib import Path

from forwardkit.testing import load_script

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "cost.py"


def test_cost_script_smoke(tmp_path: Path) -> None:
    mod = load_script(SCRIPT)
    out = mod.main(["--smoke", "--out", str(tmp_path / "cost.json"), "--threads", "1"])
    assert json.loads((tmp_path / "cost.json").read_text())["smoke"] is True
    (stage,) = out["stages"]
    assert stage["cross_keys_per_block"] == [0, 4, 8] and stage["own_keys"] == 25
    assert stage["params"]["with_cross"] > stage["params"]["without_cross"] and stage["params_ratio"] > 1
    assert stage["macs_ratio"] > 1 and stage["fwd_ratio"] > 0 and stage["peak_bytes_fwd_bwd"]["with_cross"] > 0
    assert [m["model"] for m in out["models"]] == ["tiny", "plain_small"]
    assert all(m["fwd_bwd_ratio"] > 0 and m["macs_ratio"] > 1 for m in out["models"])
