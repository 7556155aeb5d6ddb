"""The reproduction spec carries the card's pass bar, every arm shares the recipe and budget, the smoke runs in
process, and the example experiment validates."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from forwardkit_dynamic_token_routing.model import DynamicRoutingViT
from forwardkit_dynamic_token_routing.paths import pvt_path, reached
from forwardkit_dynamic_token_routing.reproduction import (
    EPOCHS,
    FLOPS,
    GRID_RATIO,
    MODEL,
    PASS_BAR,
    SPEC,
    STATIC_GRID_RATIO,
)

import forwardkit
from forwardkit.config import load_experiment
from forwardkit.reproduce.runner import run_reproduction
from forwardkit.reproduce.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT.parents[1] / "examples" / "dynamic-token-routing-digits.yaml"


def test_the_spec_is_registered_and_transcribes_the_cards_pass_bar() -> None:
    spec = load_spec(forwardkit.get_registry().reproductions["dynamic-token-routing"])
    assert spec.fingerprint() == SPEC.fingerprint()
    assert spec.pass_bar == PASS_BAR and "Pass bar: the first two" in PASS_BAR and "Does not reproduce" in PASS_BAR
    either, mu06, mu04 = spec.conditions
    assert (either.kind, either.k) == ("any", 1)
    reach, beat = either.conditions
    assert (reach.kind, reach.k, beat.kind, beat.k) == ("any", 2, "any", 2)
    acc, flops = reach.conditions
    better, equal = beat.conditions
    assert (better.kind, better.method, better.baseline, better.test) == (
        "compare", "dynamic_mu032", "static", "superiority")
    assert (equal.kind, equal.left.arm, equal.left.metric, equal.left.over.arm, equal.right, equal.tolerance) == (
        "equal", "dynamic_mu032", FLOPS, "static", 1.0, pytest.approx(0.1))
    assert (acc.kind, acc.method, acc.baseline, acc.test, acc.margin) == (
        "compare", "dynamic_mu06", "static", "non_inferiority", 0.01)
    assert (flops.kind, flops.figure.metric, flops.figure.over.arm, flops.op, flops.value) == (
        "threshold", FLOPS, "static", "<=", 1.0)
    assert (mu06.left.metric, mu06.right, mu06.tolerance) == (GRID_RATIO, 0.6, pytest.approx(0.06))
    assert (mu04.left.arm, mu04.right, mu04.tolerance) == ("dynamic_mu04", 0.4, pytest.approx(0.04))
    assert spec.seeds == [0, 1, 2] and spec.paired and spec.headline == 0
    assert spec.used_arms() == ["static", "dynamic_mu06", "dynamic_mu04", "dynamic_mu032"]
    assert list(spec.arms) == ["static", "dynamic_mu10", "dynamic_mu06", "dynamic_mu04", "dynamic_mu032"]


def test_every_arm_shares_data_recipe_and_budget_and_differs_in_one_setting() -> None:
    exps = {a: SPEC.experiment(a, 0) for a in SPEC.arms}
    ref = exps["dynamic_mu06"]
    for arm, exp in exps.items():
        assert exp["data"] == ref["data"] and exp["trainer"] == ref["trainer"], arm
        assert exp["trainer"]["epochs"] == EPOCHS == 8 and exp["trainer"]["batch_size"] == 64, arm
        assert exp["learning_rule"]["rule"] == ref["learning_rule"]["rule"], arm
        assert exp["analyzers"] == ref["analyzers"], arm
    assert exps["static"]["model"] == {**MODEL, "static_path": "pvt"}
    assert {a: e["learning_rule"]["target_ratio"] for a, e in exps.items() if a != "static"} == {
        "dynamic_mu10": 1.0, "dynamic_mu06": 0.6, "dynamic_mu04": 0.4, "dynamic_mu032": STATIC_GRID_RATIO}
    assert ref["data"]["train_size"] == 4000 and ref["data"]["test_size"] == 1000
    assert ref["learning_rule"]["rule"]["lr"] == 2e-3 and ref["learning_rule"]["rule"]["optimizer"] == "adamw"


def test_the_exploratory_budget_is_the_static_paths_share_of_the_grid() -> None:
    model = DynamicRoutingViT(**{k: v for k, v in MODEL.items() if k != "name"})
    path = pvt_path(6, 3)
    static_grid = model.static_flops() - model.fixed_flops
    assert static_grid / model.max_grid_flops == pytest.approx(STATIC_GRID_RATIO, abs=0.005)
    assert reached(path)[5] == [False, False, True]
    assert sum(p.numel() for p in model.parameters()) == 472_656  # the README's 0.47M


def test_the_smoke_reproduction_runs_in_process(tmp_path: Path) -> None:
    threads = torch.get_num_threads()
    try:
        out = run_reproduction(SPEC, slug="dynamic-token-routing", out_dir=tmp_path, seeds=[0], smoke=True,
                               workers=1, verbose=False)
    finally:
        torch.set_num_threads(threads)
    assert out["smoke"] and out["verdict"]["outcome"] in {"reproduces", "does not reproduce at this scale",
                                                          "inconclusive"}
    final = out["arms"]["dynamic_mu06"]["final"][0]
    assert FLOPS in final and 0 < final[GRID_RATIO] <= 1.0
    static = out["arms"]["static"]["final"][0]
    assert static["analysis/routing_paths/flops_over_static"] == pytest.approx(1.0)
    assert (tmp_path / "results.json").is_file()


def test_the_example_experiment_validates() -> None:
    exp = load_experiment(EXAMPLE)
    assert exp.model.name == "dynamic_routing_vit" and exp.learning_rule.name == "budget_constraint"


def _finals(*, acc06: float, ratio06: float, acc032: float, ratio032: float) -> dict[str, list[dict[str, float]]]:
    """Per-seed finals: static at 0.80 +- 0.005 and 10 MFLOPs; the dynamic arms at the given accuracy and ratio."""
    noise = (-0.005, 0.0, 0.005)

    def arm(acc: float, ratio: float, grid: float) -> list[dict[str, float]]:
        return [{SPEC.metric: acc + e, FLOPS: 10.0 * ratio, GRID_RATIO: grid} for e in noise]

    return {"static": arm(0.80, 1.0, STATIC_GRID_RATIO), "dynamic_mu06": arm(acc06, ratio06, 0.6),
            "dynamic_mu04": arm(0.78, 1.3, 0.4), "dynamic_mu032": arm(acc032, ratio032, STATIC_GRID_RATIO)}


@pytest.mark.parametrize(("acc06", "ratio06", "acc032", "ratio032", "outcome"), [
    (0.80, 1.8, 0.85, 1.0, "reproduces"),            # the 'or' branch: beats static at equal FLOPs
    (0.80, 0.9, 0.70, 1.0, "reproduces"),            # the first branch: static accuracy with fewer FLOPs
    (0.80, 1.8, 0.70, 1.0, "does not reproduce at this scale"),   # neither branch
    (0.80, 1.8, 0.85, 1.5, "does not reproduce at this scale"),   # better, but not at equal FLOPs
])
def test_the_first_condition_is_an_or_of_its_two_branches(acc06: float, ratio06: float, acc032: float,
                                                           ratio032: float, outcome: str) -> None:
    from forwardkit.reproduce.verdict import judge

    finals = _finals(acc06=acc06, ratio06=ratio06, acc032=acc032, ratio032=ratio032)
    verdict = judge(SPEC.conditions, finals, metric=SPEC.metric, direction=SPEC.direction)
    assert verdict.conditions[0]["outcome"] == outcome
