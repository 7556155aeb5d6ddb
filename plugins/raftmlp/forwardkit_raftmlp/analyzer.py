"""``padded_resolution``: accuracy of a trained model on its test images padded to a larger canvas.

The card's resolution check (paper sec. 3.4 motivates it): the 28x28 digits are padded, centred, to 32x32
with the background value, so the token grids grow (14 -> 16 at stage 1) and every fixed-grid token MLP
runs through :class:`~forwardkit_raftmlp.adapter.BicubicGridAdapter` (bicubic to the trained grid and
back). The background value is the smallest input value of the batch: MNIST's black border, whatever
normalisation the data went through.

Numbers: ``native_accuracy`` and ``padded_accuracy`` (when the batches carry labels ``y``), ``drop``
(native minus padded; the card's pass bar is ``drop < 0.05``), and ``agreement`` (the fraction of images
whose predicted class is the same at both sizes).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit.data import example_batch, forward_batch
from forwardkit.interfaces import Analysis, Analyzer
from forwardkit_raftmlp.adapter import BicubicGridAdapter
from forwardkit_raftmlp.config import PaddedResolutionConfig

#: a small model with raft mixing in both stages, for the conformance kit
SMALL_RAFT: dict[str, Any] = {"name": "metaformer", "depths": [1, 1], "dims": [8, 16],
                              "token_mixers": {"name": "raft_mixing", "raft_size": 2}}


def pad_centred(x: Tensor, size: tuple[int, int]) -> Tensor:
    """``(B, H, W, C)`` -> ``(B, *size, C)``, centred, filled with the batch's smallest value."""
    height, width = int(x.shape[1]), int(x.shape[2])
    dh, dw = size[0] - height, size[1] - width
    if dh < 0 or dw < 0:
        raise ValueError(f"size {tuple(size)} is smaller than the images' {height}x{width}")
    pad = (0, 0, dw // 2, dw - dw // 2, dh // 2, dh - dh // 2)
    return F.pad(x, pad, value=float(x.min()))


class PaddedResolution(Analyzer):
    """Accuracy at the native size and padded to ``size`` (see the module docstring)."""

    Config = PaddedResolutionConfig
    config: PaddedResolutionConfig
    conformance_models: ClassVar[tuple[Any, ...]] = (SMALL_RAFT,)

    @torch.no_grad()
    def analyze(self, model: nn.Module, data: Iterable[Any] | None = None) -> Analysis:
        batches = [b for b in (data or []) if isinstance(b, Mapping) and "x" in b]
        if self.config.max_batches is not None:
            batches = batches[: self.config.max_batches]
        if not batches:
            batches = [example_batch(None, model, batch_size=8)]
        if batches[0]["x"].dim() != 4:
            raise ValueError(f"padded_resolution needs image batches (B, H, W, C); got x of shape "
                             f"{tuple(batches[0]['x'].shape)}")
        padded_model = BicubicGridAdapter().apply(model).eval()
        counts = {"images": 0, "native": 0, "padded": 0, "agree": 0}
        labelled = all("y" in b for b in batches)
        for batch in batches:
            native = forward_batch(model, batch).argmax(-1)
            grown = {**batch, "x": pad_centred(batch["x"], tuple(self.config.size))}
            padded = forward_batch(padded_model, grown).argmax(-1)
            counts["images"] += int(native.numel())
            counts["agree"] += int((native == padded).sum())
            if labelled:
                counts["native"] += int((native == batch["y"]).sum())
                counts["padded"] += int((padded == batch["y"]).sum())
        n = counts["images"]
        numbers = {"images": float(n), "agreement": counts["agree"] / n}
        if labelled:
            numbers.update(native_accuracy=counts["native"] / n, padded_accuracy=counts["padded"] / n)
            numbers["drop"] = numbers["native_accuracy"] - numbers["padded_accuracy"]
        return Analysis(numbers=numbers)
