"""Hyper-parameter sweeps with Optuna (``forwardkit sweep``): a search space over an experiment's fields,
TPE sampling, pruning fed by the trainer's evaluations, a study kept in a database so that a killed sweep
resumes, trials run here or as Ray tasks, and a leaderboard, the best experiment and plots at the end.

Optuna is an optional extra (``pip install "forwardkit[sweep]"``); see docs/sweep.md.
"""

from __future__ import annotations

import importlib.util

from forwardkit.errors import ForwardkitError

INSTALL_HINT = 'forwardkit sweep needs Optuna, which is not installed: pip install "forwardkit[sweep]"'


def optuna_available() -> bool:
    """Whether Optuna can be imported (checked without importing it)."""
    return importlib.util.find_spec("optuna") is not None


def require_optuna() -> None:
    """A :class:`ForwardkitError` with the install hint when Optuna is missing."""
    if not optuna_available():
        raise ForwardkitError(INSTALL_HINT)
