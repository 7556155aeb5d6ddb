"""The cost benchmark at smoke sizes: accounting, ratios over NASNet-A, the ResNet-18 baseline, memory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from forwardkit.measure import count_macs, count_parameters
from forwardkit.testing import load_script

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "cost.py"


def test_cost_script_smoke(tmp_path: Path) -> None:
    mod = load_script(SCRIPT)
    out = mod.main(["--smoke", "--threads", "1", "--random", "2", "--out", str(tmp_path / "cost.json")])
    assert json.loads((tmp_path / "cost.json").read_text())["smoke"] is True
    names = {"nasnet_a", "random_0", "random_1", "resnet18_width"}
    assert set(out["params"]) == set(out["train_step_ms"]) == names
    ratios = out["ratios"]
    assert ratios["params_over_nasnet_a"]["nasnet_a"] == 1.0
    assert ratios["train_step_time_over_nasnet_a"]["nasnet_a"] == 1.0
    assert set(out["random_median_ratios"]) == set(ratios)
    # the baseline's width gives the parameter count closest to NASNet-A's
    target = out["params"]["nasnet_a"]
    w = out["resnet18_width"]
    gap = abs(out["params"]["resnet18_width"] - target)
    assert all(abs(count_parameters(mod.ResNet18Like(v)) - target) >= gap for v in (w - 1, w + 1) if v >= 1)
    split = out["nasnet_a_mac_split"]
    assert 0 < split["separable_share"] < 1 and split["hooks_total_over_counter"] == pytest.approx(1.0, rel=1e-6)
    assert out["cell_memory"]["peak_bytes"]["nasnet_a_normal_cell"] > 0 and out["mobile"] is None


def test_the_per_module_mac_count_agrees_with_torchs_counter() -> None:
    mod = load_script(SCRIPT)
    model = mod.ResNet18Like(2).eval()
    x = torch.randn(1, 8, 8, 1)
    split = mod.conv_macs_by_kind(model, x)
    assert split["separable"] == 0 and split["other"] == count_macs(lambda: model(x))
