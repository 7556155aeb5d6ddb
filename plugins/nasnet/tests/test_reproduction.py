"""The reproduction spec carries the card's pass bar and decides as the card says; the smoke run works."""

from __future__ import annotations

from pathlib import Path

import pytest
from forwardkit_nasnet.reproduction import SPEC

from forwardkit.config import validate_experiment
from forwardkit.reproduce.conditions import DOES_NOT_REPRODUCE, REPRODUCES, StdRule
from forwardkit.testing import judge_spec, smoke_reproduction


def test_the_spec_transcribes_the_cards_pass_bar():
    assert "Pass bar: NASNet-A >= median random cell by more than the seed std." in SPEC.pass_bar
    assert "Report honestly if NASNet-A is not better" in SPEC.pass_bar
    (cond,) = SPEC.conditions
    assert isinstance(cond, StdRule) and (cond.method, cond.baseline) == ("nasnet_a", "random_median")
    assert cond.test == "beats" and cond.k == 1.0 and cond.std == "pooled"
    assert SPEC.metric == "test/accuracy" and SPEC.direction == "higher" and len(SPEC.seeds) >= 3
    assert SPEC.used_arms() == ["nasnet_a", "random_median"]


def test_arms_differ_only_in_the_cells_and_the_drop_path_callback():
    configs = {arm: SPEC.program_config(arm)[1] for arm in SPEC.arms}
    base = configs["nasnet_a"]
    exp = base["experiment"]
    assert exp["trainer"]["epochs"] == 4 and exp["data"]["name"] == "mnist5k" and exp["data"]["test_fraction"] == 0.2
    assert exp["learning_rule"]["optimizer"] == "sgd" and exp["learning_rule"]["lr"] == 0.025
    assert exp["learning_rule"]["momentum"] == 0.9 and exp["learning_rule"]["schedule"] == "cosine"
    assert exp["model"]["filters"] == 8 and exp["model"]["num_cells"] == 6  # F = 8, N = 2
    assert base["search"]["dataset"] == "digits" and base["search"]["proxy_epochs"] == 2
    assert 10 <= base["search"]["budget_candidates"] <= 15
    assert {arm: c["cells"] for arm, c in configs.items()} == {"nasnet_a": "nasnet_a", "random_median": "median",
                                                                "random_best": "best", "nasnet_a_droppath": "nasnet_a"}
    for config in configs.values():
        rest = {k: v for k, v in config["experiment"].items() if k != "callbacks"}
        assert rest == exp and config["search"] == base["search"]
        validate_experiment(config["experiment"])
    assert configs["nasnet_a_droppath"]["experiment"]["callbacks"] == [
        {"name": "scheduled_drop_path", "keep_prob": 0.8, "layer_scaling": True}]


def _finals(nasnet: list[float], median: list[float]) -> dict[str, list[dict[str, float]]]:
    other = [{SPEC.metric: 0.9}] * 3
    return {"nasnet_a": [{SPEC.metric: v} for v in nasnet], "random_median": [{SPEC.metric: v} for v in median],
            "random_best": other, "nasnet_a_droppath": other}


@pytest.mark.parametrize(("nasnet", "median", "outcome"), [
    ([0.95, 0.96, 0.97], [0.90, 0.91, 0.92], REPRODUCES),        # 5 points better, std 0.01
    ([0.90, 0.92, 0.94], [0.90, 0.91, 0.92], DOES_NOT_REPRODUCE),  # 1 point better < pooled std 0.0158
    ([0.90, 0.91, 0.92], [0.90, 0.91, 0.92], DOES_NOT_REPRODUCE),  # equal
    ([0.85, 0.86, 0.87], [0.90, 0.91, 0.92], DOES_NOT_REPRODUCE),  # worse
])
def test_nasnet_a_must_beat_the_median_random_cell_by_more_than_the_seed_std(nasnet, median, outcome):
    verdict = judge_spec(SPEC, _finals(nasnet, median))
    assert verdict.outcome == outcome


def test_smoke_reproduction_runs_every_arm(tmp_path: Path):
    results = smoke_reproduction("nasnet", tmp_path)
    for arm in results["arms"].values():
        final = arm["final"][0]
        assert {"test/accuracy", "params", "macs", "proxy/rank"} <= set(final)
    rank = {name: arm["final"][0]["proxy/candidate_seed"] for name, arm in results["arms"].items()}
    assert rank["nasnet_a"] == rank["nasnet_a_droppath"] == -1 and rank["random_best"] >= 0
