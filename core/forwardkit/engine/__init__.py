"""The training engine: trainer, checkpoints, deterministic data order, logging, distributed launch."""

from forwardkit.engine.trainer import FitResult, Trainer, fit

__all__ = ["FitResult", "Trainer", "fit"]
