"""Tasks a plugin can build on: the standard classification, regression and forecasting tasks.

| module | what it holds |
|---|---|
| :mod:`forwardkit.tasks.standard` | :class:`Classification`, :class:`Regression`, :class:`Forecasting` |
| :mod:`forwardkit.tasks.config` | their configs (torch-free) |

The :class:`~forwardkit.interfaces.Task` interface and the metric helpers ``accumulate`` / ``averages``
are in :mod:`forwardkit.interfaces.task`. Names load on first use, so a plugin's torch-free config
module may import ``forwardkit.tasks.ClassificationConfig`` without importing torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from forwardkit.lazy import lazy_names

_LAZY: dict[str, str] = {
    "Classification": "forwardkit.tasks.standard",
    "Regression": "forwardkit.tasks.standard",
    "Forecasting": "forwardkit.tasks.standard",
    "ClassificationConfig": "forwardkit.tasks.config",
    "RegressionConfig": "forwardkit.tasks.config",
    "ForecastingConfig": "forwardkit.tasks.config",
}

__all__ = ["Classification", "ClassificationConfig", "Forecasting", "ForecastingConfig", "Regression",
           "RegressionConfig"]


__getattr__, __dir__ = lazy_names(__name__, _LAZY, __all__)


if TYPE_CHECKING:  # for type checkers and IDEs only
    from forwardkit.tasks.config import ClassificationConfig, ForecastingConfig, RegressionConfig
    from forwardkit.tasks.standard import Classification, Forecasting, Regression
