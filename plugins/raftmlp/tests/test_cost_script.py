"""The cost benchmark runs and fits the exponents it reports (smoke sizes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from forwardkit.testing import load_script

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "cost.py"


def test_cost_script_smoke(tmp_path: Path) -> None:
    mod = load_script(SCRIPT)
    out = mod.main(["--smoke", "--out", str(tmp_path / "c.json")])
    assert set(out["mixers"]) == {"raft_mixing", "mixer_token_mlp"}
    assert out["mixers"]["raft_mixing"]["macs_exponent_in_tokens"] == pytest.approx(1.5)
    assert out["mixers"]["mixer_token_mlp"]["macs_exponent_in_tokens"] == pytest.approx(2.0)
    assert len(out["time_ratio_mixer_over_raft"]) == 3 and min(out["time_ratio_mixer_over_raft"]) > 0
