"""The training engine: trainer, checkpoints, deterministic data order, logging, distributed launch,
multi-stage experiments and test-time learning."""

from __future__ import annotations

from typing import Any

from forwardkit.engine.stages import StagesResult, run_stages
from forwardkit.engine.trainer import FitResult, Trainer, fit


def run(experiment: Any, **kwargs: Any) -> FitResult | StagesResult:
    """``forwardkit.run(experiment)``: train an experiment, or run a multi-stage one (a mapping with
    ``stages``, or a :class:`~forwardkit.config.stages.MultiStageExperiment`); keyword arguments go to
    :func:`fit` or :func:`run_stages` (docs/training.md)."""
    from forwardkit.config.stages import MultiStageExperiment, is_multi_stage

    if isinstance(experiment, MultiStageExperiment) or is_multi_stage(experiment):
        return run_stages(experiment, **kwargs)
    return fit(experiment, **kwargs)


__all__ = ["FitResult", "StagesResult", "Trainer", "fit", "run", "run_stages"]
