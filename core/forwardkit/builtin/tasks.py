"""The builtin tasks: re-exported from the public :mod:`forwardkit.tasks` (registered by the builtin plugin)."""

from forwardkit.interfaces.task import accumulate, averages
from forwardkit.tasks.standard import Classification, Forecasting, Regression

__all__ = ["Classification", "Forecasting", "Regression", "accumulate", "averages"]
