"""The reproduction spec carries the card's pass bar; the partial-variate program arm runs and reports."""

import pytest
from forwardkit_itransformer.reproduction import LOOKBACKS, SPEC
from forwardkit_itransformer.study import partial_experiments, partial_variate

from forwardkit.reproduce.conditions import Compare, Monotone
from forwardkit.reproduce.spec import deep_merge

CARD_BAR = ("inverted MSE ≥20% lower than temporal-token Transformer at T=96", "non-increasing from T=48 → 192",
            "\"Does not reproduce\": temporal-token ≤ inverted, or inverted MSE rises with T beyond noise")


def test_the_spec_transcribes_the_cards_pass_bar():
    assert all(words in SPEC.pass_bar for words in CARD_BAR)
    superiority, trend = SPEC.conditions
    assert isinstance(superiority, Compare) and superiority.test == "superiority"
    assert (superiority.method, superiority.baseline) == ("inverted_T96", "temporal_T96")
    assert superiority.relative and superiority.min_effect == 0.2
    assert isinstance(trend, Monotone) and not trend.strict and trend.margin == 0.0
    assert trend.sequence == [f"inverted_T{t}" for t in LOOKBACKS]
    assert SPEC.metric == "test/mse" and SPEC.direction == "lower" and len(SPEC.seeds) >= 3
    assert set(SPEC.used_arms()) == {"inverted_T48", "inverted_T96", "inverted_T192", "temporal_T96"}


def test_synthetic_arms_differ_only_in_model_and_lookback():
    exps = {arm: SPEC.experiment(arm, 1) for arm in SPEC.arms
            if not arm.startswith(("partial", "macro"))}
    assert len(exps) == 9
    for arm, exp in exps.items():
        data = exp["data"]
        assert data["name"] == "lagged_multivariate" and data["num_variates"] == 16 and data["horizon"] == 24
        assert data["lookback"] == int(arm.rsplit("_T", 1)[1]) and exp["trainer"]["epochs"] == 8
        assert exp["learning_rule"] == {"name": "backprop", "optimizer": "adam", "lr": 0.001}
        assert exp["trainer"]["batch_size"] == 32
    assert exps["temporal_T96"]["model"] == {**exps["inverted_T96"]["model"], "name": "temporal_transformer"}


def test_partial_arms_differ_only_in_the_callback():
    _, config = SPEC.program_config("partial_T96")
    assert config["experiment"]["data"] == SPEC.experiment("inverted_T96", 0)["data"]
    arms = partial_experiments(config["experiment"], seed=2, fraction=0.2)
    full, partial = arms["full"], arms["partial"]
    assert "callbacks" not in full and full["seed"] == partial["seed"] == 2
    assert partial["callbacks"] == [{"name": "partial_variate_training", "fraction": 0.2, "seed": 2}]
    assert {k: v for k, v in partial.items() if k not in ("callbacks", "name")} == \
        {k: v for k, v in full.items() if k != "name"}


def test_partial_program_smoke():
    _, config = SPEC.program_config("partial_T96", smoke=True)
    tiny = {"data": {"length": 400, "lookback": 24, "horizon": 6, "stride": 6},
            "model": {"d_model": 16, "num_heads": 2, "d_ff": 16}}
    config = {**config, "experiment": deep_merge(config["experiment"], tiny)}
    figures = partial_variate(config, seed=1, smoke=True)
    assert set(figures) == {"test/mse", "test/mae", "full/test/mse", "full/test/mae", "mse_ratio", "speedup"}
    assert figures["mse_ratio"] == pytest.approx(figures["test/mse"] / figures["full/test/mse"])
    assert figures["speedup"] > 0
