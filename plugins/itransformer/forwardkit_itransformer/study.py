"""Program arms of the reproduction: measurements that are more than one training run.

:func:`partial_variate` is the card's "Extra" (paper §4.3 "efficient training", Fig. 8): the inverted model
trained on all N variates and, in the same process, with ``partial_variate_training`` (a random
``fraction`` of the variates per batch, one subset per batch, all variates at test).
"""

from __future__ import annotations

from typing import Any

from forwardkit.reproduce.spec import deep_merge


def partial_experiments(experiment: dict[str, Any], *, seed: int, fraction: float) -> dict[str, dict[str, Any]]:
    """The ``full`` and ``partial`` experiments of one seed: identical except for the callback, whose subset
    generator is seeded with the run's seed."""
    full = deep_merge(experiment, {"seed": seed, "name": f"{experiment.get('name', 'itransformer')}-full-s{seed}"})
    full["trainer"] = deep_merge(full.get("trainer", {}), {"progress": "none", "plots": False})
    callback = {"name": "partial_variate_training", "fraction": fraction, "seed": seed}
    partial = deep_merge(full, {"name": full["name"].replace("-full-", "-partial-")})
    partial["callbacks"] = [*full.get("callbacks", []), callback]
    return {"full": full, "partial": partial}


def _fit(experiment: dict[str, Any]) -> dict[str, float]:
    from forwardkit.engine.trainer import Trainer

    return {k: float(v) for k, v in Trainer(experiment, write=False, verbose=False).fit().final.items()}


def partial_variate(config: dict[str, Any], *, seed: int, smoke: bool) -> dict[str, float]:
    """Test MSE/MAE of partial-variate training, of full training, their ratio and the training speed-up.

    Returns ``test/mse`` and ``test/mae`` (partial), ``full/test/mse`` and ``full/test/mae``, ``mse_ratio``
    = partial / full test MSE, and ``speedup`` = partial / full training throughput (windows per second
    of the training loop, the trainer's ``train/samples_per_s``). The two runs alternate order by seed so
    that machine load affects both alike. ``smoke`` is already merged into ``config`` by the runner.
    """
    del smoke
    arms = partial_experiments(config["experiment"], seed=seed, fraction=float(config.get("fraction", 0.2)))
    order = ("full", "partial") if seed % 2 == 0 else ("partial", "full")
    finals = {name: _fit(arms[name]) for name in order}
    full, part = finals["full"], finals["partial"]
    return {
        "test/mse": part["test/mse"], "test/mae": part["test/mae"],
        "full/test/mse": full["test/mse"], "full/test/mae": full["test/mae"],
        "mse_ratio": part["test/mse"] / full["test/mse"],
        "speedup": part["train/samples_per_s"] / full["train/samples_per_s"],
    }
