"""The reproduction spec carries the card's pass bar; the cost arm measures what its conditions read; the
budget pilot's plateau rule picks the smallest budget after which more epochs gain < 0.5 pt."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from forwardkit_evit.cost import cost_figures, rate_key
from forwardkit_evit.reproduction import EPOCHS, SPEC, keep_rate_schedule

import forwardkit
from forwardkit.reproduce.spec import deep_merge, load_spec

PILOT = Path(__file__).resolve().parents[1] / "benchmarks" / "pilot_budget.py"


def test_the_spec_is_declared_and_carries_the_cards_pass_bar() -> None:
    spec = load_spec(forwardkit.get_registry().reproductions["evit"])
    assert spec.fingerprint() == SPEC.fingerprint()
    assert spec.pass_bar.startswith("Expected: κ=0.7 within 1 pt of baseline") and "Does not reproduce" in spec.pass_bar
    kinds = [(c.kind, getattr(c, "test", None)) for c in spec.conditions]
    assert kinds == [("compare", "superiority"), ("compare", "non_inferiority"), ("threshold", None),
                     ("threshold", None)]
    head = spec.conditions[spec.headline]
    assert (head.method, head.baseline, head.min_effect) == ("evit_k05", "random_k05", 0.01)
    assert (spec.conditions[1].method, spec.conditions[1].baseline, spec.conditions[1].margin) == ("evit", "vit", 0.01)
    assert spec.conditions[2].figure.metric == "macs_ratio_k07" and spec.conditions[2].value == 0.75
    assert spec.conditions[3].figure.metric == "speedup_k07" and spec.conditions[3].op == ">"
    assert len(spec.seeds) >= 3 and spec.paired
    assert spec.used_arms() == list(spec.arms) == ["vit", "evit", "evit_k05", "random_k05", "cost"]


def test_every_training_arm_has_the_same_data_recipe_and_budget() -> None:
    arms = [a for a in SPEC.arms if SPEC.program(a) is None]
    exps = {a: forwardkit.config.validate_experiment(SPEC.experiment(a, 0)) for a in arms}
    for a, exp in exps.items():
        assert exp.trainer.epochs == EPOCHS and exp.trainer.batch_size == 128, a
        assert exp.learning_rule == exps["vit"].learning_rule and exp.data == exps["vit"].data, a
        assert exp.model.config.dim == 96 and exp.model.config.num_heads == 3, a
    assert exps["vit"].model.config.keep_rate == 1.0 and not exps["vit"].callbacks
    assert exps["random_k05"].model.config.selection == "random"
    schedule = keep_rate_schedule(12)
    assert (schedule["start_epoch"], schedule["shrink_epochs"]) == (2, 4)  # the card's 2 + 4 of 12 epochs


def test_the_cost_arm_measures_the_conditions_figures() -> None:
    path, config = SPEC.program_config("cost", smoke=True)
    assert path == "forwardkit_evit.cost:cost_figures"
    torch.set_num_threads(1)
    figures = cost_figures(config, seed=0, smoke=True)
    for cond in SPEC.conditions[2:]:
        assert cond.figure.metric in figures
    assert figures["macs_ratio_k07"] == pytest.approx(figures["macs_k07"] / figures["macs_vit"])
    assert figures["macs_k05"] < figures["macs_k07"] < figures["macs_vit"]
    assert figures["speedup_k07"] > 0 and figures["threads"] == 1
    full = deep_merge(SPEC.arms["cost"]["config"], {})
    assert full["batch"] == 256 and full["repeats"] == 5 and full["model"]["dim"] == 96
    assert rate_key(0.7) == "k07" and rate_key(0.5) == "k05" and rate_key(0.75) == "k075"


def test_the_pilot_picks_the_first_budget_after_which_gains_stay_below_the_plateau() -> None:
    spec = importlib.util.spec_from_file_location("evit_pilot", PILOT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    runs = [{"epochs": e, "seed": s, "test_accuracy": acc, "seconds_per_epoch": 1.0}
            for e, accs in {12: (0.80, 0.82), 24: (0.90, 0.92), 36: (0.903, 0.921)}.items()
            for s, acc in enumerate(accs)]
    out = module.summarize(runs, 0.005)
    assert out["chosen_epochs"] == 24
    assert out["budgets"]["12"]["gain_to_next"] == pytest.approx(0.10)
    assert module.summarize(runs[:4], 0.005)["chosen_epochs"] is None  # still gaining: no budget chosen
    exp = module.experiment(24, 1)
    assert exp["trainer"]["epochs"] == 24 and exp["seed"] == 1 and exp["model"]["keep_rate"] == 1.0


def test_the_kept_token_script_runs_the_reproductions_experiment(tmp_path: Path) -> None:
    path = PILOT.parent / "kept_tokens.py"
    spec = importlib.util.spec_from_file_location("evit_kept_tokens_script", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    exp = module.experiment("evit", 0, max_images=8)
    assert exp["model"] == SPEC.experiment("evit", 0)["model"] and exp["trainer"]["epochs"] == EPOCHS
    out = module.main(["--smoke", "--out", str(tmp_path)])
    assert (tmp_path / "kept_tokens.png").is_file() and out["reorganisations"] == 3.0
    assert 0.0 < out["layer1/kept_fraction"] <= 1.0
