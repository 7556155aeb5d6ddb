"""The miniature's arms as multi-stage experiments (pre-train, then fine-tune) and the program arm that runs one.

An arm is ``{"phases": [...] | None, ...budget}``: ``phases`` is the pre-training schedule of the
``mixture_token_prediction`` rule (None: no pre-training, the scratch baseline, whose only stage is the
fine-tuning). The experiment (:func:`arm_experiment`) is one ``MultiStageExperiment``:

* ``pretrain``: ``synthetic_membranes`` with ``role: pretrain`` (unlabelled images), the U-Net, the rule;
* ``finetune``: the same data generator with ``role: finetune`` (the few labelled images and the test split),
  the builtin ``backprop`` (Adam) on the ``em_boundary`` task (BCE), the pre-trained weights carried except the
  output convolution (``head``, official: the affinity head is new) and the next-token head.

:func:`run_arm` runs it in memory with ``forwardkit.run_stages`` and returns the fine-tuned model's test
figures (``test/dice``, ``test/arand``, ``test/voi``, ``test/loss``) and each stage's steps.
"""

from __future__ import annotations

import copy
from typing import Any

#: the card's 2-D miniature at half resolution: 32 x 32 images (the card: 64 x 64), i.e. the card's images
#: down-sampled 2x: the same 12 cells per image, 1 px membranes (2 px at 64), blur 0.5 px (1 px at 64), the
#: noise of a 2 x 2 average (Gaussian std 0.15 / 2, Poisson counts x 4)
DATA: dict[str, Any] = {"name": "synthetic_membranes", "size": 32, "cells_per_image": 12.0, "boundary_width": 1,
                        "blur_sigma": 0.5, "noise_std": 0.075, "photons": 240.0, "seed": 0}
#: patch 4 x 4 on 32 x 32: K = 64 tokens, as the card's 8 x 8 patches on 64 x 64
PATCH = [4, 4]
MODEL: dict[str, Any] = {"name": "tokenunify_unet", "widths": [8, 16, 32, 64]}
BUDGET: dict[str, Any] = {"n_unlabelled": 2000, "n_labelled": 64, "n_test": 200, "pretrain_epochs": 4,
                          "finetune_epochs": 40, "batch_size": 32, "lr": 1e-3, "finetune_lr": 1e-3}
TRAINER: dict[str, Any] = {"progress": "none", "plots": False, "checkpoint_every": 0, "log_every": 1000}
SMOKE: dict[str, Any] = {"n_unlabelled": 16, "n_labelled": 8, "n_test": 8, "pretrain_epochs": 1,
                         "finetune_epochs": 1, "batch_size": 8}
SMOKE_DATA: dict[str, Any] = {"size": 16, "cells_per_image": 4.0}
SMOKE_MODEL: dict[str, Any] = {"widths": [4, 8, 16]}

PHASES: dict[str, list[dict[str, Any]] | None] = {
    "scratch": None,
    "mae": [{"epochs_frac": 1.0, "objectives": ["random"]}],
    "tokenunify": [{"epochs_frac": 0.5, "objectives": ["random"]},
                   {"epochs_frac": 0.5, "objectives": ["next", "next_all"]}],
    "next_only": [{"epochs_frac": 1.0, "objectives": ["next"]}],
    "next_all_only": [{"epochs_frac": 1.0, "objectives": ["next_all"]}],
}


def arm_experiment(config: dict[str, Any], *, seed: int = 0, smoke: bool = False) -> dict[str, Any]:
    """The multi-stage experiment of one arm (see the module docstring)."""
    cfg = copy.deepcopy(config)
    budget = {**BUDGET, **cfg.get("budget", {}), **(SMOKE if smoke else {})}
    data = {**DATA, **cfg.get("data", {}), **(SMOKE_DATA if smoke else {})}
    model = {**MODEL, **cfg.get("model", {}), **(SMOKE_MODEL if smoke else {})}
    trainer = {**TRAINER, "batch_size": budget["batch_size"]}
    rule: dict[str, Any] = {"name": "mixture_token_prediction", "patch": list(cfg.get("patch", PATCH)),
                            "lr": budget["lr"], **cfg.get("rule", {})}
    phases = cfg.get("phases")
    finetune: dict[str, Any] = {
        "name": "finetune",
        "data": {"role": "finetune", "n_labelled": budget["n_labelled"], "n_test": budget["n_test"]},
        "learning_rule": {"name": "backprop", "optimizer": "adam", "lr": budget["finetune_lr"]},
        "trainer": {"epochs": budget["finetune_epochs"]},
    }
    if phases is None:  # scratch: fine-tuning only, from the seed's initialisation
        base = {"data": {**data, "role": "finetune"}, "model": model, "trainer": trainer}
        return {"name": "tokenunify-scratch", "seed": seed, "base": base, "stages": [finetune]}
    rule["phases"] = phases
    base = {"data": {**data, "role": "pretrain", "n_unlabelled": budget["n_unlabelled"]}, "model": model,
            "learning_rule": rule, "trainer": {**trainer, "epochs": budget["pretrain_epochs"], "test_at_end": False}}
    finetune["trainer"]["test_at_end"] = True
    finetune["carry"] = {"exclude": ["head", "next_token_head"]}
    return {"name": "tokenunify-pretrain-finetune", "seed": seed, "base": base,
            "stages": [{"name": "pretrain"}, finetune]}


def run_arm(config: dict[str, Any], *, seed: int, smoke: bool = False) -> dict[str, float]:
    """Run one arm's multi-stage experiment in memory; the fine-tuned model's test figures and the steps."""
    import forwardkit

    exp = arm_experiment(config, seed=seed, smoke=smoke)
    result = forwardkit.run_stages(exp, write=False, verbose=False)
    figures: dict[str, float] = {}
    for key in ("dice", "arand", "voi", "loss"):
        figures[f"test/{key}"] = float(result.final[f"finetune/test/{key}"])
    for stage in exp["stages"]:
        figures[f"{stage['name']}/steps"] = float(result.final[f"{stage['name']}/steps"])
    return figures
