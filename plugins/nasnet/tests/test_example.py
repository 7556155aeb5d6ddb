"""The shipped example (examples/nasnet-mnist.yaml) validates and runs on a tiny budget."""

from __future__ import annotations

from pathlib import Path

from forwardkit_nasnet.network import NasNetNetwork

import forwardkit
from forwardkit.config import read_mapping, validate_experiment
from forwardkit.engine import FitResult

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "nasnet-mnist.yaml"


def test_the_example_runs_on_a_tiny_budget():
    data = read_mapping(EXAMPLE)
    validate_experiment(data)
    assert data["model"]["name"] == "nasnet_network" and data["callbacks"][0]["name"] == "scheduled_drop_path"
    data["data"]["test_fraction"] = 0.02
    data["model"].update({"num_cells": 3, "filters": 4})
    data["trainer"].update({"max_steps": 2, "epochs": 1, "progress": "none", "plots": False})
    result = forwardkit.run(data, write=False, verbose=False)
    assert isinstance(result, FitResult) and isinstance(result.model, NasNetNetwork)
    assert result.steps == 2 and 0.0 <= result.final["test/accuracy"] <= 1.0
    assert result.model.config.image_size == [28, 28]
