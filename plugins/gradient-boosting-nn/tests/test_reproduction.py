"""The reproduction spec transcribes the card's whole pass bar and setup; its conditions decide as the card says;
the smoke reproduction and the cost script run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from forwardkit_gradient_boosting_nn.reproduction import CLASSIFICATION, SOURCES, SPEC

import forwardkit
from forwardkit.reproduce.conditions import DOES_NOT_REPRODUCE, INCONCLUSIVE, REPRODUCES
from forwardkit.reproduce.spec import load_spec
from forwardkit.testing import judge_spec, load_script, smoke_reproduction

COST = Path(__file__).resolve().parents[1] / "benchmarks" / "cost.py"


def test_the_spec_transcribes_the_cards_pass_bar_and_setup() -> None:
    spec = load_spec(forwardkit.get_registry().reproductions["gradient-boosting-nn"])
    assert spec.fingerprint() == SPEC.fingerprint()
    assert ("Pass bar: merged-net outputs equal staged outputs (< 1e-5) and GB-NN at 50 % units loses < 2 points "
            "on digits.") in spec.pass_bar
    assert '"Does not reproduce at this scale": GB-NN > 3 points worse than Adam on both classification sets.' \
        in spec.pass_bar
    assert spec.seeds == [0, 1, 2, 3, 4]  # the card's 5 splits, seeds 0-4
    truncation, *merged, not_worse = spec.conditions
    assert (truncation.kind, truncation.figure.arm, truncation.figure.metric, truncation.op, truncation.value) == (
        "threshold", "gbnn_digits", "trunc/drop_50", "<", 0.02)
    assert [(m.kind, m.left.arm, m.left.metric, m.right, m.tolerance) for m in merged] == [
        ("equal", f"gbnn_{s}", "merge/max_abs_diff", 0.0, 1e-5) for s in SOURCES]
    assert not_worse.kind == "any" and not_worse.k == 1
    assert [(c.method, c.baseline, c.test, c.margin) for c in not_worse.conditions] == [
        (f"gbnn_{s}", f"adam_{s}", "non_inferiority", 0.03) for s in CLASSIFICATION]
    # the card's GB-NN: T * J = 100 units (T=100, J=1 and T=20, J=5), eta in {0.1, 1.0}, L-BFGS 100 iterations
    for source in SOURCES:
        gbnn, j5 = spec.program(f"gbnn_{source}"), spec.program(f"gbnn_j5_{source}")
        assert gbnn is not None and j5 is not None
        assert (gbnn.config["stages"], gbnn.config["units_per_stage"], j5.config["stages"],
                j5.config["units_per_stage"]) == (100, 1, 20, 5)
        assert gbnn.config["etas"] == [0.1, 1.0] and gbnn.config["stage_max_iter"] == 100
        assert {spec.program(f"{s}_{source}").config["solver"] for s in ("adam", "lbfgs", "sgd")} == {  # type: ignore
            "adam", "lbfgs", "sgd"}


def _finals(gbnn_acc: dict[str, float], drop: float, gap: float = 0.0) -> dict[str, list[dict[str, float]]]:
    """Synthetic per-seed figures: Adam at 0.97 +- noise, GB-NN at ``gbnn_acc`` with the same noise plus a wobble."""
    noise = (-0.004, 0.002, 0.0, 0.003, -0.001)
    wobble = (0.002, -0.002, 0.001, -0.001, 0.0)
    finals: dict[str, list[dict[str, float]]] = {}
    for source in SOURCES:
        base = gbnn_acc.get(source, 0.97)
        finals[f"adam_{source}"] = [{"test/accuracy": 0.97 + e} for e in noise]
        finals[f"gbnn_{source}"] = [{"test/accuracy": base + e + w, "merge/max_abs_diff": gap,
                                     "trunc/drop_50": drop + w} for e, w in zip(noise, wobble, strict=True)]
    return finals


@pytest.mark.parametrize(("accs", "drop", "gap", "outcome"), [
    ({"digits": 0.965, "breast_cancer": 0.96}, 0.005, 1e-7, REPRODUCES),
    ({"digits": 0.965, "breast_cancer": 0.96}, 0.03, 1e-7, DOES_NOT_REPRODUCE),  # 3 points lost at 50 % units
    ({"digits": 0.965, "breast_cancer": 0.96}, 0.005, 3e-5, DOES_NOT_REPRODUCE),  # the merge is not exact
    ({"digits": 0.92, "breast_cancer": 0.93}, 0.005, 1e-7, DOES_NOT_REPRODUCE),  # > 3 points below Adam on both
    ({"digits": 0.92, "breast_cancer": 0.96}, 0.005, 1e-7, REPRODUCES),  # ... on one set only: not the failure
    ({"digits": 0.94, "breast_cancer": 0.94}, 0.005, 1e-7, INCONCLUSIVE),  # 3 points behind: undecided on both
    ({"digits": 0.965, "breast_cancer": 0.96}, 0.019, 1e-7, INCONCLUSIVE),  # the drop's interval straddles 2 points
])
def test_the_conditions_decide_as_the_card_says(accs: dict[str, float], drop: float, gap: float, outcome: str) -> None:
    verdict = judge_spec(SPEC, _finals(accs, drop, gap))
    assert verdict.outcome == outcome, [(r.label, r.outcome, r.reason) for r in verdict.results]


def test_smoke_reproduction_runs_every_arm(tmp_path: Path) -> None:
    results = smoke_reproduction("gradient-boosting-nn", tmp_path)
    gbnn = results["arms"]["gbnn_digits"]["final"][0]
    assert gbnn["merge/max_abs_diff"] < 1e-5 and 0.0 <= gbnn["test/accuracy"] <= 1.0 and gbnn["stages_fitted"] == 3
    assert "trunc/norm_drop_50" in results["arms"]["adam_digits"]["final"][0]
    assert "test/rmse" in results["arms"]["gbnn_diabetes"]["final"][0]


def test_cost_script_smoke(tmp_path: Path) -> None:
    out = load_script(COST).main(["--smoke", "--out", str(tmp_path / "cost.json")])
    assert json.loads((tmp_path / "cost.json").read_text())["smoke"] is True
    training = out["training"]
    assert training["widths"] == [2, 4] and training["ratio_over_mlp_adam"]["h4"]["mlp_adam"] == 1.0
    assert training["median_s"]["gbnn_2"] <= training["median_s"]["gbnn_4"]  # cumulative over the stages
    assert out["inference"]["max_abs_diff_plain_vs_merged"] < 1e-6
    rows = out["truncation"]
    assert rows["k100"]["accuracy_ratio"] == 1.0 and rows["k100"]["latency_ratio_batch_16"] == 1.0
    assert rows["k50"]["params_ratio"] < 1.0 and rows["k50"]["macs_ratio"] < 1.0
