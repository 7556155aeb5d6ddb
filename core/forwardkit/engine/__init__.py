"""The training engine: trainer, checkpoints, deterministic data order, logging, distributed launch."""

from forwardkit.engine.trainer import FitResult, Trainer, fit

run = fit  # ``forwardkit.run(experiment)``: the documented name for training an experiment (docs/training.md)

__all__ = ["FitResult", "Trainer", "fit", "run"]
