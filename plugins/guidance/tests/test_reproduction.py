"""The reproduction spec carries the card's whole pass bar; its conditions decide as the card says; the smoke runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from forwardkit_guidance.reproduction import FCN, SPEC

from forwardkit.config import validate_experiment
from forwardkit.reproduce.conditions import DOES_NOT_REPRODUCE, INCONCLUSIVE, REPRODUCES
from forwardkit.testing import judge_spec, smoke_reproduction


def test_the_spec_transcribes_the_cards_pass_bar():
    assert SPEC.pass_bar == (
        "Pass bar: untrained-CNN guidance improves mean test accuracy by >= 1 point over the plain FCN across 3 "
        "seeds. \"Does not reproduce at this scale\": no gain, or the FCN-guide control gains as much as the CNN "
        "guide.")
    assert SPEC.seeds == [0, 1, 2] and SPEC.metric == "test/accuracy" and SPEC.direction == "higher"
    main, control = SPEC.conditions
    assert (main.method, main.baseline, main.test, main.min_effect, main.fail_below) == \
        ("fcn_cnn_untrained", "fcn", "superiority", 0.01, 0.0)
    assert (control.method, control.baseline, control.test, control.min_effect) == \
        ("fcn_cnn_untrained", "fcn_fcn_guide", "superiority", 0.0)


def test_the_card_budget_and_the_arms_differ_in_one_thing():
    base = SPEC.experiment("fcn", 0)
    assert base["trainer"]["epochs"] == 30 and base["trainer"]["batch_size"] == 64
    assert base["data"] == {"name": "mnist5k", "val_fraction": 0.2, "test_fraction": 0.6, "seed": 0}
    assert base["learning_rule"] == {"name": "backprop", "optimizer": "adam", "lr": 1e-3}
    for arm in SPEC.arms:
        exp = SPEC.experiment(arm, 0)
        validate_experiment(exp)
        assert {k: v for k, v in exp.items() if k not in ("model", "learning_rule", "name")} == \
            {k: v for k, v in base.items() if k not in ("model", "learning_rule", "name")}
        rule = exp["learning_rule"]
        if arm == "cnn":
            assert exp["model"]["name"] == "guidance_cnn" and rule == base["learning_rule"]
            continue
        assert exp["model"] == FCN
        if arm != "fcn":
            assert rule["name"] == "guidance" and rule["rule"] == base["learning_rule"] and rule["alpha"] == 1.0
    untrained = SPEC.experiment("fcn_cnn_untrained", 0)["learning_rule"]
    assert untrained["guide"]["model"]["name"] == "guidance_cnn" and not untrained["guide"].get("trained")
    assert SPEC.experiment("fcn_cnn_trained", 0)["learning_rule"]["guide"]["trained"] is True
    assert SPEC.experiment("fcn_cnn_first300", 0)["learning_rule"]["stop_after_steps"] == 300
    assert SPEC.experiment("fcn_fcn_guide", 0)["learning_rule"]["guide"]["model"]["name"] == "mlp"


def _finals(fcn: float, guided: float, control: float) -> dict[str, list[dict[str, float]]]:
    noise = (-0.002, 0.0, 0.002)
    out = {arm: [{SPEC.metric: 0.85 + e} for e in noise] for arm in SPEC.arms}
    out["fcn"] = [{SPEC.metric: fcn + e} for e in noise]
    out["fcn_cnn_untrained"] = [{SPEC.metric: guided + e} for e in (0.001, 0.0, -0.001)]
    out["fcn_fcn_guide"] = [{SPEC.metric: control + e} for e in (0.0, 0.002, -0.002)]
    return out


@pytest.mark.parametrize(("fcn", "guided", "control", "outcome"), [
    (0.86, 0.90, 0.86, REPRODUCES),  # +4 points, the control gains nothing
    (0.86, 0.90, 0.87, REPRODUCES),  # the control gains less
    (0.86, 0.863, 0.86, INCONCLUSIVE),  # a gain, but clearly under 1 point: neither the bar nor "no gain"
    (0.86, 0.85, 0.85, DOES_NOT_REPRODUCE),  # no gain
    (0.86, 0.90, 0.92, DOES_NOT_REPRODUCE),  # the FCN-guide control gains as much (more)
    (0.86, 0.90, 0.90, INCONCLUSIVE),  # the control gains as much: the interval straddles 0
])
def test_the_conditions_decide_as_the_card_says(fcn, guided, control, outcome):
    verdict = judge_spec(SPEC, _finals(fcn, guided, control))
    assert verdict.outcome == outcome


def test_smoke_reproduction_runs_every_arm(tmp_path: Path):
    results = smoke_reproduction("guidance", tmp_path)
    finals = results["arms"]["fcn_cnn_untrained"]["final"][0]
    assert "test/accuracy" in finals and "analysis/linear_cka/mapped_mean" in finals
