"""The training engine: trainer, checkpoints, deterministic data order, logging, distributed launch."""

from forwardkit.engine.trainer import FitResult, Trainer, fit

run = fit  # ``forwardkit.run(experiment)``: design.md's name for training an experiment

__all__ = ["FitResult", "Trainer", "fit", "run"]
