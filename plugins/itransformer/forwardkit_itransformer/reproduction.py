"""Miniature reproduction: inverting the Transformer lowers forecasting MSE (paper Table 2, Fig. 2),
on the real US macro-economic series of statsmodels (torch-free)."""

from __future__ import annotations

from forwardkit.reproduce.spec import ReproductionSpec

#: the encoder both Transformer arms share (spec card's miniature sizes)
ENCODER = {"d_model": 64, "num_layers": 2, "num_heads": 4, "d_ff": 64, "dropout": 0.1}

#: macrodata: 12 quarterly variates 1959Q1-2009Q3, first differences, chronological 65/15/20 split
DATA = {"name": "timeseries", "series": "macrodata", "transform": "diff", "lookback": 16, "horizon": 4,
        "val_fraction": 0.15, "test_fraction": 0.2}

#: MSE loss; test/mse, test/mae, their values at every horizon step and over the first 1 and 2 steps
TASK = {"name": "forecasting_horizons", "per_step": True, "horizons": [1, 2]}

SPEC = ReproductionSpec(
    paper="iTransformer: Inverted Transformers Are Effective for Time Series Forecasting",
    arxiv="2310.06625",
    claim=("Inverting a Transformer (one token per variate, attention across variates) lowers the forecasting "
           "MSE of the same Transformer with one token per time step."),
    paper_result="-38.9% average MSE for the vanilla Transformer when inverted (Table 2, lookback 96)",
    base={
        "name": "itransformer-macrodata",
        "data": DATA,
        "model": {"name": "itransformer"},
        "learning_rule": {"name": "backprop", "optimizer": "adam", "lr": 0.001},
        "trainer": {"epochs": 30, "batch_size": 32, "task": TASK},
    },
    arms={
        "temporal": {"model": {"name": "temporal_transformer", **ENCODER}},
        "inverted": {"model": {"name": "itransformer", **ENCODER}},
        "rlinear": {"model": {"name": "rlinear"}},
    },
    baseline_arm="temporal",
    method_arm="inverted",
    metric="test/mse",
    direction="lower",
    min_effect=0.0,
    seeds=[0, 1, 2],
    smoke={"trainer": {"max_steps": 3, "epochs": 1}},
    expected_minutes=2.0,
)
