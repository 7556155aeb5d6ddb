"""The miniature's recipe as one multi-stage experiment (card "Miniature reproduction"), torch-free.

Stage ``pretrain``: ``selfie_rule`` on all 4000 training images of ``mnist5k`` (labels unused), 6 epochs, Adam 1e-3,
batch 64, no evaluation. Stages ``finetune_5pct`` and ``finetune_1pct``: the builtin ``backprop`` (Adam 1e-3) trains
a ``selfie_classifier`` for 30 epochs on 20 and on 4 labelled images per class (5 % and 1 % of the 4000), each
starting from the pre-trained patch network (``carry: {source: pretrain, include: [patch_net]}``), and is tested on
the same 1000 held-out images. The label subsets come from the dataset's stratified split: with
``test_fraction = 0.2`` every class keeps the same last 100 images for test, and ``val_fraction`` moves all but the
first 20 (or 4) of the remaining 400 per class out of ``train``; so the labelled images are a subset of the
pre-training images and the test images are never seen by either stage. ``pretrain=False`` is the baseline: the
same fine-tuning stages from the classifier's own initialisation (``carry: null``).
"""

from __future__ import annotations

import copy
from typing import Any

#: the card's label fractions of the 4000 training images, as val_fraction of mnist5k (500 images per class:
#: 100 test, the rest val, and 20 or 4 left in train)
LABEL_FRACTIONS: dict[str, float] = {"5pct": 0.76, "1pct": 0.792}
LABELS_PER_CLASS: dict[str, int] = {"5pct": 20, "1pct": 4}
TEST_FRACTION = 0.2

DATA: dict[str, Any] = {"name": "mnist5k", "val_fraction": 0.0, "test_fraction": TEST_FRACTION}
PRETRAIN_RULE: dict[str, Any] = {"name": "selfie_rule", "num_masked": 4, "lr": 1e-3, "optimizer": "adam"}
FINETUNE_RULE: dict[str, Any] = {"name": "backprop", "optimizer": "adam", "lr": 1e-3}
QUIET: dict[str, Any] = {"progress": "none", "plots": False, "checkpoint_every": 0, "log_every": 20}
PRETRAIN_EPOCHS = 6
FINETUNE_EPOCHS = 30

PRETRAINER: dict[str, Any] = {"name": "selfie_pretrainer"}
CLASSIFIER: dict[str, Any] = {"name": "selfie_classifier"}

#: what --smoke shrinks: 2 steps per stage, 100 test images and no val split, narrower models (the same stages)
SMOKE_TRAINER: dict[str, Any] = {"max_steps": 2}
SMOKE_DATA: dict[str, Any] = {"test_fraction": 0.02}
SMOKE_PRETRAINER: dict[str, Any] = {"embed_dim": 16, "pool_layers": 1, "pool_heads": 2}
SMOKE_CLASSIFIER: dict[str, Any] = {"embed_dim": 16, "head_widths": [16, 16]}


def models(smoke: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
    """The pretrainer's and the classifier's specs (their patch networks agree, so the stem carries by name)."""
    if smoke:
        return {**PRETRAINER, **SMOKE_PRETRAINER}, {**CLASSIFIER, **SMOKE_CLASSIFIER}
    return dict(PRETRAINER), dict(CLASSIFIER)


def finetune_stage(fraction: str, *, pretrain: bool, smoke: bool = False) -> dict[str, Any]:
    """The fine-tuning stage at one label fraction (``'5pct'`` or ``'1pct'``)."""
    stage: dict[str, Any] = {
        "name": f"finetune_{fraction}",
        "data": {"val_fraction": 0.0 if smoke else LABEL_FRACTIONS[fraction]},
        "model": models(smoke)[1],
        "learning_rule": dict(FINETUNE_RULE),
        "trainer": {"epochs": FINETUNE_EPOCHS, "test_at_end": True, "eval_every": 0, "eval_batch_size": 500,
                    **(SMOKE_TRAINER if smoke else {})},
        "carry": {"source": "pretrain", "include": ["patch_net"]} if pretrain else None,
    }
    return stage


def staged_experiment(*, pretrain: bool = True, seed: int = 0, smoke: bool = False,
                      fractions: tuple[str, ...] = ("5pct", "1pct")) -> dict[str, Any]:
    """The whole pre-train-then-fine-tune experiment (``pretrain=False``: the from-scratch baseline)."""
    base = {
        "data": {**copy.deepcopy(DATA), **(SMOKE_DATA if smoke else {})},
        "model": models(smoke)[0] if pretrain else models(smoke)[1],
        "learning_rule": dict(PRETRAIN_RULE) if pretrain else dict(FINETUNE_RULE),
        "trainer": {"epochs": PRETRAIN_EPOCHS, "batch_size": 64, "eval_every": 0, "test_at_end": False,
                    **QUIET, **(SMOKE_TRAINER if smoke else {})},
    }
    stages: list[dict[str, Any]] = [{"name": "pretrain"}] if pretrain else []
    stages += [finetune_stage(f, pretrain=pretrain, smoke=smoke) for f in fractions]
    return {"name": f"selfie-{'pretrain-finetune' if pretrain else 'scratch'}", "seed": seed, "base": base,
            "stages": stages}
