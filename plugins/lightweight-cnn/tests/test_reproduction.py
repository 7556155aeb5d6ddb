"""The reproduction spec carries the card's whole pass bar and its conditions decide as the card says (synthetic
finals through ``judge``); the arms differ in one thing each; the smoke reproduction runs every arm."""

from __future__ import annotations

from pathlib import Path

import pytest
from forwardkit_lightweight_cnn.programs import arm_experiment
from forwardkit_lightweight_cnn.reproduction import SPEC

from forwardkit.reproduce.conditions import DOES_NOT_REPRODUCE, REPRODUCES, Equal, StdRule
from forwardkit.testing import judge_spec, smoke_reproduction

CARD_BAR = ("Pass bar: full method >= max(a, d) - std and param count exactly as configured. \"Does not reproduce at "
            "this scale\": method below (b) by > 2 std - plausible, since the recipe's benefit over plain "
            "augmentation is the paper's unreplicated claim; report it.")
UNIFIED = ("full", "a_scratch", "b_scratch_augmented", "d_unfreeze_all")


def test_the_spec_is_the_cards_pass_bar_word_for_word():
    assert SPEC.pass_bar == CARD_BAR
    assert SPEC.seeds == [0, 1, 2] and SPEC.metric == "test/accuracy" and SPEC.direction == "higher"
    std_rules = [c for c in SPEC.conditions if isinstance(c, StdRule)]
    assert [(c.method, c.baseline, c.test, c.k, c.std) for c in std_rules] == [
        ("full", "a_scratch", "not_worse", 1.0, "pooled"), ("full", "d_unfreeze_all", "not_worse", 1.0, "pooled"),
        ("full", "b_scratch_augmented", "not_worse", 2.0, "pooled")]
    equal = {c.left.arm: c.right for c in SPEC.conditions if isinstance(c, Equal)}
    assert equal == {**dict.fromkeys(UNIFIED, 15_130.0), "c_single_branch": 4_978.0}
    assert all(c.left.metric == "params" for c in SPEC.conditions if isinstance(c, Equal))
    assert set(SPEC.used_arms()) == set(SPEC.arms)


def _finals(full, a, d, b, c=0.9, spread=0.004, params=None):
    """Per-seed finals: each arm's mean with a spread of +-``spread``; ``params`` overrides an arm's count."""
    counts = {**dict.fromkeys(UNIFIED, 15_130), "c_single_branch": 4_978, **(params or {})}
    means = {"full": full, "a_scratch": a, "d_unfreeze_all": d, "b_scratch_augmented": b, "c_single_branch": c}
    return {arm: [{"test/accuracy": m + e, "params": float(counts[arm])} for e in (-spread, 0.0, spread)]
            for arm, m in means.items()}


def _verdict(finals):
    return judge_spec(SPEC, finals)


@pytest.mark.parametrize(("finals", "outcome"), [
    (_finals(0.97, 0.96, 0.965, 0.97), REPRODUCES),                    # above max(a, d)
    (_finals(0.96, 0.963, 0.962, 0.96), REPRODUCES),                   # below max(a, d) by less than one std
    (_finals(0.95, 0.97, 0.95, 0.95), DOES_NOT_REPRODUCE),             # below (a) by more than one std
    (_finals(0.95, 0.95, 0.97, 0.95), DOES_NOT_REPRODUCE),             # below (d) by more than one std
    (_finals(0.97, 0.96, 0.96, 0.985), DOES_NOT_REPRODUCE),            # below (b) by more than 2 std
    (_finals(0.97, 0.96, 0.96, 0.976), REPRODUCES),                    # below (b) by less than 2 std
    (_finals(0.97, 0.96, 0.96, 0.97, params={"full": 15_131}), DOES_NOT_REPRODUCE),       # not as configured
    (_finals(0.97, 0.96, 0.96, 0.97, params={"c_single_branch": 4_728}), DOES_NOT_REPRODUCE),
])
def test_conditions_decide_as_the_card_says(finals, outcome):
    assert _verdict(finals).outcome == outcome


def test_arms_differ_in_one_thing():
    full = arm_experiment(SPEC.program_config("full")[1], seed=0)
    d = arm_experiment(SPEC.program_config("d_unfreeze_all")[1], seed=0)
    assert [s["name"] for s in full["stages"]] == ["dual", "head", "unfreeze"]
    assert full["stages"][2].pop("callbacks")[0]["name"] == "progressive_unfreezing"
    assert full == d  # (d) is the full method without progressive unfreezing
    epochs = sum(s["trainer"]["epochs"] for s in full["stages"])
    assert epochs == 8 + 2 + 3 * 2
    a = arm_experiment(SPEC.program_config("a_scratch")[1], seed=0)
    b = arm_experiment(SPEC.program_config("b_scratch_augmented")[1], seed=0)
    c = arm_experiment(SPEC.program_config("c_single_branch")[1], seed=0)
    assert b["stages"][0].pop("callbacks")[0]["name"] == "lightweight_augment" and a == b
    assert a["stages"][0]["trainer"]["epochs"] == epochs and a["stages"][0]["model"]["name"] == "unified_model"
    assert c["stages"][0]["model"]["name"] == "tiny_branch_cnn"
    assert {k: v for k, v in c["stages"][0]["model"].items() if k not in ("name", "head_hidden")} == \
        {k: v for k, v in a["stages"][0]["model"].items() if k not in ("name", "head_hidden")}
    assert full["base"] == a["base"] and full["base"]["data"]["name"] == "mnist5k"


def test_smoke_reproduction_runs_every_arm(tmp_path: Path):
    results = smoke_reproduction("lightweight-cnn", tmp_path)
    finals = {arm: v["final"][0] for arm, v in results["arms"].items()}
    assert finals["full"]["params"] == finals["full"]["params_configured"] == 15_130
    assert finals["c_single_branch"]["params"] == 4_978
    assert {"dual/test/accuracy", "head/test/accuracy", "unfreeze/test/accuracy"} <= set(finals["full"])
    assert finals["full"]["raw_bytes"] == 4 * 15_130 and finals["full"]["latency_ms"] > 0
