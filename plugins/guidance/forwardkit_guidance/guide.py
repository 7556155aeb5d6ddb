"""The frozen guide network: built from a model spec with weights fixed by a seed, optionally trained first.

:func:`build_guide` is what :class:`~forwardkit_guidance.rule.GuidanceRule` and the similarity analyzers use, so
that the same :class:`~forwardkit_guidance.config.GuideConfig` always gives the same network. Around the build
(and the training run of a trained guide) the caller's global random state -- Python's, NumPy's and torch's,
CUDA's too -- is saved and restored: a run that builds a guide draws exactly the random numbers it would draw
without one (what makes ``alpha = 0`` reproduce plain training bit for bit).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch import nn

from forwardkit_guidance.config import GuideConfig

__all__ = ["build_guide", "freeze", "guide_experiment", "preserved_rng"]


@contextmanager
def preserved_rng() -> Iterator[None]:
    """Run the block and put every global random generator back as it was (Python, NumPy, torch, CUDA)."""
    py, np_state = random.getstate(), np.random.get_state()
    try:
        with torch.random.fork_rng(devices=range(torch.cuda.device_count()) if torch.cuda.is_initialized() else []):
            yield
    finally:
        random.setstate(py)
        np.random.set_state(np_state)


def freeze(model: nn.Module) -> nn.Module:
    """Eval mode (BatchNorm statistics and dropout frozen) and no gradients, in place; returns ``model``."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def guide_experiment(cfg: GuideConfig) -> dict[str, Any]:
    """The experiment that trains a guide: ``cfg.data``, ``cfg.model``, backprop with Adam ``cfg.lr``, seed
    ``cfg.seed``, on the CPU, writing nothing."""
    if cfg.data is None:
        raise ValueError("a trained guide needs data")
    trainer: dict[str, Any] = {"epochs": cfg.epochs, "batch_size": cfg.batch_size, "progress": "none",
                               "plots": False, "test_at_end": False, "eval_every": 0, "checkpoint_every": 0,
                               "device": "cpu"}
    if cfg.max_steps is not None:
        trainer["max_steps"] = cfg.max_steps
    return {"name": "guide", "data": cfg.data.to_dict(), "model": cfg.model.to_dict(exclude_unset=True),
            "learning_rule": {"name": "backprop", "optimizer": "adam", "lr": cfg.lr}, "trainer": trainer,
            "seed": cfg.seed}


def _model_fields(cfg: GuideConfig) -> dict[str, Any]:
    """Fields the guide's model class fills from ``cfg.data``'s metadata, except those its spec sets."""
    if cfg.data is None:
        return {}
    meta = cfg.data.build().metadata
    fill = getattr(cfg.model.component_class(), "fields_from_metadata", None)
    filled = dict(fill(meta)) if fill is not None else {}
    return {k: v for k, v in filled.items() if k not in cfg.model.config.model_fields_set}


def build_guide(cfg: GuideConfig, device: torch.device | str | None = None) -> tuple[nn.Module, dict[str, float]]:
    """The frozen guide of ``cfg`` on ``device`` and what its training measured (``{}`` untrained; trained: the
    final metrics of its run, e.g. ``val/accuracy``, without the ``train/`` timing figures)."""
    report: dict[str, float] = {}
    with preserved_rng():
        if cfg.trained:
            from forwardkit import run

            result = run(guide_experiment(cfg), write=False, verbose=False, rank=0, world_size=1)
            assert result.model is not None
            model: nn.Module = result.model
            # what it measured (val/..., steps), not its timing (train/samples_per_s differs run to run)
            report = {k: float(v) for k, v in result.final.items() if not k.startswith("train/")}
        else:
            fields = _model_fields(cfg)
            torch.manual_seed(cfg.seed)
            model = cfg.model.build(**fields)
    model = freeze(model)
    return (model.to(device) if device is not None else model), report
