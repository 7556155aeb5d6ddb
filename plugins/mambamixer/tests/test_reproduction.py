"""The reproduction spec carries the card's whole pass bar; the Setup A arms differ only in their model; one
arm's smoke run trains, tests and analyses."""

from __future__ import annotations

import math
from pathlib import Path

import yaml
from forwardkit_mambamixer.reproduction import MODELS, PASS_BAR, SETUP_A, SPEC, TSM2

import forwardkit
from forwardkit.config.experiment import validate_experiment
from forwardkit.reproduce.conditions import StdRule
from forwardkit.reproduce.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]
CARD_BAR = ("Pass bar: TSM2 better than TSM2-MLP in mean by more than one pooled std. \"Does not reproduce\": "
            "TSM2-MLP or RLinear is as good or better.")
SETUP_A_ARMS = ("tsm2", "tsm2_mlp", "tsm2_no_wavg", "tsm2_ci", "rlinear")


def test_the_spec_is_registered_and_transcribes_the_cards_pass_bar():
    spec = load_spec(forwardkit.get_registry().reproductions["mambamixer"])
    assert spec.fingerprint() == SPEC.fingerprint() and spec.pass_bar == PASS_BAR and CARD_BAR in PASS_BAR
    beats_mlp, beats_rlinear = spec.conditions
    assert isinstance(beats_mlp, StdRule) and isinstance(beats_rlinear, StdRule)
    assert (beats_mlp.method, beats_mlp.baseline, beats_mlp.test, beats_mlp.k, beats_mlp.std) == \
        ("tsm2", "tsm2_mlp", "beats", 1.0, "pooled")
    assert (beats_rlinear.method, beats_rlinear.baseline, beats_rlinear.test) == ("tsm2", "rlinear", "beats")
    assert 0 < beats_rlinear.k <= 1e-6  # literally "as good or better" on the means (std_rule needs k > 0)
    assert spec.metric == "test/mse" and spec.direction == "lower" and spec.seeds == [0, 1, 2]
    assert spec.used_arms() == ["tsm2", "tsm2_mlp", "rlinear"]


def test_setup_a_arms_share_data_recipe_and_budget_and_differ_in_their_model():
    exps = {arm: SPEC.experiment(arm, 1) for arm in SETUP_A_ARMS}
    for arm, exp in exps.items():
        assert exp["data"] == SETUP_A and exp["data"]["length"] == 3000 and exp["data"]["lookback"] == 96
        assert exp["learning_rule"] == {"name": "backprop", "optimizer": "adam", "lr": 1e-3}, arm
        assert exp["trainer"]["epochs"] == 8 and exp["trainer"]["batch_size"] == 32 and exp["seed"] == 1, arm
        assert exp["model"] == MODELS[arm], arm
    assert {k: v for k, v in MODELS["tsm2_mlp"].items() if k not in ("variate_mixer", "weighted_avg")} == TSM2
    assert (MODELS["tsm2_mlp"]["variate_mixer"], MODELS["tsm2_mlp"]["weighted_avg"]) == ("mlp", False)
    assert MODELS["tsm2_no_wavg"] == {**TSM2, "weighted_avg": False}
    assert MODELS["tsm2_ci"] == {**TSM2, "variate_mixer": "none"}
    assert TSM2 == {"name": "tsm2", "d_model": 32, "num_layers": 2, "patch_len": 16, "stride": 8, "d_state": 16,
                    "dropout": 0.1}
    for arm in SPEC.arms:
        validate_experiment(SPEC.experiment(arm, 0))
        validate_experiment(SPEC.experiment(arm, 0, smoke=True))
    macro = SPEC.experiment("macro_tsm2", 0)
    assert macro["data"]["series"] == "macrodata" and macro["model"]["patch_len"] == 4


def test_one_arm_trains_tests_and_reads_its_mixing_weights_in_a_smoke_run(tmp_path):
    exp = SPEC.experiment("tsm2", 0, smoke=True)
    exp["trainer"]["out_dir"] = str(tmp_path)
    result = forwardkit.run(exp)
    assert result.steps == 2 and math.isfinite(result.final["test/mse"])
    assert 0.0 <= result.final["analysis/mixing_weights/early_share"] <= 1.0


def test_the_example_experiment_validates():
    for path in sorted((ROOT.parents[1] / "examples").glob("mambamixer-*.yaml")):
        validate_experiment(yaml.safe_load(path.read_text()))
