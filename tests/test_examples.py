"""Every example experiment validates, and runs end to end on a tiny budget."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from forwardkit.config import load_experiment, read_mapping
from forwardkit.config.stages import is_multi_stage
from forwardkit.engine.stages import run_stages
from forwardkit.engine.trainer import Trainer

ALL = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.yaml"))
STAGED = [p for p in ALL if is_multi_stage(read_mapping(p))]
EXAMPLES = [p for p in ALL if p not in STAGED]


def test_there_are_examples():
    assert len(EXAMPLES) >= 4


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_validates_and_runs(path, tmp_path):
    exp = load_experiment(path)
    data = exp.to_dict()
    data["trainer"].update(max_steps=3, progress="none", eval_every=1, out_dir=str(tmp_path))
    result = Trainer(data, run_dir=tmp_path / "run").fit()
    assert result.steps == 3
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["steps"] == 3 and summary["final"]


@pytest.mark.parametrize("path", STAGED, ids=lambda p: p.stem)
def test_multi_stage_example_validates_and_runs(path, tmp_path):
    data = read_mapping(path)
    for stage in data["stages"]:
        stage.setdefault("trainer", {}).update(max_steps=3, progress="none", eval_every=1)
    result = run_stages(data, run_dir=tmp_path / "run")
    assert {f"{s['name']}/steps" for s in data["stages"]} <= set(result.final)
    assert all(result.final[f"{s['name']}/steps"] == 3 for s in data["stages"])


def test_bakeoff_smoke(tmp_path):
    from forwardkit.engine.bakeoff import BakeoffConfig, run_bakeoff

    cfg = BakeoffConfig(mixers=["identity", "attention"], trainer={"epochs": 1, "max_steps": 4, "progress": "none"})
    results = run_bakeoff(cfg, out_dir=tmp_path, verbose=False)
    rows = {r["mixer"]: r for r in results["leaderboard"]}
    assert set(rows) == {"identity", "attention"}
    for row in rows.values():
        assert "error" not in row, row.get("traceback")
        assert 0.0 <= row["test_accuracy"] <= 1.0 and row["parameters"] > 0 and row["macs_per_sample"] > 0
    assert rows["attention"]["macs_per_sample"] > rows["identity"]["macs_per_sample"]
    assert (tmp_path / "results.json").is_file() and (tmp_path / "leaderboard.png").is_file()


def test_trainer_overhead_benchmark_smoke(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "trainer_overhead", Path(__file__).resolve().parents[1] / "benchmarks" / "trainer_overhead.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.main(["--smoke", "--out", str(tmp_path / "r.json")])
    assert result["ratio"] > 0 and (tmp_path / "r.json").is_file()


def _benchmark(name):
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_metaformer_speed_benchmark_smoke(tmp_path):
    """The blocks and the five presets against the NCHW reference: the reference computes the same function
    (checked inside before timing) and the JSON holds every row."""
    import pytest

    pytest.importorskip("forwardkit_metaformer_baselines")
    module = _benchmark("metaformer_speed")
    result = module.main(["--smoke", "--out", str(tmp_path / "m.json")])
    assert (tmp_path / "m.json").is_file() and result["worst_ratio"] > 0
    assert {r["block"] for r in result["blocks"]} == set(module.BLOCKS)
    assert [r["preset"].rsplit("_", 1)[0] for r in result["presets"]] == [p for p, _ in module.PRESETS]
    assert result["cpu"] and result["torch"] and result["settings"]["threads"] == [1]
    assert isinstance(result["slower_beyond_noise"], list) and all("paired_ratio" in r for r in result["blocks"])


def test_metaformer_speed_control_is_the_reference_against_itself(tmp_path):
    """``--control``: every block's reference timed against a copy of itself (an A/A noise floor), no presets."""
    import pytest

    pytest.importorskip("forwardkit_metaformer_baselines")
    module = _benchmark("metaformer_speed")
    result = module.main(["--smoke", "--control", "--blocks", "mlp", "pooling", "--out", str(tmp_path / "aa.json")])
    assert result["control"] and not result["presets"] and {r["block"] for r in result["blocks"]} == {"mlp", "pooling"}
    summary = result["control_summary"]
    assert summary["rows"] == len(result["blocks"]) and summary["min_ratio"] <= summary["max_ratio"]


def test_paired_ratio_flags_only_rows_slower_beyond_their_noise():
    """The per-row noise reading of the speed bar: a 10% slower block with 2% jitter is flagged, an identical one
    with the same jitter is not, and its interval covers 1.0."""
    import random

    module = _benchmark("metaformer_speed")
    rng = random.Random(0)
    ref = [1.0 + 0.02 * rng.random() for _ in range(15)]
    slow = module.paired_ratio([1.1 * t * (1 + 0.02 * rng.random()) for t in ref], ref)
    same = module.paired_ratio([t * (1 + 0.02 * (rng.random() - 0.5)) for t in ref], ref)
    assert slow["slower_beyond_noise"] and slow["paired_ratio_ci95"][0] > 1.0
    assert not same["slower_beyond_noise"] and same["paired_ratio_ci95"][0] <= 1.0 <= same["paired_ratio_ci95"][1]


def test_cpu_kernels_benchmark_smoke(tmp_path):
    result = _benchmark("cpu_kernels").main(["--smoke", "--out", str(tmp_path / "k.json")])
    pieces = {r["piece"] for r in result["rows"]}
    assert pieces == {"pointwise", "depthwise", "groupnorm1"} and (tmp_path / "k.json").is_file()


def test_builtin_bench_compare_smoke(tmp_path):
    """Before/after `forwardkit bench` of the builtin mixers, here with this checkout on both sides: every
    mixer, rank and size gets a ratio of two real timings."""
    root = Path(__file__).resolve().parents[1]
    result = _benchmark("builtin_bench_compare").main(
        ["--before", str(root), "--quick", "--rounds", "1", "--out", str(tmp_path / "b.json")])
    assert {r["name"] for r in result["rows"]} == {"attention", "identity", "mlp"}
    assert all(r["ratio_fwdbwd"] > 0 and r["before_fwd_ms"] > 0 for r in result["rows"])
    assert (tmp_path / "b.json").is_file() and result["torch"]


def test_list_timing_benchmark_smoke(tmp_path):
    result = _benchmark("list_timing").main(["--smoke", "--out", str(tmp_path / "l.json")])
    extra = result["with_light_plugins"]
    assert extra["plugins"] == result["installed"]["plugins"] + 4 and extra["best_s"] > 0
    assert (tmp_path / "l.json").is_file()


def test_every_example_satisfies_the_editor_schema():
    # what `forwardkit schema` gives editors must accept what forwardkit itself accepts (one spec for every
    # stage, nested specs), or the editor flags valid files
    jsonschema = pytest.importorskip("jsonschema")
    from forwardkit.config import experiment_json_schema

    validator = jsonschema.Draft202012Validator(experiment_json_schema())
    problems = {}
    for path in EXAMPLES:
        errors = sorted(validator.iter_errors(read_mapping(path)), key=lambda e: list(e.path))
        if errors:
            problems[path.name] = f"{list(errors[0].path)}: {errors[0].message[:200]}"
    assert not problems, problems
