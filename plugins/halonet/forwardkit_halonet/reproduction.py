"""HaloNet's miniature reproduction (spec card ``papers/halonet.md``): MF-Tiny on 5000 MNIST digits.

Stage 1 (14 x 14) is the arm's local mixer (halo b=7 h=2, its ablations, or SASA k=11), stage 2 (7 x 7) is
``halo_attention(b=7, h=0)`` (one block: global), stages 3-4 are the builtin global ``attention``; the ``global``
arm uses ``attention`` in every stage. The ``cost`` arm times the stage-1 mixers (forward + backward) at 14 x 14 x 16
and at 28/56/112 x 64 channels with 8 heads, in one process (:mod:`forwardkit_halonet.cost`).
"""

from __future__ import annotations

from typing import Any

from forwardkit.reproduce.spec import ReproductionSpec

EPOCHS = 8          # the card's budget, every arm alike

ATTN = {"name": "attention", "head_dim": 16}
STAGE2 = {"name": "halo_attention", "block_size": 7, "halo_size": 0, "num_heads": 2}


def mixers(stage1: dict[str, Any]) -> list[Any]:
    """The four stages' token mixers with ``stage1`` in the first stage."""
    return [stage1, STAGE2, ATTN, ATTN]


HALO = {"name": "halo_attention", "block_size": 7, "halo_size": 2, "num_heads": 1}

BASE: dict[str, Any] = {
    "name": "halonet",
    "data": {"name": "mnist5k", "val_fraction": 0.0, "test_fraction": 0.2, "seed": 0},
    "model": {"name": "metaformer", "depths": [1, 1, 2, 1], "dims": [16, 32, 48, 64], "stem_stride": 2,
              "token_mixers": mixers(HALO)},
    "learning_rule": {"name": "backprop", "optimizer": "adamw", "lr": 2e-3, "weight_decay": 0.05,
                      "schedule": "cosine", "warmup_epochs": 0},
    "trainer": {"epochs": EPOCHS, "batch_size": 128, "eval_every": 0, "checkpoint_every": 0, "log_every": 50},
}

PASS_BAR = (
    "Expected: halo(h=2) ~ SASA ~ global in accuracy (within one std), halo faster than SASA at equal window; h=0 "
    "slightly worse (block seams); no rel-pos worse. Pass bar: halo >= SASA - 0.3% and halo latency < SASA latency "
    "at 56x56. \"Does not reproduce at this scale\": h=0 equals halo within noise and no-rel-pos equals full - "
    "report it (MNIST is forgiving)."
)

COST = {
    "program": "forwardkit_halonet.cost:cost_figures",
    "config": {"grids": [[14, 16, 1, 8], [28, 64, 8, 4], [56, 64, 8, 2], [112, 64, 8, 1]], "block": 7, "halo": 2,
               "repeats": 9, "warmup": 2, "global_max_grid": 56},
    "smoke": {"grids": [[14, 16, 1, 2], [56, 64, 8, 1]], "repeats": 1, "warmup": 0, "global_max_grid": 14},
}

SPEC = ReproductionSpec(
    paper="Scaling Local Self-Attention for Parameter Efficient Visual Backbones",
    arxiv="2103.12731",
    claim=(
        "Blocked local self-attention with a halo matches centred-window SASA in accuracy while being faster at "
        "equal window; a non-zero halo helps over non-overlapping blocks (h = 0); relative position embeddings "
        "matter"
    ),
    paper_result="HaloNet-H7 about 84.9% ImageNet top-1 at 600 px (spec card, from memory, unverified); the paper "
    "reports halo attention faster than SASA-style per-pixel windows on accelerators",
    pass_bar=PASS_BAR,
    deviations=[
        "Budget: the card's 8 epochs for every arm. A pilot step (batch 128, one thread, forward+backward of the "
        "whole model) took 0.22 s with halo, 0.80 s with SASA k=11 and 0.10 s with global attention, so the 15 "
        "runs take about 10 minutes on 2 workers.",
        "Schedule: cosine without warm-up (the card names AdamW 2e-3, wd 0.05, batch 128 but no schedule).",
        "Latency is CPU forward+backward of the mixer alone (card: same); global attention is not timed at 112x112 "
        "(N^2 logits too large for the shared machine); peak memory is not measured.",
        "The card's 'within one std' expectations are encoded as std_rule conditions with k = 1 (pooled std); its "
        "failure sentence (h=0 equals halo AND no-rel-pos equals full) as one `any` of the two ablations beating "
        "by more than one std, so the run does not reproduce only when neither ablation shows.",
    ],
    base=BASE,
    arms={
        "halo": {},
        "halo_h0": {"model": {"token_mixers": mixers({**HALO, "halo_size": 0})}},
        "halo_norel": {"model": {"token_mixers": mixers({**HALO, "rel_pos": False})}},
        "sasa": {"model": {"token_mixers": mixers({"name": "sasa_attention", "kernel_size": 11, "num_heads": 1})}},
        "global": {"model": {"token_mixers": [ATTN, ATTN, ATTN, ATTN]}},
        "cost": COST,
    },
    conditions=[
        {"kind": "compare", "method": "halo", "baseline": "sasa", "test": "non_inferiority", "margin": 0.003,
         "label": "halo >= SASA - 0.3% (test accuracy)"},
        {"kind": "threshold", "figure": {"arm": "cost", "metric": "halo_over_sasa_56"}, "op": "<", "value": 1.0,
         "label": "halo latency < SASA latency at 56x56"},
        {"kind": "any", "label": "not: h=0 equals halo within noise and no-rel-pos equals full",
         "conditions": [
             {"kind": "std_rule", "method": "halo", "baseline": "halo_h0", "test": "beats", "k": 1.0,
              "label": "halo beats h=0 by more than one pooled std"},
             {"kind": "std_rule", "method": "halo", "baseline": "halo_norel", "test": "beats", "k": 1.0,
              "label": "halo beats no-rel-pos by more than one pooled std"}]},
        {"kind": "std_rule", "method": "halo", "baseline": "global", "test": "not_worse", "k": 1.0,
         "label": "halo ~ global in accuracy (not below by more than one std)"},
    ],
    exclusive=["cost"],
    smoke={"data": {"name": "digits"}, "trainer": {"epochs": 1, "max_steps": 2, "batch_size": 32}},
    expected_minutes=7.0,
)
