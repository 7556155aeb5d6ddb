"""The reproduction spec transcribes the card's pass bar (its conditions decide as the card says on synthetic finals),
the arms differ only in their stage table (and (b) in its step budget), the smoke reproduction runs, and the
example experiment validates and trains on a tiny budget."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from forwardkit_efficienttrain.reproduction import EQUAL_COMPUTE_STEPS, LEDGER, METRIC, SPEC

import forwardkit
from forwardkit.config import load_experiment, validate_experiment
from forwardkit.reproduce.conditions import DOES_NOT_REPRODUCE, INCONCLUSIVE, REPRODUCES
from forwardkit.reproduce.spec import load_spec
from forwardkit.testing import judge_spec, smoke_reproduction

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "efficienttrain-mnist.yaml"
EQUIV = f"{LEDGER}/full_res_equivalent_samples"


def test_the_spec_carries_the_cards_pass_bar_word_for_word():
    spec = load_spec(forwardkit.get_registry().reproductions["efficienttrain"])
    assert spec.fingerprint() == SPEC.fingerprint()
    assert SPEC.pass_bar.startswith("Pass bar: |acc(ET) - acc(a)| <= max(0.5, 2 x std) and acc(ET) >= acc(b) - std.")
    assert "\"Does not reproduce at this scale\": ET clearly below (a)" in SPEC.pass_bar
    assert SPEC.seeds == [0, 1, 2] and SPEC.metric == METRIC and SPEC.direction == "higher"
    assert [c.kind for c in SPEC.conditions] == ["any", "any", "any", "equal"]
    assert set(SPEC.used_arms()) == {"efficienttrain", "baseline_full", "baseline_equal_compute"}


def test_every_arm_is_the_same_recipe_but_its_stage_table():
    exps = {arm: SPEC.experiment(arm, 0) for arm in SPEC.arms}
    base = exps["efficienttrain"]
    for arm, exp in exps.items():
        validate_experiment(exp)
        validate_experiment(SPEC.experiment(arm, 0, smoke=True))
        differs = sorted(k for k in exp if k != "name" and exp[k] != base[k])
        assert differs == (["callbacks", "trainer"] if arm == "baseline_equal_compute" else
                           [] if arm == "efficienttrain" else ["callbacks"]), arm
    assert exps["baseline_equal_compute"]["trainer"] == {**base["trainer"], "max_steps": EQUAL_COMPUTE_STEPS}
    assert exps["baseline_equal_compute"]["callbacks"] == exps["baseline_full"]["callbacks"]
    assert EQUAL_COMPUTE_STEPS == 6.5 * 32 and base["trainer"]["epochs"] == 10 and base["trainer"]["batch_size"] == 128
    assert base["callbacks"] == [{"name": "efficienttrain_curriculum"}]  # the default v1 table


def _finals(et: list[float], a: list[float], b: list[float], ratio: float = 0.653061) -> dict[str, Any]:
    full = 40_000.0
    return {
        "efficienttrain": [{METRIC: x, EQUIV: ratio * full} for x in et],
        "baseline_full": [{METRIC: x, EQUIV: full} for x in a],
        "baseline_equal_compute": [{METRIC: x, EQUIV: 26_048.0} for x in b],
    }


@pytest.mark.parametrize(("et", "a", "b", "ratio", "outcome"), [
    # ET equal to (a) within 0.2 points, above (b): reproduces
    ([0.975, 0.972, 0.978], [0.976, 0.974, 0.977], [0.968, 0.965, 0.970], 0.653061, REPRODUCES),
    # 3 points below (a) on every seed, tightly: clearly below (a), does not reproduce
    ([0.960, 0.962, 0.958], [0.990, 0.991, 0.989], [0.95, 0.95, 0.95], 0.653061, DOES_NOT_REPRODUCE),
    # noisy seeds, 1 point below (a) on average but within 2 std: the std rule holds
    ([0.95, 0.98, 0.96], [0.98, 0.96, 0.98], [0.94, 0.95, 0.94], 0.653061, REPRODUCES),
    # ET clearly above (a) (by more than 2 std and 0.5 points): the card's |.| fails, but not 'does not reproduce'
    ([0.980, 0.981, 0.979], [0.960, 0.961, 0.959], [0.95, 0.95, 0.95], 0.653061, INCONCLUSIVE),
    # ET equal to (a) but below (b) by more than one std: inconclusive (not in the failure sentence)
    ([0.970, 0.971, 0.969], [0.970, 0.971, 0.969], [0.980, 0.981, 0.979], 0.653061, INCONCLUSIVE),
    # the curriculum did not save the compute it claims: the compute condition fails
    ([0.975, 0.972, 0.978], [0.976, 0.974, 0.977], [0.968, 0.965, 0.970], 1.0, DOES_NOT_REPRODUCE),
])
def test_the_conditions_decide_as_the_card_says(et, a, b, ratio, outcome):
    assert judge_spec(SPEC, _finals(et, a, b, ratio)).outcome == outcome


def test_a_half_point_margin_holds_when_the_interval_is_tight():
    """0.2 points below (a) with tiny seed spread: more than 2 std below, but the 0.5-point bar holds."""
    verdict = judge_spec(SPEC, _finals([0.9700, 0.9702, 0.9698], [0.9720, 0.9721, 0.9719], [0.96] * 3))
    first = verdict.conditions[0]
    assert first["outcome"] == REPRODUCES
    assert [p["outcome"] for p in first["details"]["parts"]] == [DOES_NOT_REPRODUCE, REPRODUCES]


def test_smoke_reproduction_runs_every_arm(tmp_path: Path):
    results = smoke_reproduction("efficienttrain", tmp_path)
    for arm in results["arms"].values():
        final = arm["final"][0]
        assert {METRIC, EQUIV, f"{LEDGER}/relative_flops", f"{LEDGER}/relative_macs"} <= set(final)
        assert final["steps"] == 3


def test_the_example_experiment_validates_and_trains_on_a_tiny_budget():
    exp = load_experiment(EXAMPLE)
    assert exp.callbacks[0].name == "efficienttrain_curriculum"
    tiny = exp.to_dict()
    tiny["model"].update(widths=[4, 4, 8, 8, 8])
    tiny["trainer"].update(max_steps=3, batch_size=32, progress="none", plots=False)
    result = forwardkit.Trainer(tiny, write=False, verbose=False).fit()
    assert result.steps == 3 and 0.0 <= result.final[METRIC] <= 1.0
    assert result.final[f"{LEDGER}/relative_flops"] == pytest.approx((20 / 28) ** 2)  # 3 steps of stage 1
