"""The cost benchmark runs at smoke sizes and reports its ratios against the named baselines."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from forwardkit.testing import load_script

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "cost.py"


def test_cost_script_smoke(tmp_path: Path) -> None:
    threads = torch.get_num_threads()
    try:
        out = load_script(SCRIPT).main(["--smoke", "--threads", "1", "--out", str(tmp_path / "cost.json")])
    finally:
        torch.set_num_threads(threads)
    assert json.loads((tmp_path / "cost.json").read_text())["smoke"] is True
    step = out["sampling_step"]
    assert set(step["ratio_over_unmasked"]) == {"unmasked", "single_arch", "multi_arch"}
    assert step["ratio_over_unmasked"]["unmasked"] == 1.0 and step["archs_per_step"] == 1
    search = out["search"]
    low, high = search["window"]
    assert low <= search["macs"]["searched"] <= high < search["macs"]["largest"]
    assert search["latency_ratio_over_deit_like"]["deit_like"] == 1.0 and search["search_seconds"] > 0
    row = out["presets"][0]
    assert (row["preset"], row["baseline"]) == ("vit_res_tiny", "deit_tiny")
    assert row["throughput_ratio_preset_over_baseline"] > 0
    assert out["attention_share"]["fall_per_reduction"][1] > 10
