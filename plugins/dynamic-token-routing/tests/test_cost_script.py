"""The cost benchmark runs at smoke sizes and reports throughput of every budget against the static path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from forwardkit.testing import load_script

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "cost.py"


def test_the_cost_benchmark_smoke_writes_throughput_ratios(tmp_path: Path) -> None:
    module = load_script(SCRIPT)
    threads = torch.get_num_threads()
    try:
        out = module.main(["--smoke", "--out", str(tmp_path / "cost.json"), "--threads", "1"])
    finally:
        torch.set_num_threads(threads)
    data = json.loads((tmp_path / "cost.json").read_text())
    assert data["smoke"] is True and data["budgets"] == [1.0, 0.6, 0.4]
    model = out["models"]["smoke"]
    for batch in ("1", "4"):
        entry = model["batches"][batch]
        assert set(entry["throughput_ratio_vs_static"]) == {"static", "dynamic_mu1", "dynamic_mu0.6",
                                                            "dynamic_mu0.4", "dense_mu0.6"}
        assert entry["throughput_ratio_vs_static"]["static"] == 1.0
        for key, target in (("dynamic_mu0.6", 0.6), ("dynamic_mu0.4", 0.4)):
            assert entry["budgets"][key]["grid_flops_ratio"] == pytest.approx(target, abs=0.08)
        flops = entry["flops_ratio_vs_static"]
        assert flops["dynamic_mu0.4"] < flops["dynamic_mu0.6"] < flops["dynamic_mu1"]
    assert model["train_step"]["time_ratio_over_static"]["dynamic_dense"] > 0
