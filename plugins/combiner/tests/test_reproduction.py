"""The reproduction spec carries the card's whole pass bar; its conditions decide as the card says; the smoke runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from forwardkit_combiner.reproduction import PAIRS, SPEC

from forwardkit.reproduce.conditions import REPRODUCES, AnyOf, StdRule
from forwardkit.testing import judge_spec, smoke_reproduction


def test_the_spec_transcribes_the_cards_pass_bar():
    assert "Combiner-X lower than X in >=2 of the pairs with mean gap larger than the pooled std" in SPEC.pass_bar
    assert "Combiner-X >= X in all pairs" in SPEC.pass_bar
    assert SPEC.metric == "test/bits_per_dim" and SPEC.direction == "lower" and SPEC.seeds == [0, 1, 2]
    (cond,) = SPEC.conditions
    assert isinstance(cond, AnyOf) and cond.k == 2
    pairs = list(PAIRS.values())
    assert [(c.method, c.baseline) for c in cond.conditions] == pairs
    assert all(isinstance(c, StdRule) and c.test == "beats" and c.k == 1.0 and c.std == "pooled"
               for c in cond.conditions)
    assert set(SPEC.used_arms()) == {a for pair in pairs for a in pair} and "full" in SPEC.arms


def test_arms_differ_only_in_the_token_mixer_and_the_one_layer_depth():
    base = SPEC.experiment("combiner_fixed", 0)
    assert base["trainer"]["epochs"] == 4 and base["trainer"]["batch_size"] == 64
    assert base["learning_rule"]["lr"] == 3e-3 and base["data"]["name"] == "raster_digits"
    for arm in SPEC.arms:
        exp = SPEC.experiment(arm, 0)
        model = dict(exp["model"])
        model.pop("token_mixer")
        assert model["depth"] == (1 if "1layer" in arm else 2)
        assert {k: v for k, v in exp.items() if k not in ("model", "name")} == \
            {k: v for k, v in base.items() if k not in ("model", "name")}


def _finals(gaps: dict[str, float]) -> dict[str, list[dict[str, float]]]:
    """Per-seed finals: each baseline at 2.0 +- 0.01, its Combiner ``gap`` lower."""
    finals = {"full": [{SPEC.metric: 1.9}] * 3}
    for pair, (method, baseline) in PAIRS.items():
        finals[baseline] = [{SPEC.metric: 2.0 + e} for e in (-0.01, 0.0, 0.01)]
        finals[method] = [{SPEC.metric: 2.0 - gaps[pair] + e} for e in (0.01, 0.0, -0.01)]
    return finals


@pytest.mark.parametrize(("gaps", "passes"), [
    ({"fixed": 0.1, "axial": 0.1, "fixed_1layer": 0.1}, True),
    ({"fixed": 0.1, "axial": 0.0, "fixed_1layer": 0.1}, True),
    ({"fixed": 0.0, "axial": 0.1, "fixed_1layer": 0.1}, True),
    ({"fixed": 0.1, "axial": 0.0, "fixed_1layer": 0.0}, False),
    ({"fixed": 0.005, "axial": 0.005, "fixed_1layer": 0.1}, False),
    ({"fixed": -0.1, "axial": -0.1, "fixed_1layer": -0.1}, False),
])
def test_at_least_two_of_the_three_pairs_must_beat_their_base_by_a_pooled_std(gaps, passes):
    verdict = judge_spec(SPEC, _finals(gaps))
    assert (verdict.outcome == REPRODUCES) is passes


def test_smoke_reproduction_runs_every_arm(tmp_path: Path):
    results = smoke_reproduction("combiner", tmp_path)
    assert all("test/bits_per_dim" in arm["final"][0] for arm in results["arms"].values())
