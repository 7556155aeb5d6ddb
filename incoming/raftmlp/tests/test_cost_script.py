"""The cost benchmark runs and fits the exponents it reports (smoke sizes)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "cost.py"


def test_cost_script_smoke(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("raftmlp_cost", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = mod.main(["--smoke", "--out", str(tmp_path / "c.json")])
    assert set(out["mixers"]) == {"raft_mixing", "mixer_token_mlp"}
    assert out["mixers"]["raft_mixing"]["macs_exponent_in_tokens"] == pytest.approx(1.5)
    assert out["mixers"]["mixer_token_mlp"]["macs_exponent_in_tokens"] == pytest.approx(2.0)
    assert mod.slope([1, 10, 100], [2, 20, 200]) == pytest.approx(1.0)
