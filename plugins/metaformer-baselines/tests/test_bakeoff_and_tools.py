"""This plugin's mixers join the default bake-off of ``forwardkit run`` and train there; the reproduction
spec validates; the speed benchmark's smoke mode runs and writes its JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import forwardkit
from forwardkit.config import TrainerConfig
from forwardkit.engine.bakeoff import BakeoffConfig, bakeoff_mixers, run_bakeoff
from forwardkit.reproduce.spec import load_spec

PLUGIN = Path(__file__).resolve().parents[1]
MIXERS = ["pooling", "random_mixing", "sepconv"]


def test_mixers_are_in_the_default_bakeoff_and_train_there(tmp_path: Path) -> None:
    assert set(MIXERS) <= set(bakeoff_mixers(BakeoffConfig(), forwardkit.get_registry()))
    # in this process (workers=1): a spawned worker would pay its own torch import on top of 2 steps
    cfg = BakeoffConfig(mixers=MIXERS, workers=1,
                        trainer=TrainerConfig(epochs=1, max_steps=2, batch_size=32, plots=False))
    results = run_bakeoff(cfg, out_dir=tmp_path, verbose=False)
    rows = {r["mixer"]: r for r in results["leaderboard"]}
    for name in MIXERS:
        assert "error" not in rows[name], rows[name].get("error")
        assert rows[name]["steps"] == 2 and rows[name]["plugin"] == "metaformer-baselines"


def test_reproduction_spec_is_declared_and_valid() -> None:
    path = forwardkit.get_registry().reproductions["metaformer-baselines"]
    spec = load_spec(path)
    kinds = [(c.kind, c.method, c.baseline) for c in spec.conditions]
    assert kinds == [("std_rule", "convformer", "identityformer"), ("compare", "convformer", "identityformer"),
                     ("std_rule", "randformer", "identityformer"), ("compare", "convformer", "convformer_gelu")]
    assert spec.conditions[3].test == "non_inferiority" and spec.conditions[3].margin == 0.003
    assert spec.pass_bar.startswith("Pass bar: identity mean below the sepconv mean") and len(spec.seeds) >= 3
    assert spec.used_arms() == ["identityformer", "randformer", "convformer", "convformer_gelu"]
    exp = forwardkit.config.validate_experiment(spec.experiment("convformer_gelu", 0))
    assert exp.model.name == "convformer" and exp.model.config.act == "gelu"
    assert exp.trainer.epochs == 10 and exp.trainer.batch_size == 128


def test_speed_benchmark_smoke(tmp_path: Path) -> None:
    out = tmp_path / "speed.json"
    subprocess.run([sys.executable, str(PLUGIN / "benchmarks" / "speed.py"), "--smoke", "--out", str(out)],
                   check=True, capture_output=True, timeout=300)
    data = json.loads(out.read_text())
    assert {r["mixer"] for r in data["mixers"]} == {"pooling", "sepconv"}
    assert all(r["ratio"] > 0 for r in data["mixers"]) and "starrelu_fused_vs_gelu" in data["activations"][0]


def test_pool_dispatch_benchmark_smoke() -> None:
    from forwardkit.testing import load_script

    result = load_script(PLUGIN / "benchmarks" / "pool_dispatch.py").main(["--smoke"])
    assert {row["dispatch"] for row in result["rows"]} == {"plain"}  # tiny maps take the plain ops
    assert all(row["median_ms"]["fused"] > 0 for row in result["rows"])
