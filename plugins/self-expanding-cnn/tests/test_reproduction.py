"""The reproduction spec carries the card's whole pass bar; its conditions decide as the card says (synthetic
finals through ``judge``); the smoke reproduction, the cost script's smoke and the example experiment run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from forwardkit_self_expanding_cnn.reproduction import SPEC

import forwardkit
from forwardkit.cli.main import cli
from forwardkit.reproduce.conditions import DOES_NOT_REPRODUCE, INCONCLUSIVE, REPRODUCES
from forwardkit.testing import judge_spec, load_script, smoke_reproduction

ROOT = Path(__file__).resolve().parents[3]
CARD_BAR = ("grown beats initial by >= 2 points on MNIST with fewer params than the fixed large baseline and no "
            "post-expansion dip > 1 point")


def test_the_spec_transcribes_the_cards_pass_bar_and_budget() -> None:
    assert CARD_BAR in SPEC.pass_bar
    assert "the score never crosses tau (no growth) for any seed, or score-guided growth is not better than " \
        "random growth" in SPEC.pass_bar
    assert SPEC.seeds == [0, 1, 2] and SPEC.metric == "test/accuracy"
    kinds = [(c.kind, getattr(c, "method", None), getattr(c, "baseline", None)) for c in SPEC.conditions]
    assert kinds == [("compare", "grown", "initial"), ("seed_count", None, None), ("seed_count", None, None),
                     ("seed_count", None, None), ("compare", "grown", "random")]
    assert SPEC.conditions[0].min_effect == 0.02 and SPEC.conditions[2].right == 0.01
    for arm in SPEC.arms:  # the card's budget, the same for every arm
        _, config = SPEC.program_config(arm)
        exp = config["experiment"]
        assert exp["trainer"]["epochs"] == 30 and exp["trainer"]["batch_size"] == 128
        assert exp["learning_rule"]["lr"] == 2e-3 and exp["model"]["channels"] == [1, 4, 4, 4]
    overrides = {arm: SPEC.program_config(arm)[1]["overrides"] for arm in SPEC.arms}
    assert overrides["no_preserve"] == {"model": {"preserve_function": False}}
    assert overrides["fixed_large"] == {"model": {"channels": [1, 16, 16, 16]}}
    assert all(not overrides[a] for a in ("initial", "grown", "random", "fixed_final"))


def _finals(*, gain: float = 0.03, params: float = 9000, dip: float = 0.0, expansions: float = 3,
            over_random: float = 0.01) -> dict[str, list[dict[str, float]]]:
    noise = (-0.002, 0.0, 0.002)
    initial = [{"test/accuracy": 0.90 + e, "params": 8000.0} for e in noise]
    grown = [{"test/accuracy": 0.90 + gain + e, "params": params, "max_dip": dip, "expansions": expansions}
             for e in noise]
    random = [{"test/accuracy": 0.90 + gain - over_random + e} for e in (0.001, 0.0, -0.001)]
    return {"initial": initial, "grown": grown, "random": random, "fixed_large": [{"params": 13000.0}] * 3,
            "no_preserve": initial, "fixed_final": initial}


@pytest.mark.parametrize(("finals", "outcome"), [
    (_finals(), REPRODUCES),
    (_finals(gain=0.005, over_random=0.0), DOES_NOT_REPRODUCE),  # under the 2 points, not better than random
    (_finals(params=14000), DOES_NOT_REPRODUCE),  # more parameters than the fixed large baseline
    (_finals(dip=0.02), DOES_NOT_REPRODUCE),  # a dip above one point
    (_finals(expansions=0), DOES_NOT_REPRODUCE),  # the score never crossed tau
    (_finals(over_random=-0.02), DOES_NOT_REPRODUCE),  # random growth is better
    (_finals(over_random=0.0), INCONCLUSIVE),  # no measurable difference from random growth
])
def test_the_conditions_decide_as_the_card_says(finals: dict[str, Any], outcome: str) -> None:
    verdict = judge_spec(SPEC, finals)
    assert verdict.outcome == outcome


def test_smoke_reproduction_runs_every_arm(tmp_path: Path) -> None:
    results = smoke_reproduction("self-expanding-cnn", tmp_path)
    assert all("params" in arm["final"][0] for arm in results["arms"].values())


def test_the_cost_script_smoke(tmp_path: Path) -> None:
    out = load_script(ROOT / "plugins" / "self-expanding-cnn" / "benchmarks" / "cost.py").main(
        ["--smoke", "--out", str(tmp_path / "cost.json")])
    assert json.loads((tmp_path / "cost.json").read_text())["smoke"] is True
    initial, grown = out["per_check"]
    assert grown["params"] > initial["params"] and initial["candidates"] == 6
    assert initial["check_over_epoch"] > 0 and initial["grow_over_epoch"] > 0
    assert out["per_run"]["grown_over_fixed_final"] > 0 and 0 < out["per_run"]["check_share_of_grown_run"] < 1


def test_the_example_validates_and_trains_on_a_tiny_budget() -> None:
    path = ROOT / "examples" / "self-expanding-cnn-mnist.yaml"
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    exp = yaml.safe_load(path.read_text())
    exp["data"] = {"name": "digits"}
    exp["callbacks"][0].update(subset_size=32, cooldown=0, tau=1.000001)
    exp["analyzers"][0]["subset_size"] = 16
    exp["trainer"] = {"epochs": 2, "batch_size": 128, "progress": "none", "plots": False}
    fit = forwardkit.run(exp, write=False, verbose=False)
    assert "analysis/natural_expansion_score/eta" in fit.final and fit.model.num_params() > 0
