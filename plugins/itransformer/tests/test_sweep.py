"""Smoke test of scripts/sweep.py's partial-variate mode (the card's "Extra" experiment)."""

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "sweep.py"


@pytest.fixture(scope="module")
def sweep():
    spec = importlib.util.spec_from_file_location("itransformer_sweep", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_partial_arms_differ_only_in_the_callback(sweep):
    arms = sweep.partial_experiments(seed=2)
    full, partial = arms["full"], arms["partial"]
    assert "callbacks" not in full and full["data"]["lookback"] == 96 and full["data"]["num_variates"] == 16
    assert partial["callbacks"] == [{"name": "partial_variate_training", "fraction": 0.2, "seed": 2}]
    assert {k: v for k, v in partial.items() if k not in ("callbacks", "name")} == \
        {k: v for k, v in full.items() if k != "name"}


def test_partial_mode_smoke(sweep, tmp_path, capsys):
    out = tmp_path / "partial.json"
    sweep.cli(["partial", "--smoke", "--out", str(out)])
    results = json.loads(out.read_text())
    assert results["setup"]["smoke"] and results["setup"]["seeds"] == [0, 1]
    for arm in ("full", "partial"):
        cell = results["cells"][arm]
        assert len(cell["test/mse"]["values"]) == 2 and cell["train_s_per_epoch"]["mean"] > 0
    ratio = results["cells"]["partial"]["test/mse"]["mean"] / results["cells"]["full"]["test/mse"]["mean"]
    assert results["mse_ratio_partial_over_full"] == pytest.approx(ratio)
    assert "partial/full test MSE" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        sweep.cli(["lookback", "--smoke"])
