"""The cost benchmark at smoke size: every candidate timed, the ratios over the supervised step with the same P,
and the MACs in the JSON."""

from __future__ import annotations

import json
from pathlib import Path

from forwardkit.testing import load_script

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "cost.py"


def test_cost_script_smoke(tmp_path: Path) -> None:
    mod = load_script(SCRIPT)
    out = mod.main(["--smoke", "--threads", "1", "--out", str(tmp_path / "cost.json")])
    saved = json.loads((tmp_path / "cost.json").read_text())
    assert saved["smoke"] is True and out["time_ratio_over_supervised_patches"]["supervised_patches"] == 1.0
    assert set(out["median_ms"]) == {"pretext", "supervised_patches", "supervised_classifier", "patch_net_only"}
    macs = out["macs_ratio_over_supervised_patches"]
    assert macs["pretext"] > 1.0 and macs["patch_net_only"] < 1.0  # the pretext adds the pooling on top of P
    assert isinstance(out["within_1_5x"], bool)
