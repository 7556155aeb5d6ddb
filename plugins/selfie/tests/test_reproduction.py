"""The reproduction spec transcribes the card's pass bar (its conditions decide as the card says on synthetic
finals), both arms are the same multi-stage experiment but the pre-training stage, the smoke reproduction runs,
and the example experiment is that experiment, validates and trains on a tiny budget."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from forwardkit_selfie.recipe import QUIET, models, staged_experiment
from forwardkit_selfie.reproduction import METRIC, SPEC

import forwardkit
from forwardkit.config.files import load_yaml
from forwardkit.config.stages import validate_stages
from forwardkit.reproduce.conditions import DOES_NOT_REPRODUCE, INCONCLUSIVE, REPRODUCES
from forwardkit.reproduce.spec import load_spec
from forwardkit.testing import judge_spec, smoke_reproduction

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "selfie-mnist-pretrain-finetune.yaml"


def test_the_spec_carries_the_cards_pass_bar_word_for_word():
    spec = load_spec(forwardkit.get_registry().reproductions["selfie"])
    assert spec.fingerprint() == SPEC.fingerprint()
    assert "Pass bar: mean gain > 1 point and > the pooled std." in SPEC.pass_bar
    assert "\"Does not reproduce at this scale\": gain within noise" in SPEC.pass_bar
    assert len(SPEC.seeds) >= 3 and SPEC.metric == METRIC == "test/accuracy"
    assert [c.kind for c in SPEC.conditions] == ["compare", "std_rule"]
    assert set(SPEC.used_arms()) == {"selfie", "scratch"}


def test_both_arms_are_one_multi_stage_experiment_differing_in_the_pre_training():
    pre, scratch = staged_experiment(pretrain=True), staged_experiment(pretrain=False)
    assert [s["name"] for s in pre["stages"]] == ["pretrain", "finetune_5pct", "finetune_1pct"]
    assert [s["name"] for s in scratch["stages"]] == ["finetune_5pct", "finetune_1pct"]
    for a, b in zip(pre["stages"][1:], scratch["stages"], strict=True):
        assert a["carry"] == {"source": "pretrain", "include": ["patch_net"]} and b["carry"] is None
        assert {k: v for k, v in a.items() if k != "carry"} == {k: v for k, v in b.items() if k != "carry"}
    _, stages = validate_stages(pre)
    assert [e.model.name for e in stages] == ["selfie_pretrainer", "selfie_classifier", "selfie_classifier"]
    assert stages[0].learning_rule is not None and stages[0].learning_rule.name == "selfie_rule"
    assert [e.trainer.epochs for e in stages] == [6, 30, 30] and stages[0].trainer.batch_size == 64
    assert [e.data.config.val_fraction for e in stages] == [0.0, 0.76, 0.792]  # 4000, 200 and 40 train images
    validate_stages(scratch)


def _finals(selfie: list[float], scratch: list[float]) -> dict[str, Any]:
    return {"selfie": [{METRIC: x} for x in selfie], "scratch": [{METRIC: x} for x in scratch]}


@pytest.mark.parametrize(("selfie", "scratch", "outcome"), [
    # +5 points in every seed, tight: both parts of the bar hold
    ([0.90, 0.91, 0.905], [0.85, 0.86, 0.855], REPRODUCES),
    # the same mean everywhere: gain within noise
    ([0.85, 0.86, 0.855], [0.85, 0.86, 0.855], DOES_NOT_REPRODUCE),
    # +0.5 points: below the 1-point bar in every seed
    ([0.855, 0.865, 0.86], [0.85, 0.86, 0.855], DOES_NOT_REPRODUCE),
    # +3 points on average, but one seed lost: the gain is not above the pooled std... and the interval is wide
    ([0.95, 0.80, 0.90], [0.84, 0.87, 0.85], DOES_NOT_REPRODUCE),
])
def test_the_conditions_decide_as_the_card_says(selfie, scratch, outcome):
    assert judge_spec(SPEC, _finals(selfie, scratch)).outcome == outcome


def test_a_noisy_gain_above_the_std_but_with_a_wide_interval_is_inconclusive():
    verdict = judge_spec(SPEC, _finals([0.90, 0.93, 0.88], [0.86, 0.87, 0.87]))
    assert [c["outcome"] for c in verdict.conditions] == [INCONCLUSIVE, REPRODUCES]
    assert verdict.outcome == INCONCLUSIVE


def test_smoke_reproduction_runs_every_arm(tmp_path: Path):
    results = smoke_reproduction("selfie", tmp_path)
    selfie, scratch = results["arms"]["selfie"]["final"][0], results["arms"]["scratch"]["final"][0]
    assert {METRIC, "1pct/test/accuracy", "pretext/test_top1", "pretext/chance"} <= set(selfie)
    assert {METRIC, "1pct/test/accuracy"} <= set(scratch) and "pretext/test_top1" not in scratch


def test_the_example_is_the_reproductions_experiment_and_trains_on_a_tiny_budget():
    example = load_yaml(EXAMPLE.read_text(encoding="utf-8"))
    built = staged_experiment(pretrain=True, seed=0)
    for key in ("progress", "plots"):  # the example keeps the trainer's interactive defaults
        built["base"]["trainer"].pop(key)
    assert set(QUIET) - {"progress", "plots"} <= set(example["base"]["trainer"])
    assert example == built
    validate_stages(example)
    tiny = copy.deepcopy(example)
    pre, cls = models(smoke=True)
    tiny["base"]["model"] = pre
    tiny["base"]["data"]["test_fraction"] = 0.02
    tiny["base"]["trainer"].update(max_steps=2, progress="none", plots=False)
    for stage in tiny["stages"][1:]:
        stage.update(model=cls, data={"val_fraction": 0.0})
        stage["trainer"]["max_steps"] = 1
    result = forwardkit.run_stages(tiny, write=False, verbose=False)
    assert set(result.stages) == {"pretrain", "finetune_5pct", "finetune_1pct"}
    assert 0.0 <= result.final["finetune_5pct/test/accuracy"] <= 1.0
