"""Configs of the standard tasks (torch-free): classification, regression, forecasting."""

from __future__ import annotations

from pydantic import Field

from forwardkit.config import ComponentConfig


class ClassificationConfig(ComponentConfig):
    """Cross-entropy on logits ``(B, K)`` against integer labels ``(B,)``; accuracy and top-k."""

    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0)
    top_k: int = Field(5, ge=2, description="also report top-k accuracy when there are more than k classes")


class RegressionConfig(ComponentConfig):
    """Mean squared error on outputs reshaped to the target's shape; MAE reported too."""


class ForecastingConfig(ComponentConfig):
    """MSE over (horizon, variates) windows; MAE reported too (metrics on the standardised scale)."""
