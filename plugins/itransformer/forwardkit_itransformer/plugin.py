"""Registration of the itransformer components (no torch import here: only import paths)."""

from __future__ import annotations

from forwardkit.hookspecs import hookimpl
from forwardkit.registry import Paper, Registrar

PAPER = Paper(
    title="iTransformer: Inverted Transformers Are Effective for Time Series Forecasting",
    arxiv="2310.06625",
    url="https://arxiv.org/abs/2310.06625",
    year=2024,
)
_PKG = "forwardkit_itransformer"
_CFG = f"{_PKG}.config"


@hookimpl
def forwardkit_register(registry: Registrar) -> None:
    add = registry.add
    add("model", "itransformer", target=f"{_PKG}.inverted:InvertedForecaster",
        config=f"{_CFG}:InvertedForecasterConfig",
        summary="inverted Transformer forecaster: one token per variate, attention across variates",
        paper=PAPER, functional=f"{_PKG}.inverted:invert_embed")
    add("model", "temporal_transformer", target=f"{_PKG}.temporal:TemporalTokenForecaster",
        config=f"{_CFG}:TemporalTokenForecasterConfig",
        summary="vanilla Transformer forecaster: one token per time step (iTransformer's baseline)", paper=PAPER)
    add("model", "rlinear", target=f"{_PKG}.linear:LinearBaseline", config=f"{_CFG}:LinearBaselineConfig",
        summary="RLinear-style baseline: a shared Linear(lookback -> horizon) per normalised variate", paper=PAPER)
    add("dataset", "lagged_multivariate", target=f"{_PKG}.data:LaggedMultivariateDataset",
        config=f"{_CFG}:LaggedMultivariateConfig",
        summary="synthetic variates that are time-lagged, scaled copies of a few shared drivers (forecasting)",
        paper=PAPER, functional=f"{_PKG}.data:lagged_multivariate")
    add("callback", "partial_variate_training", target=f"{_PKG}.partial:PartialVariateTraining",
        config=f"{_CFG}:PartialVariateConfig",
        summary="efficient training: each batch keeps one random subset of the variates", paper=PAPER,
        functional=f"{_PKG}.partial:select_variates")
    add("analyzer", "variate_attention", target=f"{_PKG}.analyzer:VariateAttentionAnalyzer",
        config=f"{_CFG}:VariateAttentionConfig",
        summary="correlation of each layer's variate attention scores with lookback and future correlations",
        paper=PAPER)
    add("task", "forecasting_horizons", target=f"{_PKG}.task:HorizonForecasting",
        config=f"{_CFG}:HorizonForecastingConfig",
        summary="forecasting (MSE loss) with MSE and MAE reported at every horizon step", paper=PAPER,
        functional=f"{_PKG}.task:horizon_errors")
    registry.add_reproduction(spec=f"{_PKG}.reproduction:SPEC")
