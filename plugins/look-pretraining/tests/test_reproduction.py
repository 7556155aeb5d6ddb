"""The reproduction spec transcribes the card's pass bar (its conditions decide as the card says on synthetic finals),
the arms differ only in the pre-training, the smoke reproduction runs, and the example multi-stage experiment is the
LOOK arm and validates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from forwardkit_look_pretraining.programs import arm_experiment
from forwardkit_look_pretraining.recipe import pretrain_probe_experiment
from forwardkit_look_pretraining.reproduction import METRIC, SPEC, UPSTREAM

import forwardkit
from forwardkit.config.files import load_yaml
from forwardkit.config.stages import validate_stages
from forwardkit.reproduce.conditions import DOES_NOT_REPRODUCE, INCONCLUSIVE, REPRODUCES
from forwardkit.reproduce.spec import load_spec
from forwardkit.testing import judge_spec, smoke_reproduction

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "look-pretraining-parity-probe.yaml"


def test_the_spec_carries_the_cards_pass_bar_word_for_word():
    spec = load_spec(forwardkit.get_registry().reproductions["look-pretraining"])
    assert spec.fingerprint() == SPEC.fingerprint()
    bar = "Pass bar: LOOK beats CE by more than 2 std of the seed spread on the 10-way probe."
    assert SPEC.pass_bar.startswith(bar)
    assert "gap within noise, or LOOK loses upstream accuracy by more than 1 point" in SPEC.pass_bar
    assert SPEC.seeds == [0, 1, 2] and set(SPEC.used_arms()) == {"look", "ce"}


def test_the_arms_differ_in_the_pretraining_only():
    look, ce = arm_experiment({"pretrain": "look"}, seed=1), arm_experiment({"pretrain": "ce"}, seed=1)
    assert look["stages"] == ce["stages"]
    assert {k: v for k, v in look["base"].items() if k != "learning_rule"} == \
        {k: v for k, v in ce["base"].items() if k != "learning_rule"}
    assert look["base"]["learning_rule"]["name"] == "look_loss" and ce["base"]["learning_rule"]["name"] == "ce_baseline"
    assert look["stages"][1]["data"]["subset_seed"] == 1  # the seed draws the probe's 50 images per digit
    assert pretrain_probe_experiment(pretrain="none")["base"]["trainer"]["epochs"] == 0


def _finals(look: list[float], ce: list[float], up_look: list[float], up_ce: list[float]) -> dict[str, Any]:
    return {"look": [{METRIC: a, UPSTREAM: b} for a, b in zip(look, up_look, strict=True)],
            "ce": [{METRIC: a, UPSTREAM: b} for a, b in zip(ce, up_ce, strict=True)]}


@pytest.mark.parametrize(("look", "ce", "up_look", "up_ce", "outcome"), [
    ([0.90, 0.91, 0.905], [0.85, 0.84, 0.845], [0.99, 0.991, 0.989], [0.99, 0.99, 0.99], REPRODUCES),
    ([0.86, 0.84, 0.85], [0.85, 0.84, 0.845], [0.99, 0.991, 0.989], [0.99, 0.99, 0.99], DOES_NOT_REPRODUCE),
    ([0.90, 0.91, 0.905], [0.85, 0.84, 0.845], [0.95, 0.951, 0.949], [0.99, 0.99, 0.99], DOES_NOT_REPRODUCE),
    ([0.90, 0.91, 0.905], [0.85, 0.84, 0.845], [0.96, 0.99, 0.98], [0.99, 0.985, 0.99], INCONCLUSIVE),
])
def test_the_conditions_decide_as_the_card_says(look, ce, up_look, up_ce, outcome):
    assert judge_spec(SPEC, _finals(look, ce, up_look, up_ce)).outcome == outcome


def test_smoke_reproduction_runs_every_arm(tmp_path: Path):
    results = smoke_reproduction("look-pretraining", tmp_path, seeds=1)
    for arm in results["arms"].values():
        final = arm["final"][0]
        assert {METRIC, UPSTREAM, "probe/analysis/intra_class_modes/subclass_purity"} <= set(final)


def test_the_example_is_the_look_arm_and_validates():
    data = load_yaml(EXAMPLE.read_text())
    exp = pretrain_probe_experiment(pretrain="look", seed=0)
    assert {k: v for k, v in data.items() if k != "name"} == {k: v for k, v in exp.items() if k != "name"}
    spec, experiments = validate_stages(data)
    assert [s.name for s in spec.stages] == ["pretrain", "probe"] and len(experiments) == 2
    assert experiments[1].analyzers[0].name == "intra_class_modes"
