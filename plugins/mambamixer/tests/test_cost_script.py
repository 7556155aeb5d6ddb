"""The cost benchmark runs at smoke sizes: scan forms against attention, exponents, mixers, parameter counts."""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from forwardkit.testing import load_script

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "cost.py"


def test_cost_script_smoke(tmp_path: Path) -> None:
    mod = load_script(SCRIPT)
    threads = torch.get_num_threads()
    try:
        out = mod.main(["--smoke", "--out", str(tmp_path / "cost.json"), "--threads", "1"])
    finally:
        torch.set_num_threads(threads)
    assert json.loads((tmp_path / "cost.json").read_text())["smoke"] is True
    rows = out["scan"]["rows"]
    assert [r["L"] for r in rows] == [16, 32, 64]
    assert all(set(r["ratio_over_attention"]) == {"chunked", "sequential", "attention"} for r in rows)
    assert all(r["ratio_over_attention"]["attention"] == 1.0 for r in rows)
    assert all(math.isfinite(e["all"]) for e in out["scan"]["exponent"].values())
    assert out["mixers"][0]["tokens_per_s"]["selective_token_mixer"] > 0
    assert out["params"]["vim2_t"]["params"] == 19_298_722
    assert mod.fit_exponent([1, 2, 4], [3.0, 12.0, 48.0]) == 2.0
