"""Miniature reproduction of "MetaFormer Baselines for Vision" (torch-free; run by ``forwardkit reproduce``).

The five baselines at the MF-Tiny size (depths 1,1,2,1, dims 16..64, about 0.1-0.2M parameters) on
2000 real MNIST digits (mnist5k, stratified; 3000 held-out test digits), same data, budget and seeds.
Every arm differs from the others only in the model preset (token mixers, and the block norm/head
that the paper ties to them); the verdict compares the skeleton's floor, IdentityFormer (baseline),
with ConvFormer (method). ``poolformerv2_gelu`` is the StarReLU-vs-GELU ablation of PoolFormerV2.
"""

from __future__ import annotations

from forwardkit.reproduce.spec import ReproductionSpec

SPEC = ReproductionSpec(
    paper="MetaFormer Baselines for Vision",
    arxiv="2210.13452",
    claim=(
        "With the MetaFormer skeleton fixed, richer token mixers rank IdentityFormer < RandFormer < PoolFormerV2 "
        "< ConvFormer <= CAFormer; even the identity mixer is a strong floor. Verdict: ConvFormer (separable "
        "conv) beats IdentityFormer. Extra arm: StarReLU is at least as good as GELU (PoolFormerV2 with GELU)."
    ),
    paper_result=(
        "ImageNet-1k top-1 at m48: IdentityFormer 80.4, RandFormer 81.4, PoolFormerV2 82.6; at s18: ConvFormer 83.0, "
        "CAFormer 83.6 (ConvFormer s18 vs IdentityFormer s12: +8.4 points)"
    ),
    base={
        "name": "metaformer-baselines",
        "data": {"name": "mnist5k", "val_fraction": 0.0, "test_fraction": 0.6, "normalize": "standardize", "seed": 0},
        "model": {"name": "identityformer", "size": "tiny"},
        "learning_rule": {
            "name": "backprop",
            "optimizer": "adamw",
            "lr": 2e-3,
            "weight_decay": 0.05,
            "schedule": "cosine",
            "warmup_epochs": 1,
        },
        "trainer": {"epochs": 6, "batch_size": 64, "checkpoint_every": 0, "eval_every": 0, "log_every": 50},
    },
    arms={
        "identityformer": {"model": {"name": "identityformer"}},
        "randformer": {"model": {"name": "randformer"}},
        "poolformerv2": {"model": {"name": "poolformerv2"}},
        "convformer": {"model": {"name": "convformer"}},
        "caformer": {"model": {"name": "caformer"}},
        "poolformerv2_gelu": {"model": {"name": "poolformerv2", "act": "gelu"}},
    },
    baseline_arm="identityformer",
    method_arm="convformer",
    metric="test/accuracy",
    direction="higher",
    min_effect=0.0,
    seeds=[0, 1, 2],
    smoke={
        "data": {"name": "digits"},
        "model": {"stem_stride": 1},
        "trainer": {"max_steps": 2, "epochs": 1, "batch_size": 32},
    },
    expected_minutes=6.0,
)
