"""``sequential_digits``: digit images read row by row, the sanity check on real data (card, setup C).

An ``(H, W, 1)`` image of forwardkit-datasets' ``digits`` (8x8) or ``mnist5k`` (28x28) becomes ``H`` steps
of ``W`` features; the splits and the normalisation are the source dataset's.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

import forwardkit
from forwardkit.data import InMemoryDataset, TensorSplit
from forwardkit_rnn_review.config import SequentialDigitsConfig


def rows_as_steps(images: Tensor) -> Tensor:
    """Channels-last images ``(n, H, W, C)`` -> sequences ``(n, H, W * C)``: one step per row."""
    n, h = images.shape[:2]
    return images.reshape(n, h, -1)


class SequentialDigitsDataset(InMemoryDataset):
    """Digits as sequences ``(H, W)`` (classification, 10 classes), from the ``source`` dataset's splits."""

    Config = SequentialDigitsConfig
    config: SequentialDigitsConfig

    def build(self) -> tuple[dict[str, TensorSplit], dict[str, Any]]:
        c = self.config
        source = forwardkit.create("dataset", c.source, val_fraction=c.val_fraction, test_fraction=c.test_fraction,
                                   seed=c.seed, normalize=c.normalize)
        splits = {}
        for name in self.splits:
            split = source.split(name)
            splits[name] = TensorSplit(rows_as_steps(split.x).contiguous(), split.y)
        meta = source.metadata
        return splits, {"task": "classification", "num_classes": meta.num_classes, "class_names": meta.class_names,
                        "extra": {"source": c.source}}
