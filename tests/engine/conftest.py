"""Small experiments for the engine tests (builtin components only, seconds each)."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from safetensors.torch import load_file


def mlp_experiment(**trainer: Any) -> dict[str, Any]:
    return {
        "name": "unit",
        "data": {"name": "blobs", "n_samples": 600, "clusters_per_class": 2},
        "model": {"name": "mlp", "hidden": [32, 32], "dropout": 0.1},
        "learning_rule": {"name": "backprop", "lr": 0.01, "schedule": "cosine", "warmup_steps": 3},
        "callbacks": [{"name": "early_stopping", "patience": 50}, "lr_monitor", "nan_guard"],
        "trainer": {"epochs": 3, "batch_size": 32, "progress": "none", "log_every": 5, **trainer},
        "seed": 7,
    }


def final_weights(run_dir) -> dict[str, torch.Tensor]:
    latest = (run_dir / "checkpoints" / "latest").read_text().strip()
    return load_file(str(run_dir / "checkpoints" / latest / "model.safetensors"))


@pytest.fixture
def experiment():
    return mlp_experiment


class Interrupted(BaseException):
    """A kill right after a checkpoint (a BaseException, so that no handler of the run catches it)."""


def interrupted_after(step: int) -> type:
    """A Trainer that stops with :class:`Interrupted` right after writing its checkpoint of ``step``."""
    from forwardkit.engine.trainer import Trainer

    class InterruptedTrainer(Trainer):
        def save_checkpoint(self, epoch, batch_in_epoch, **kwargs):
            path = super().save_checkpoint(epoch, batch_in_epoch, **kwargs)
            if self.ctx.step == step:
                raise Interrupted
            return path

    return InterruptedTrainer
