"""The reproduction spec transcribes the card's pass bar (its conditions decide as the card says on synthetic
finals), every arm is the same multi-stage recipe but its new member and rule, and the smoke reproduction runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from forwardkit_bt2.reproduction import ARMS, SPEC, stages_experiment

import forwardkit
from forwardkit.config.stages import validate_stages
from forwardkit.reproduce.conditions import DOES_NOT_REPRODUCE, INCONCLUSIVE, REPRODUCES
from forwardkit.reproduce.spec import load_spec
from forwardkit.testing import judge_spec, smoke_reproduction


def test_the_spec_carries_the_cards_pass_bar_word_for_word():
    spec = load_spec(forwardkit.get_registry().reproductions["bt2"])
    assert spec.fingerprint() == SPEC.fingerprint()
    assert "Pass bar: the first two hold on average over 3 seeds." in SPEC.pass_bar
    assert "\"Does not reproduce\": BT^2 new/new is not better than BCT by more than the seed std" in SPEC.pass_bar
    assert SPEC.seeds == [0, 1, 2]
    assert [c.kind for c in SPEC.conditions] == ["threshold", "compare", "std_rule"]
    assert set(SPEC.used_arms()) == {"bt2", "independent", "bct"}


def test_every_arm_is_the_same_recipe_but_its_new_member_and_rule():
    exps = {arm: stages_experiment(ARMS[arm]["config"], seed=0) for arm in ARMS}
    for exp in exps.values():
        validate_stages(exp)
        validate_stages(stages_experiment(ARMS["bt2"]["config"], seed=0, smoke=True))
    base = exps["bct"]
    for arm, exp in exps.items():
        assert exp["stages"][0] == base["stages"][0], arm  # the same old stage
        assert exp["base"]["trainer"] == base["base"]["trainer"] and exp["base"]["data"] == base["base"]["data"]
        assert exp["base"]["model"]["members"]["old"] == base["base"]["model"]["members"]["old"]
    assert [s["name"] for s in exps["bt2"]["stages"]] == ["old", "indep", "new"]
    assert exps["bt2"]["base"]["model"]["members"]["indep"] == exps["independent"]["base"]["model"]["members"]["new"]
    assert exps["bt2"]["stages"][-1]["learning_rule"]["name"] == "bt2_rule"
    assert base["base"]["trainer"]["epochs"] == 5 and base["base"]["trainer"]["batch_size"] == 128


def _finals(bt2_no: list[float], oo: list[float], bt2_nn: list[float], ind_nn: list[float],
            bct_nn: list[float]) -> dict[str, Any]:
    return {
        "bt2": [{"top1/new_old": a, "top1/old_old": b, "top1/new_new": c}
                for a, b, c in zip(bt2_no, oo, bt2_nn, strict=True)],
        "independent": [{"top1/new_new": c, "top1/old_old": b} for c, b in zip(ind_nn, oo, strict=True)],
        "bct": [{"top1/new_new": c} for c in bct_nn],
        "naive_extra_dims": [{"top1/new_new": c} for c in bct_nn],
    }


@pytest.mark.parametrize(("finals", "outcome"), [
    # compatible above old/old, new/new equal to the independent model, BCT clearly lower: reproduces
    (([0.55, 0.56, 0.57], [0.50, 0.50, 0.51], [0.95, 0.95, 0.96], [0.95, 0.955, 0.955], [0.90, 0.91, 0.90]),
     REPRODUCES),
    # new/old clearly below old/old: does not reproduce
    (([0.40, 0.41, 0.42], [0.50, 0.50, 0.51], [0.95, 0.95, 0.96], [0.95, 0.955, 0.955], [0.90, 0.91, 0.90]),
     DOES_NOT_REPRODUCE),
    # BT^2 new/new no better than BCT by more than the std: the card's 'does not reproduce'
    (([0.55, 0.56, 0.57], [0.50, 0.50, 0.51], [0.95, 0.95, 0.96], [0.95, 0.955, 0.955], [0.95, 0.96, 0.955]),
     DOES_NOT_REPRODUCE),
    # new/old straddling old/old: inconclusive
    (([0.45, 0.56, 0.52], [0.50, 0.50, 0.51], [0.95, 0.95, 0.96], [0.95, 0.955, 0.955], [0.90, 0.91, 0.90]),
     INCONCLUSIVE),
    # BT^2 new/new 5 points below the independent model: does not reproduce
    (([0.55, 0.56, 0.57], [0.50, 0.50, 0.51], [0.80, 0.81, 0.80], [0.95, 0.955, 0.955], [0.70, 0.71, 0.70]),
     DOES_NOT_REPRODUCE),
])
def test_the_conditions_decide_as_the_card_says(finals, outcome):
    assert judge_spec(SPEC, _finals(*finals)).outcome == outcome


def test_smoke_reproduction_runs_every_arm(tmp_path: Path):
    results = smoke_reproduction("bt2", tmp_path)
    for arm in results["arms"].values():
        final = arm["final"][0]
        assert {"top1/new_old", "top1/old_old", "top1/new_new", "map/new_old"} <= set(final)
