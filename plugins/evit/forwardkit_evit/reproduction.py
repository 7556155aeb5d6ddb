"""The miniature reproduction of EViT (torch-free; run by ``forwardkit reproduce evit``).

Four arms on MNIST-5k, the same ViT (patch 4 on 28x28 = 49 patches, 6 blocks, width 64), the same recipe; only the
token reorganisation differs: ``vit`` (none), ``evit`` (kappa 0.7 at blocks 1, 3, 4 with fusion), ``evit_k05``
(kappa 0.5) and ``random_k05`` (kappa 0.5, kept tokens drawn at random instead of by class attention). EViT arms
use the keep-rate warm-up compressed from the card (kappa 1 for 1 epoch, cosine to the base over 3, of 8).

The verdict tests the paper's headline as a non-inferiority claim: ``evit`` (kappa 0.7) against ``vit``, at most
1 point worse (the card's tolerance) on test accuracy, paired by seed (the arms of a seed share its data split and
initial weights, and keep_rate adds no parameters). ``evit_k05`` vs ``random_k05`` (does selection by class
attention beat random selection at the same keep rate?) is reported next to it in the README.
"""

from __future__ import annotations

from forwardkit.reproduce.spec import ReproductionSpec

_SCHEDULE = {"name": "evit_keep_rate_schedule", "start_epoch": 1.0, "shrink_epochs": 3.0}

SPEC = ReproductionSpec(
    paper="Not All Patches are What You Need: Expediting Vision Transformers via Token Reorganizations",
    arxiv="2202.07800",
    claim=(
        "Keeping the patch tokens the class token attends to most (and fusing the rest) preserves accuracy: at the "
        "same keep rate, selection by class attention beats random selection (kappa 0.5); at kappa 0.7 EViT stays "
        "close to the plain ViT while cutting ~1/3 of the MACs"
    ),
    paper_result=(
        "EViT-DeiT-S kappa 0.7: 79.5% vs DeiT-S 79.8% top-1 (-0.3 pt) at 3.0 vs 4.6 GMACs, +50% GPU throughput; "
        "attentive beats random selection (ablation recalled by the spec card, number not verified)"
    ),
    base={
        "data": {"name": "mnist5k", "val_fraction": 0.1, "test_fraction": 0.2},
        "model": {"name": "evit_vit", "dim": 64, "depth": 6, "num_heads": 2, "patch_size": 4, "drop_loc": [1, 3, 4],
                  "keep_rate": 1.0},
        "learning_rule": {"name": "backprop", "optimizer": "adamw", "lr": 5e-4, "weight_decay": 0.05,
                          "schedule": "cosine", "warmup_epochs": 0.5},
        "trainer": {"epochs": 8, "batch_size": 32},
    },
    arms={
        "vit": {},
        "evit": {"model": {"keep_rate": 0.7}, "callbacks": [_SCHEDULE]},
        "evit_k05": {"model": {"keep_rate": 0.5}, "callbacks": [_SCHEDULE]},
        "random_k05": {"model": {"keep_rate": 0.5, "selection": "random"}, "callbacks": [_SCHEDULE]},
    },
    baseline_arm="vit",
    method_arm="evit",
    metric="test/accuracy",
    direction="higher",
    claim_type="non_inferiority",
    margin=0.01,
    paired=True,
    seeds=[0, 1],
    expected_minutes=6.5,
)
