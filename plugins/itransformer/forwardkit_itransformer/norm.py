"""Per-window, per-variate normalisation (paper §3.1 ``use_norm``, from Non-stationary Transformers): the core's
:func:`forwardkit.data.forecasting.normalize_windows` (mean over time, detached; ``sigma`` after centring, as
in the official code) and its inverse."""

from __future__ import annotations

from forwardkit.data.forecasting import denormalize_windows as denormalize
from forwardkit.data.forecasting import normalize_windows as normalize

__all__ = ["denormalize", "normalize"]
