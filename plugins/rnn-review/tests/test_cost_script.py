"""The cost benchmark runs at smoke sizes and reports every recurrent mixer against attention."""

from __future__ import annotations

import json
from pathlib import Path

from forwardkit.testing import load_script

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "cost.py"
NAMES = {"attention", "sdpa", "elman_reference", "elman_torch", "lstm_reference", "lstm_torch", "gru_reference",
         "gru_torch"}


def test_cost_script_smoke(tmp_path: Path) -> None:
    mod = load_script(SCRIPT)
    out = mod.main(["--smoke", "--out", str(tmp_path / "cost.json"), "--threads", "1"])
    assert json.loads((tmp_path / "cost.json").read_text())["smoke"] is True
    rows = out["mixers"]
    assert [(r["shape"][1], r["pass"]) for r in rows] == [(8, "fwd"), (8, "fwd+bwd"), (16, "fwd"), (16, "fwd+bwd")]
    for row in rows:
        assert set(row["throughput_ratio"]) == NAMES and row["time_ratio"]["attention"] == 1.0
        assert all(v > 0 for v in row["tokens_per_s"].values())
