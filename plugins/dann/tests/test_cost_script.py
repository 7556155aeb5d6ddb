"""The cost benchmark at smoke size: one step of DANN and of source-only training, ratios, MACs, the JSON."""

from __future__ import annotations

import json
from pathlib import Path

from forwardkit.testing import load_script

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "cost.py"


def test_cost_script_smoke(tmp_path: Path) -> None:
    mod = load_script(SCRIPT)
    out = mod.main(["--smoke", "--threads", "1", "--out", str(tmp_path / "cost.json")])
    assert json.loads((tmp_path / "cost.json").read_text())["smoke"] is True
    names = {"source_only", "dann", "dann_lambda0"}
    assert set(out["median_ms"]) == names and out["time_ratio_over_source_only"]["source_only"] == 1.0
    # DANN forwards twice the rows through the CNN and adds the domain MLP: about twice the MACs, more parameters
    assert 1.9 < out["macs_ratio_over_source_only"]["dann"] < 2.5
    assert out["parameters"]["dann"] > out["parameters"]["source_only"]
    assert out["forward_macs"]["dann"] == out["forward_macs"]["dann_lambda0"]
