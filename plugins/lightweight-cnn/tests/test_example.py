"""The shipped example (examples/lightweight-cnn-mnist5k.yaml) validates, is the recipe of ``recipe.py``, and runs
on a tiny budget through the core's multi-stage runner."""

from __future__ import annotations

from pathlib import Path

from forwardkit_lightweight_cnn.recipe import two_stage_experiment

import forwardkit
from forwardkit.config import read_mapping
from forwardkit.config.stages import validate_stages

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "lightweight-cnn-mnist5k.yaml"


def test_the_example_is_the_recipe():
    data = read_mapping(str(EXAMPLE))
    recipe = two_stage_experiment({"name": "mnist5k", "val_fraction": 0.0, "test_fraction": 0.2},
                                  trainer={"eval_every": 0}, name="lightweight-cnn-mnist5k",
                                  compressors=[{"name": "size_report", "latency_runs": 200}])
    mine, theirs = validate_stages(data)[1], validate_stages(recipe)[1]
    assert [e.to_dict(full=True) for e in mine] == [e.to_dict(full=True) for e in theirs]


def test_the_example_runs_on_a_tiny_budget():
    data = read_mapping(str(EXAMPLE))
    data["base"]["data"]["test_fraction"] = 0.02
    for stage in data["stages"]:
        stage["trainer"] = {**stage.get("trainer", {}), "max_steps": 1, "epochs": 1, "progress": "none",
                            "plots": False}
    data["stages"][-1]["compressors"] = [{"name": "size_report", "latency_runs": 2, "latency_warmup": 0}]
    result = forwardkit.run_stages(data, write=False, verbose=False)
    assert type(result.model).__name__ == "UnifiedModel"
    assert result.final["unfreeze/compression/size_report/after/parameters"] == 15_130
    assert {"dual/test/accuracy", "head/test/accuracy", "unfreeze/test/accuracy"} <= set(result.final)
