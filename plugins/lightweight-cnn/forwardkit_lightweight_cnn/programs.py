"""The reproduction's program arm: one arm of the card's miniature experiment, as a multi-stage run.

``run_arm(config, *, seed, smoke)`` builds the arm's multi-stage experiment (:mod:`.recipe`), runs it in memory
(``forwardkit.run_stages(..., write=False)``) with ``seed`` as the experiment seed (the data split stays the
data's own), measures the final model with ``size_report`` and returns the figures the conditions read:

* ``test/accuracy``: the last stage's test accuracy (``<stage>/test/accuracy`` for every stage too);
* ``params``: parameters of the final model, counted; ``params_configured``: the analytic count of its config
  (:mod:`.sizes`: sum over convs ``out*in*k*k + out``, over linears ``out*in + out``);
* ``raw_bytes``, ``torch_save_bytes``, ``safetensors_bytes``, ``macs``, ``latency_ms`` (median per image, batch 1),
  ``latency_b256_ms`` (median per forward of 256 images; 8 with ``smoke``).

Latencies measured inside a reproduction share the machine with other runs: they are exploratory; the cost script
(``benchmarks/cost.py``) measures them alone.
"""

from __future__ import annotations

import copy
from typing import Any

from forwardkit_lightweight_cnn.recipe import scratch_experiment, total_epochs, two_stage_experiment

#: what --smoke changes: a couple of steps per stage, few latency runs
SMOKE_TRAINER = {"max_steps": 2, "epochs": 1}
#: --smoke trains on generated 28x28 images (the builtin blobs), which build in milliseconds
SMOKE_DATA = {"name": "blobs", "image_size": 28, "image_channels": 1, "num_classes": 10, "n_samples": 120,
              "val_fraction": 0.0, "test_fraction": 0.25}


def arm_experiment(config: dict[str, Any], *, seed: int, smoke: bool = False) -> dict[str, Any]:
    """The multi-stage experiment of one arm (``recipe``: ``two_stage`` or ``scratch``)."""
    cfg = copy.deepcopy(config)
    budget = cfg.get("budget", {})
    common = {"trunk": cfg.get("trunk"), "lr": budget.get("lr", 1e-3), "batch_size": budget.get("batch_size", 64),
              "seed": seed, "trainer": {"eval_every": 0, "checkpoint_every": 0, "progress": "none", "plots": False,
                                        "log_every": 1000}}
    stage_epochs = {k: budget.get(k, d) for k, d in (("stage1_epochs", 8), ("head_epochs", 2),
                                                      ("epochs_per_phase", 2))}
    if cfg["recipe"] == "two_stage":
        exp = two_stage_experiment(cfg["data"], **common, **stage_epochs, finetune_lr=budget.get("finetune_lr", 3e-4),
                                   head_hidden=cfg.get("head_hidden", 96), augment=cfg.get("augment") or {},
                                   progressive=bool(cfg.get("progressive", True)),
                                   groups=cfg.get("groups", "per_layer"))
    elif cfg["recipe"] == "scratch":
        epochs = total_epochs(**stage_epochs, trunk=cfg.get("trunk"), groups=cfg.get("groups", "per_layer"))
        exp = scratch_experiment(cfg["data"], **common, model=cfg.get("model", "unified_model"),
                                 head_hidden=cfg.get("head_hidden", 96), epochs=epochs,
                                 augment=cfg.get("augment") if cfg.get("augment_batches") else None)
    else:
        raise ValueError(f"recipe must be 'two_stage' or 'scratch', got {cfg['recipe']!r}")
    if smoke:
        for stage in exp["stages"]:
            stage["trainer"] = {**stage.get("trainer", {}), **SMOKE_TRAINER}
        exp["base"]["data"] = dict(SMOKE_DATA)
    return exp


def configured_parameters(model: Any) -> int:
    """The analytic parameter count of a model of this plugin from its config alone."""
    from forwardkit_lightweight_cnn import sizes

    name = type(model).__name__
    fn = {"UnifiedModel": sizes.unified_parameters, "TinyBranchCNN": sizes.branch_parameters,
          "DualIOModel": sizes.dual_parameters}[name]
    return int(fn(model.config))


def run_arm(config: dict[str, Any], *, seed: int, smoke: bool = False) -> dict[str, float]:
    """Run one arm (see the module docstring); its figures."""
    import forwardkit
    from forwardkit_lightweight_cnn.config import SizeReportConfig
    from forwardkit_lightweight_cnn.size_report import measure

    exp = arm_experiment(config, seed=seed, smoke=smoke)
    result = forwardkit.run_stages(exp, write=False, verbose=False)
    model = result.model
    assert model is not None
    last = exp["stages"][-1]["name"]
    figures: dict[str, float] = {"test/accuracy": float(result.final[f"{last}/test/accuracy"])}
    for stage in exp["stages"]:
        key = f"{stage['name']}/test/accuracy"
        if key in result.final:
            figures[key] = float(result.final[key])
    runs = 5 if smoke else int(config.get("latency_runs", 200))
    one = measure(model, None, SizeReportConfig(latency_runs=runs, latency_warmup=2 if smoke else 10, threads=1))
    many = measure(model, None, SizeReportConfig(latency_runs=max(2, runs // 20), latency_warmup=1,
                                                 latency_batch=8 if smoke else 256, threads=1))
    figures.update({"params": float(one["parameters"]), "params_configured": float(configured_parameters(model)),
                    "raw_bytes": float(one["raw_param_bytes"]), "torch_save_bytes": float(one["torch_save_bytes"]),
                    "safetensors_bytes": float(one["safetensors_bytes"]), "macs": float(one["macs"]),
                    "latency_ms": float(one["latency_per_image_ms"]), "latency_b256_ms": float(many["latency_ms"])})
    return figures
