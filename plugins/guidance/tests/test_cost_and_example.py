"""The cost benchmark at smoke sizes, and the example experiment on a tiny budget."""

from __future__ import annotations

import json
from pathlib import Path

from forwardkit.config import load_experiment
from forwardkit.engine.trainer import Trainer
from forwardkit.testing import load_script

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT.parents[1] / "examples" / "guidance-mnist-fcn.yaml"


def test_cost_script_smoke(tmp_path: Path) -> None:
    mod = load_script(ROOT / "benchmarks" / "cost.py")
    out = mod.main(["--smoke", "--threads", "1", "--out", str(tmp_path / "cost.json")])
    assert json.loads((tmp_path / "cost.json").read_text())["smoke"] is True
    step = out["step"]
    assert set(step["median_ms"]) == {"backprop", "guidance_cka", "guidance_rsa", "guide_taps_only"}
    assert step["time_ratio_over_backprop"]["backprop"] == 1.0 and all(b > 0 for b in step["peak_bytes"].values())
    assert [r["p"] for r in out["cka_features"]] == [64, 256] and [r["B"] for r in out["cka_batch"]] == [8, 16]
    assert all(r["time_ratio_over_cka"]["cka"] == 1.0 for r in out["cka_features"])


def test_the_example_validates_and_runs(tmp_path: Path) -> None:
    data = load_experiment(EXAMPLE).to_dict()
    data["trainer"].update(max_steps=2, progress="none", plots=False, out_dir=str(tmp_path))
    data["analyzers"][0]["max_samples"] = 32
    result = Trainer(data, write=False).fit()
    assert result.steps == 2
    assert {"test/accuracy", "train_eval/accuracy", "analysis/linear_cka/mapped_mean"} <= set(result.final)
