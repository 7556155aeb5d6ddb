"""The reproduction spec carries the card's whole pass bar; its conditions decide as the card says; the smoke runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from forwardkit_model_free_ff.reproduction import SPEC

from forwardkit.reproduce.conditions import DOES_NOT_REPRODUCE, INCONCLUSIVE, REPRODUCES, Compare
from forwardkit.testing import judge_spec, smoke_reproduction


def test_the_spec_transcribes_the_cards_pass_bar():
    assert ("Pass bar: FF >= readout-only + 2 points and within 8 points of InSilicoBP. \"Does not reproduce at "
            "this scale\": FF not better than the random-feature readout.") in SPEC.pass_bar
    assert SPEC.metric == "test/accuracy" and SPEC.direction == "higher" and SPEC.seeds == [0, 1, 2, 3, 4]
    readout, bp = SPEC.conditions
    assert isinstance(readout, Compare) and (readout.method, readout.baseline) == ("model_free_ff", "readout_only")
    assert readout.test == "superiority" and readout.min_effect == 0.02 and readout.fail_below == 0.0
    assert isinstance(bp, Compare) and (bp.method, bp.baseline) == ("model_free_ff", "insilico_bp")
    assert bp.test == "non_inferiority" and bp.margin == 0.08
    assert set(SPEC.used_arms()) == {"model_free_ff", "readout_only", "insilico_bp"}


def test_the_pnn_arms_differ_only_in_the_rule_and_share_the_budget():
    ff = SPEC.experiment("model_free_ff", 0)
    assert ff["trainer"]["epochs"] == 150 and ff["trainer"]["batch_size"] >= 1438  # full batch
    assert ff["learning_rule"] == {"name": "model_free_ff", "alpha": 4.0, "inner_steps": 10, "lr": 5e-4}
    assert ff["model"]["physics"] == {"name": "simulated_optical", "out_dim": 128, "kind": "amplitude",
                                      "noise_std": 0.01}
    for arm in ("insilico_bp", "pat"):
        exp = SPEC.experiment(arm, 0)
        assert {k: v for k, v in exp.items() if k not in ("learning_rule", "name")} == \
            {k: v for k, v in ff.items() if k not in ("learning_rule", "name")}
        assert exp["learning_rule"]["inner_steps"] == 10 and exp["learning_rule"]["lr"] == 5e-4
    readout = SPEC.experiment("readout_only", 0)
    assert readout["trainer"]["epochs"] == 1500 and readout["model"]["physics"] == ff["model"]["physics"]
    for arm, main in (("model_free_ff_drift", "model_free_ff"), ("pat_drift", "pat")):
        exp, ref = SPEC.experiment(arm, 0), SPEC.experiment(main, 0)
        assert exp["callbacks"] == [{"name": "physics_drift", "at_epoch": 125, "strength": 0.3}]
        assert {k: v for k, v in exp.items() if k not in ("callbacks", "name")} == \
            {k: v for k, v in ref.items() if k not in ("callbacks", "name")}


def _finals(ff_gain: float, bp_gap: float) -> dict[str, list[dict[str, float]]]:
    """Per-seed finals: readout at 0.90 +- 0.004, FF ``ff_gain`` above it, InSilicoBP ``bp_gap`` above FF."""
    noise = (-0.004, 0.002, 0.0, 0.004, -0.002)
    readout = [0.90 + e for e in noise]
    ff = [r + ff_gain + e / 2 for r, e in zip(readout, noise[::-1], strict=True)]
    bp = [f + bp_gap + e / 2 for f, e in zip(ff, noise, strict=True)]
    return {"readout_only": [{SPEC.metric: v} for v in readout], "model_free_ff": [{SPEC.metric: v} for v in ff],
            "insilico_bp": [{SPEC.metric: v} for v in bp]}


@pytest.mark.parametrize(("ff_gain", "bp_gap", "outcome"), [
    (0.04, 0.03, REPRODUCES),           # FF 4 points above the readout, 3 below BP
    (0.04, -0.01, REPRODUCES),          # FF better than BP: within 8 points too
    (0.01, 0.03, INCONCLUSIVE),         # better than the readout, but not by 2 points
    (0.04, 0.15, INCONCLUSIVE),         # 15 points below BP: the pass bar fails, the card names no failure there
    (-0.01, 0.03, DOES_NOT_REPRODUCE),  # FF not better than the random-feature readout
    (-0.03, 0.0, DOES_NOT_REPRODUCE),
])
def test_the_conditions_decide_as_the_card_says(ff_gain, bp_gap, outcome):
    verdict = judge_spec(SPEC, _finals(ff_gain, bp_gap))
    assert verdict.outcome == outcome


def test_smoke_reproduction_runs_every_arm(tmp_path: Path):
    results = smoke_reproduction("model-free-ff", tmp_path)
    assert all("test/accuracy" in arm["final"][0] for arm in results["arms"].values())
