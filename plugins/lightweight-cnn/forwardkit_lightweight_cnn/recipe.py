"""The paper's two-stage recipe as a forwardkit multi-stage experiment (torch-free: plain mappings).

Stage 1 (``dual``): ``dual_io_model`` trained by ``dual_io_rule`` (loss CE(A(x)) + CE(B(aug(x)))).
Stage 2 (the card's "transfer learning with progressive unfreezing") as two stages of the core's multi-stage runs:

* ``head``: a ``unified_model`` whose trunks are carried from stage 1 by name (``carry.include``: the two trunks;
  the stage-1 heads are left behind, the fusion head is new), the trunks frozen by the stage's ``freeze``; only
  the head trains, at the stage-1 learning rate;
* ``unfreeze``: the same model carried on, at the smaller fine-tuning rate, with ``progressive_unfreezing``
  (``epochs_head_only: 0``): one more layer group of each trunk per phase, top first, ``epochs_per_phase`` epochs
  each, until every layer trains. Without progressive unfreezing (the card's baseline (d)) everything is unfrozen
  at once for the same epochs.

The learning rate changes between the head-only phase and the unfreezing phases (card: 1e-3 then 3e-4), which a
callback cannot do to the builtin ``backprop`` rule (it sets its scheduled rate at every step); a stage boundary can.
:func:`scratch_experiment` is the one-stage baseline with the same total epochs.
"""

from __future__ import annotations

import copy
from typing import Any

#: the card's reference trunk (OUR design, not the paper's; see config.py)
REFERENCE_TRUNK: dict[str, Any] = {"widths": [8, 16, 24], "kernel": 3, "pool_after": [False, True, True],
                                   "batchnorm": False, "gap": True}
TRUNKS = ["branch_a.trunk", "branch_b.trunk"]


def unfreeze_groups(trunk: dict[str, Any], mode: str = "per_layer") -> int:
    """How many groups ``progressive_unfreezing`` makes of a trunk: its layers, or its max-pool blocks."""
    widths = trunk.get("widths", REFERENCE_TRUNK["widths"])
    if mode == "per_layer":
        return len(widths)
    pools = trunk.get("pool_after", REFERENCE_TRUNK["pool_after"])
    return 1 + sum(1 for p in pools[:-1] if p)


def two_stage_experiment(
    data: Any,
    *,
    trunk: dict[str, Any] | None = None,
    head_hidden: int = 96,
    stage1_epochs: int = 8,
    head_epochs: int = 2,
    epochs_per_phase: int = 2,
    lr: float = 1e-3,
    finetune_lr: float = 3e-4,
    batch_size: int = 64,
    augment: dict[str, Any] | None = None,
    progressive: bool = True,
    groups: str = "per_layer",
    seed: int = 0,
    compressors: list[Any] | None = None,
    trainer: dict[str, Any] | None = None,
    name: str = "lightweight-cnn",
) -> dict[str, Any]:
    """The multi-stage experiment (``forwardkit run`` / ``forwardkit.run_stages``) of the paper's recipe."""
    trunk = {**REFERENCE_TRUNK, **(trunk or {})}
    phases = unfreeze_groups(trunk, groups)
    unfreeze: dict[str, Any] = {"name": "unfreeze", "learning_rule": {"lr": finetune_lr},
                                "trainer": {"epochs": phases * epochs_per_phase}}
    if progressive:
        unfreeze["callbacks"] = [{"name": "progressive_unfreezing", "epochs_head_only": 0,
                                  "epochs_per_phase": epochs_per_phase, "groups": groups}]
    if compressors:
        unfreeze["compressors"] = copy.deepcopy(compressors)
    return {
        "name": name,
        "seed": seed,
        "base": {"data": copy.deepcopy(data), "trainer": {"batch_size": batch_size, **(trainer or {})}},
        "stages": [
            {"name": "dual", "model": {"name": "dual_io_model", **trunk},
             "learning_rule": {"name": "dual_io_rule", "optimizer": "adam", "lr": lr, **(augment or {})},
             "trainer": {"epochs": stage1_epochs}},
            {"name": "head", "model": {"name": "unified_model", **trunk, "head_hidden": head_hidden},
             "learning_rule": {"name": "backprop", "optimizer": "adam", "lr": lr},
             "carry": {"include": list(TRUNKS)}, "freeze": [f"{t}.*" for t in TRUNKS],
             "trainer": {"epochs": head_epochs}},
            unfreeze,
        ],
    }


def total_epochs(*, stage1_epochs: int = 8, head_epochs: int = 2, epochs_per_phase: int = 2,
                 trunk: dict[str, Any] | None = None, groups: str = "per_layer") -> int:
    """Epochs of the whole recipe: the budget a one-stage baseline gets."""
    return stage1_epochs + head_epochs + unfreeze_groups({**REFERENCE_TRUNK, **(trunk or {})}, groups) * \
        epochs_per_phase


def scratch_experiment(
    data: Any,
    *,
    model: str = "unified_model",
    trunk: dict[str, Any] | None = None,
    head_hidden: int = 96,
    epochs: int = 16,
    lr: float = 1e-3,
    batch_size: int = 64,
    augment: dict[str, Any] | None = None,
    seed: int = 0,
    compressors: list[Any] | None = None,
    trainer: dict[str, Any] | None = None,
    name: str = "lightweight-cnn-scratch",
) -> dict[str, Any]:
    """A one-stage multi-stage experiment: ``model`` trained end to end by Adam (with ``lightweight_augment``
    when ``augment`` is given), the card's baselines (a)-(c)."""
    spec: dict[str, Any] = {"name": model, **{**REFERENCE_TRUNK, **(trunk or {})}}
    if model == "unified_model":
        spec["head_hidden"] = head_hidden
    stage: dict[str, Any] = {"name": "scratch", "model": spec,
                             "learning_rule": {"name": "backprop", "optimizer": "adam", "lr": lr},
                             "trainer": {"epochs": epochs}}
    if augment is not None:
        stage["callbacks"] = [{"name": "lightweight_augment", **augment}]
    if compressors:
        stage["compressors"] = copy.deepcopy(compressors)
    return {"name": name, "seed": seed,
            "base": {"data": copy.deepcopy(data), "trainer": {"batch_size": batch_size, **(trainer or {})}},
            "stages": [stage]}
