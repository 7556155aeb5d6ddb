"""The cost benchmark at smoke sizes: every Combiner factorisation against SDPA, exponents, peak memory, the cap."""

from __future__ import annotations

import json
from pathlib import Path

from forwardkit.testing import load_script

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "cost.py"


def test_cost_script_smoke(tmp_path: Path) -> None:
    mod = load_script(SCRIPT)
    out = mod.main(["--smoke", "--threads", "1", "--out", str(tmp_path / "cost.json"), "--cap-gib", "5e-5"])
    assert json.loads((tmp_path / "cost.json").read_text())["smoke"] is True
    small, large = out["rows"]
    names = {"sdpa"} | {f"combiner_{v}" for v in mod.VARIANTS}
    assert set(small["median_ms"]) == names and small["time_ratio_over_sdpa"]["sdpa"] == 1.0
    assert all(b > 0 for b in small["peak_bytes"].values())
    # the cap: SDPA's dense estimate at L = 64 (2 * 4 * 64^2 * 4 bytes) is above 5e-5 GiB, so it is skipped
    assert "sdpa" not in large["median_ms"] and "time_ratio_over_sdpa" not in large
    assert out["skipped"] == [{"L": 64, "mixer": "sdpa", "estimated_bytes": 131072, "estimated_gib": 131072 / 2**30,
                               "cap_bytes": int(5e-5 * 2**30)}]
    assert out["scaling"]["sdpa"]["time_exponent"] is None and out["scaling"]["combiner_fixed"]["lengths"] == [16, 64]


def test_the_fitted_exponent_is_the_log_log_slope() -> None:
    mod = load_script(SCRIPT)
    assert abs(mod.exponent([10, 100], [1.0, 10 ** 1.5]) - 1.5) < 1e-12
