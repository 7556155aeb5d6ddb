"""The reproduction spec carries the card's whole pass bar and decides as the card says; the smoke run, the
example experiment and the cost script run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from forwardkit_neuro_hebbian.reproduction import CORRUPTIONS, METRIC, SPEC

from forwardkit.config import load_experiment
from forwardkit.reproduce.conditions import DOES_NOT_REPRODUCE, INCONCLUSIVE, REPRODUCES, AnyOf, Compare
from forwardkit.testing import judge_spec, load_script, smoke_reproduction

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT.parents[1] / "examples" / "neuro-hebbian-corrupted-digits.yaml"


def test_the_spec_transcribes_the_cards_pass_bar():
    assert "NHL beats Tent on average by >= 1 point with the ablations ordered as in the paper" in SPEC.pass_bar
    assert "NHL not better than Tent, or HebbianOnly degrades accuracy below SourceOnly on most corruptions" in \
        SPEC.pass_bar
    assert SPEC.metric == METRIC == "tta/test/accuracy" and SPEC.direction == "higher" and SPEC.seeds == [0, 1, 2]
    tent, hebb, mod, most = SPEC.conditions
    assert isinstance(tent, Compare) and (tent.method, tent.baseline, tent.min_effect, tent.fail_below) == \
        ("nhl", "tent", 0.01, 0.0)
    assert [(c.method, c.baseline) for c in (hebb, mod)] == [("nhl", "hebbian_only"), ("nhl", "modulator_only")]
    assert isinstance(most, AnyOf) and most.k == 3 and len(most.conditions) == 6
    assert {c.metric for c in most.conditions} == {f"tta/test/accuracy_{c}" for c in CORRUPTIONS}
    assert all(c.test == "non_inferiority" and c.margin == 0 and (c.method, c.baseline) == ("hebbian_only",
               "source_only") for c in most.conditions)


def test_arms_differ_only_in_the_test_time_rule():
    base = SPEC.experiment("nhl", 0)
    assert base["data"]["corruptions"] == CORRUPTIONS and base["test_time"]["episode_batches"] == 20
    assert base["trainer"]["epochs"] == 5 and base["adapters"][0]["name"] == "neuro_modulator"
    for arm in SPEC.arms:
        exp = SPEC.experiment(arm, 0)
        strip = {k: v for k, v in exp.items() if k not in ("name", "test_time")}
        assert strip == {k: v for k, v in base.items() if k not in ("name", "test_time")}
        assert {k: v for k, v in exp["test_time"].items() if k != "rule"} == \
            {k: v for k, v in base["test_time"].items() if k != "rule"}
    assert SPEC.experiment("tent", 0)["test_time"]["rule"]["name"] == "tent"


def _finals(nhl_over_tent: float, ablation_gap: float = 0.02, hebbian_vs_source: list[float] | None = None):
    per_c = hebbian_vs_source if hebbian_vs_source is not None else [0.05] * 6
    noise = (-0.001, 0.0, 0.001)

    def arm(avg: float, per: list[float]) -> list[dict[str, float]]:
        return [{METRIC: avg + e, **{f"tta/test/accuracy_{c}": p + e for c, p in zip(CORRUPTIONS, per, strict=True)}}
                for e in noise]

    source = [0.5] * 6
    tent = 0.7
    nhl = tent + nhl_over_tent
    return {
        "source_only": arm(0.5, source), "bn_adapt": arm(0.69, source), "tent": arm(tent, source),
        "nhl": arm(nhl, source), "modulator_only": arm(nhl - ablation_gap, source),
        "hebbian_only": arm(nhl - ablation_gap, [s + d for s, d in zip(source, per_c, strict=True)]),
    }


@pytest.mark.parametrize(("finals", "outcome"), [
    (_finals(0.02), REPRODUCES),
    (_finals(0.005), INCONCLUSIVE),                                    # better, but by less than a point
    (_finals(-0.005), DOES_NOT_REPRODUCE),                             # NHL not better than Tent
    (_finals(0.02, ablation_gap=-0.01), DOES_NOT_REPRODUCE),           # an ablation above the full method
    (_finals(0.02, hebbian_vs_source=[-0.1] * 4 + [0.05] * 2), DOES_NOT_REPRODUCE),  # below on most (4/6)
    (_finals(0.02, hebbian_vs_source=[-0.1] * 3 + [0.05] * 3), REPRODUCES),          # below on half only
])
def test_the_conditions_decide_as_the_card_says(finals, outcome):
    verdict = judge_spec(SPEC, finals)
    assert verdict.outcome == outcome


def test_smoke_reproduction_runs_every_arm(tmp_path: Path):
    results = smoke_reproduction("neuro-hebbian", tmp_path)
    for arm in results["arms"].values():
        final = arm["final"][0]
        assert METRIC in final and "tta/val/accuracy" in final
        assert all(f"tta/test/accuracy_{c}" in final for c in CORRUPTIONS)


def test_the_example_experiment_runs_on_a_tiny_budget(tmp_path: Path):
    import forwardkit

    exp = load_experiment(EXAMPLE).to_dict()
    exp["data"].update(n_samples=200, corruptions=["gaussian_noise", "fog"])
    exp["trainer"].update(epochs=1, max_steps=2, out_dir=str(tmp_path), progress="none", plots=False)
    exp["test_time"]["episode_batches"] = 1
    final = forwardkit.run(exp).final
    assert {"tta/test/accuracy_gaussian_noise", "tta/test/accuracy_fog", "tta/val/accuracy"} <= set(final)


def test_cost_script_smoke(tmp_path: Path):
    mod = load_script(ROOT / "benchmarks" / "cost.py")
    out = mod.main(["--smoke", "--threads", "1", "--out", str(tmp_path / "cost.json")])
    assert json.loads((tmp_path / "cost.json").read_text())["smoke"] is True
    (row,) = out["rows"].values()
    assert set(row["adapt_over_tent"]) == set(mod.RULES) and row["adapt_over_tent"]["tent"] == 1.0
    assert row["hebbian_over_first_layer_forward"]["first_layer_forward"] == 1.0
    assert set(row["modulator_over_full_entropy_step"]) == {"modulator_step", "full_entropy_step"}
    assert all(v > 0 for v in row["median_ms"].values())
