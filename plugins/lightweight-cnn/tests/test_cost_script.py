"""The cost benchmark at smoke size: sizes, analytic MACs against the FLOP counter, interleaved latency ratios."""

from __future__ import annotations

import json
from pathlib import Path

from forwardkit.testing import load_script

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "cost.py"


def test_cost_script_smoke(tmp_path: Path) -> None:
    out = load_script(SCRIPT).main(["--smoke", "--out", str(tmp_path / "cost.json")])
    assert json.loads((tmp_path / "cost.json").read_text())["smoke"] is True
    u, b = out["sizes"]["unified"], out["sizes"]["branch"]
    assert (u["parameters"], b["parameters"]) == (15_130, 4_978)
    assert u["macs"] == u["macs_flop_counter"] and b["macs"] == b["macs_flop_counter"]
    # two trunks: about twice the MACs of one branch (exactly (2 T + head) / (T + 240))
    assert 1.9 < out["ratios_over_branch"]["macs"] < 2.1
    assert out["latency_b1"]["ratio_over_branch"]["branch"] == 1.0 and out["latency_b8"]["batch"] == 8
    assert out["paper"]["raw_float32_bytes"] == 59_448
