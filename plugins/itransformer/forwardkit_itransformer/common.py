"""What the three forecasters share lives in the core (:mod:`forwardkit.data.forecasting`); this module names it
for the plugin's models."""

from __future__ import annotations

from forwardkit.data.forecasting import EXAMPLE_VARIATES, example_windows, forecaster_fields, select_targets

__all__ = ["EXAMPLE_VARIATES", "example_windows", "forecaster_fields", "select_targets"]
