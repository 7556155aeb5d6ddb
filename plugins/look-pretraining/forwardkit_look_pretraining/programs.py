"""The reproduction's program arm: one arm of the card's miniature, run as its multi-stage experiment.

``run_arm(config, *, seed, smoke)`` builds the experiment of :func:`~.recipe.pretrain_probe_experiment` from
``config`` (``pretrain`` and its keyword arguments), runs it in memory (``forwardkit.run_stages(..., write=False)``)
with ``seed`` as the experiment seed (model initialisation, data order, the probe's 50-per-digit subset; the
train/test split stays the data's own) and returns every final metric as ``<stage>/<metric>``:
``probe/test/accuracy`` (the 10-way linear probe), ``pretrain/test/accuracy`` (upstream parity accuracy: LOOK's
kNN over its bank, CE's head), ``probe/analysis/intra_class_modes/<number>``.
"""

from __future__ import annotations

import copy
from typing import Any

from forwardkit_look_pretraining.recipe import pretrain_probe_experiment

#: --smoke: scikit-learn's 8x8 digits, a narrow CNN, two steps per stage
SMOKE: dict[str, Any] = {"epochs": 1, "probe_epochs": 1, "batch_size": 32, "probe_batch_size": 20,
                         "probe_per_class": 4, "data": {"source": "sklearn_digits", "test_fraction": 0.3},
                         "model": {"widths": [4, 8, 8, 8], "image_size": 8}}


def arm_experiment(config: dict[str, Any], *, seed: int, smoke: bool = False) -> dict[str, Any]:
    """The multi-stage experiment of one arm."""
    cfg = copy.deepcopy(config)
    if smoke:
        cfg.update({k: v for k, v in SMOKE.items() if k not in ("data", "model")})
        cfg["data"] = {**cfg.get("data", {}), **SMOKE["data"]}
        cfg["model"] = {**cfg.get("model", {}), **SMOKE["model"]}
    exp = pretrain_probe_experiment(seed=seed, **cfg)
    if smoke:
        for stage in exp["stages"]:
            stage.setdefault("trainer", {})["max_steps"] = 2
    for stage in exp["stages"]:
        stage.setdefault("trainer", {})["progress"] = "none"
    return exp


def run_arm(config: dict[str, Any], *, seed: int, smoke: bool = False) -> dict[str, float]:
    """Run one arm (see the module docstring); its figures."""
    import forwardkit

    exp = arm_experiment(config, seed=seed, smoke=smoke)
    result = forwardkit.run_stages(exp, write=False, verbose=False)
    return {k: float(v) for k, v in result.final.items() if isinstance(v, int | float)}
