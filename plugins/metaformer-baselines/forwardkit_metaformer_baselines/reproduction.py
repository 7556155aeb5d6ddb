"""Miniature reproduction of "MetaFormer Baselines for Vision" (torch-free; run by ``forwardkit reproduce``).

The five baselines at the MF-Tiny size (depths 1,1,2,1, dims 16..64, about 0.1-0.2M parameters) on the
card's setup: mnist5k (standardised, stratified split seed 0), 4000 training / 1000 test digits, AdamW
lr 2e-3, wd 0.05, batch 128, 10 epochs, cosine schedule with one warm-up epoch, seeds 0, 1, 2. Every arm
differs from the others only in the model preset (token mixers, and the block norm/head that the paper
ties to them); ``convformer_gelu`` is the card's StarReLU-vs-GELU ablation (ConvFormer-tiny with GELU in
the MLP and the SepConv mixer).

The conditions transcribe the card's pass bar:

1. "identity mean below the sepconv mean by more than one pooled std": the literal rule (``std_rule``)
   and, beside it, the same claim judged on a 90% paired-t interval (``compare``, superiority).
2. "random not below identity by more than one std": the literal rule (pooled std, as in sentence 1).
3. "pass if StarReLU mean >= GELU mean - 0.3%": ConvFormer StarReLU vs GELU, non-inferiority with a
   margin of 0.003 (0.3 points of accuracy) on the 90% paired-t interval.
"""

from __future__ import annotations

from forwardkit.reproduce.spec import ReproductionSpec

#: the card's pass bar, word for word (papers/metaformer-baselines.md, "Miniature reproduction")
PASS_BAR = (
    "Pass bar: identity mean below the sepconv mean by more than one pooled std, and random not below identity "
    "by more than one std. \"Does not reproduce at this scale\": identity within one std of the best layout "
    "(MNIST may saturate; then also report a 1000-image training subset where gaps should widen). StarReLU vs "
    "GELU: pass if StarReLU mean >= GELU mean - 0.3%."
)

SPEC = ReproductionSpec(
    paper="MetaFormer Baselines for Vision",
    arxiv="2210.13452",
    claim=(
        "With the MetaFormer skeleton fixed, richer token mixers rank IdentityFormer < RandFormer < PoolFormerV2 "
        "< ConvFormer <= CAFormer; even the identity mixer is a strong floor. StarReLU is at least as good as "
        "GELU."
    ),
    paper_result=(
        "ImageNet-1k top-1 at m48: IdentityFormer 80.4, RandFormer 81.4, PoolFormerV2 82.6; at s18: ConvFormer 83.0, "
        "CAFormer 83.6 (ConvFormer s18 vs IdentityFormer s12: +8.4 points)"
    ),
    pass_bar=PASS_BAR,
    deviations=[
        "None in data, model or budget: the card's setup is used for every arm (mnist5k, 4000 train / 1000 test, "
        "batch 128, 10 epochs, AdamW 2e-3, wd 0.05, cosine with 1 warm-up epoch, seeds 0, 1, 2). An earlier full "
        "run used 2000/3000 digits, batch 64 and 6 epochs to save time; it is kept in the report's history.",
        "The 'does not reproduce' sentence names 'the best layout', an arm chosen after the data are seen; it "
        "is not a separate condition: condition 1 compares identity with sepconv, the layout the card's pass "
        "bar names, and the report lists every layout's mean and std.",
        "The 1000-image training subset the card asks for 'if MNIST saturates' is not run (it is conditional on "
        "the outcome, and would add 18 runs to a 2-core budget).",
        "'random not below identity by more than one std' does not say which std; the pooled std of the two "
        "arms is used, as in the sentence before it. The card gives no fixed margin for it, so it is judged by "
        "the literal rule only.",
    ],
    base={
        "name": "metaformer-baselines",
        "data": {"name": "mnist5k", "val_fraction": 0.0, "test_fraction": 0.2, "normalize": "standardize", "seed": 0},
        "model": {"name": "identityformer", "size": "tiny"},
        "learning_rule": {
            "name": "backprop",
            "optimizer": "adamw",
            "lr": 2e-3,
            "weight_decay": 0.05,
            "schedule": "cosine",
            "warmup_epochs": 1,
        },
        "trainer": {"epochs": 10, "batch_size": 128, "checkpoint_every": 0, "eval_every": 0, "log_every": 50},
    },
    arms={
        "identityformer": {"model": {"name": "identityformer"}},
        "randformer": {"model": {"name": "randformer"}},
        "poolformerv2": {"model": {"name": "poolformerv2"}},
        "convformer": {"model": {"name": "convformer"}},
        "caformer": {"model": {"name": "caformer"}},
        "convformer_gelu": {"model": {"name": "convformer", "act": "gelu"}},
    },
    conditions=[
        {"kind": "std_rule", "method": "convformer", "baseline": "identityformer", "test": "beats", "k": 1.0,
         "std": "pooled", "label": "identity mean below the sepconv mean by more than one pooled std"},
        {"kind": "compare", "method": "convformer", "baseline": "identityformer", "test": "superiority",
         "min_effect": 0.0, "label": "identity mean below the sepconv mean (the same claim on a 90% interval)"},
        {"kind": "std_rule", "method": "randformer", "baseline": "identityformer", "test": "not_worse", "k": 1.0,
         "std": "pooled", "label": "random not below identity by more than one std"},
        {"kind": "compare", "method": "convformer", "baseline": "convformer_gelu", "test": "non_inferiority",
         "margin": 0.003, "label": "StarReLU vs GELU: pass if StarReLU mean >= GELU mean - 0.3%"},
    ],
    headline=1,
    metric="test/accuracy",
    direction="higher",
    level=0.90,
    paired=True,
    seeds=[0, 1, 2],
    smoke={
        "data": {"name": "digits"},
        "model": {"stem_stride": 1},
        "trainer": {"max_steps": 2, "epochs": 1, "batch_size": 32},
    },
    expected_minutes=15.0,
)
