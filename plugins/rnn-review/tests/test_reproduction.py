"""The reproduction spec carries the card's whole pass bar, every arm validates, and the smoke run works."""

from __future__ import annotations

from forwardkit_rnn_review.reproduction import ABOUT_CHANCE, NEAR_TRIVIAL_MSE, SOLVED_MSE, SPEC, SPEC_T100

from forwardkit.config import validate_experiment
from forwardkit.reproduce.conditions import SeedCount, Threshold
from forwardkit.reproduce.runner import run_reproduction


def test_the_spec_transcribes_the_cards_pass_bar():
    assert "LSTM and GRU reach MSE < 0.01 on ≥2/3 seeds, Elman stays near 0.16" in SPEC.pass_bar
    assert "Pass bar: A and B as stated" in SPEC.pass_bar
    counts = [c for c in SPEC.conditions if isinstance(c, SeedCount)]
    assert [(c.left.arm, c.left.metric, c.op, c.right, c.k) for c in counts] == [
        ("adding_lstm", "test/mse", "<", SOLVED_MSE, 2), ("adding_gru", "test/mse", "<", SOLVED_MSE, 2)]
    thresholds = [(c.figure.arm, c.figure.metric, c.op, c.value) for c in SPEC.conditions if isinstance(c, Threshold)]
    assert thresholds == [("adding_elman", "test/mse", ">=", NEAR_TRIVIAL_MSE),
                          ("tagging_lstm", "test/accuracy", ">=", ABOUT_CHANCE),
                          ("tagging_lstm", "test/accuracy", "<=", 0.75),
                          ("tagging_bilstm", "test/accuracy", ">", 0.95)]
    assert SPEC.seeds == [0, 1, 2] and SPEC.seed_data
    assert SPEC.used_arms() == ["adding_elman", "adding_lstm", "adding_gru", "tagging_lstm", "tagging_bilstm"]
    assert {a for a in SPEC.arms if a.startswith("digits_")} == {"digits_elman", "digits_lstm", "digits_gru"}


def test_every_arm_validates_with_the_cards_budgets():
    for spec in (SPEC, SPEC_T100):
        for arm in spec.arms:
            for smoke in (False, True):
                validate_experiment(spec.experiment(arm, 1, smoke=smoke))
    a, b, c = (SPEC.experiment(arm, 0) for arm in ("adding_lstm", "tagging_bilstm", "digits_gru"))
    assert a["trainer"]["max_steps"] == 1500 and b["trainer"]["max_steps"] == 600
    assert c["trainer"]["max_steps"] is None and c["trainer"]["epochs"] == 15
    assert a["data"]["length"] == 50 and SPEC_T100.experiment("adding_elman", 0)["data"]["length"] == 100
    assert b["data"] == {"name": "two_sided_tagging", "length": 40, "lag": 3, "seed": 0}
    assert a["learning_rule"] == {"name": "backprop", "optimizer": "adam", "lr": 1e-3, "grad_clip_norm": 1.0}
    assert a["trainer"]["batch_size"] == 64 and a["model"]["dim"] == 64
    assert all(SPEC.experiment(arm, 0)["model"]["token_mixer"].get("backend") == "torch"
               or SPEC.experiment(arm, 0)["model"]["token_mixer"]["inner"]["backend"] == "torch" for arm in SPEC.arms)


def test_smoke_reproduction_runs(tmp_path):
    results = run_reproduction(SPEC, slug="rnn-review", out_dir=None, seeds=[0], smoke=True, workers=1,
                               verbose=False)
    assert results["smoke"] and set(results["arms"]) == set(SPEC.arms)
    assert results["verdict"]["outcome"] in {"reproduces", "does not reproduce at this scale", "inconclusive"}


def test_the_example_validates():
    from pathlib import Path

    from forwardkit.config import load_experiment

    path = Path(__file__).resolve().parents[3] / "examples" / "rnn-review-adding.yaml"
    exp = load_experiment(path)
    assert exp.learning_rule is not None and exp.learning_rule.name == "truncated_bptt"
