"""Presets, the reproduction spec, the example, the bake-off and the speed benchmark's smoke mode."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import pytest
import torch

import forwardkit
from forwardkit.engine.bakeoff import BakeoffConfig, bakeoff_mixers
from forwardkit.reproduce.spec import load_spec

PLUGIN = Path(__file__).resolve().parents[1]
EXAMPLE = PLUGIN.parents[1] / "examples" / "adaptive-frequency-filter-mnist.yaml"
MIXERS = ["aff", "aff_static_mask", "global_filter"]


@pytest.mark.parametrize("preset,millions", [("affnet", 5.5), ("affnet_t", 2.6), ("affnet_et", 1.4)])
def test_preset_parameter_counts_match_the_official_readme(preset, millions):
    model = forwardkit.create("model", "affnet", preset=preset)
    n = sum(p.numel() for p in model.parameters()) / 1e6
    assert round(n, 1) == millions or abs(n - millions) < 0.1


def test_tiny_affnet_runs_on_images():
    model = forwardkit.create("model", "affnet", preset="tiny", num_classes=10).eval()
    assert model(torch.randn(2, 32, 32, 3)).shape == (2, 10)


def test_reproduction_spec_is_declared_and_valid():
    spec = load_spec(forwardkit.get_registry().reproductions["adaptive-frequency-filter"])
    assert spec.pass_bar.startswith("Expected: aff >= aff_static_mask") and len(spec.seeds) >= 3
    assert spec.used_arms() == ["aff", "aff_static_mask", "global_filter", "identity"]
    exp = forwardkit.config.validate_experiment(spec.experiment("aff", 0))
    assert exp.trainer.epochs == 10 and exp.trainer.batch_size == 128


def test_example_validates():
    exp = forwardkit.load_experiment(EXAMPLE)
    assert exp.model.name == "metaformer" and exp.model.config.token_mixers[0].name == "aff"


def test_mixers_join_the_bakeoff():
    # training them there (2 steps) costs ~9 s of the plugin's test budget; the reproduction trains all three
    assert set(MIXERS) <= set(bakeoff_mixers(BakeoffConfig(), forwardkit.get_registry()))


def test_speed_benchmark_smoke(tmp_path):
    out = tmp_path / "speed.json"
    argv = sys.argv
    sys.argv = ["speed.py", "--smoke", "--out", str(out)]
    threads = torch.get_num_threads()
    try:
        runpy.run_path(str(PLUGIN / "benchmarks" / "speed.py"), run_name="__main__")
    finally:
        sys.argv = argv
        torch.set_num_threads(threads)
    data = json.loads(out.read_text())
    assert data["mixer_status"]["aff"] == "ok" and "aff/batch1" in data["scaling_exponent"]
