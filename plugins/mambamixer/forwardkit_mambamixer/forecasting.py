"""What the forecasters share, from the core (:mod:`forwardkit.data.forecasting`): RevIN without its affine part
(Kim et al. 2022, RLinear's default), filling lookback/horizon/variates from the data, example batches."""

from __future__ import annotations

from forwardkit.data.forecasting import EXAMPLE_VARIATES, example_windows, forecaster_fields, select_targets
from forwardkit.data.forecasting import denormalize_windows as revin_denormalize
from forwardkit.data.forecasting import normalize_windows as revin_normalize

__all__ = ["EXAMPLE_VARIATES", "example_windows", "forecaster_fields", "revin_denormalize", "revin_normalize",
           "select_targets"]
