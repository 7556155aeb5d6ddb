"""``sr_metrics``: PSNR and SSIM on the Y channel of a super-resolution model, next to bicubic upscaling.

Scores the model on the batches it is given when they carry HR targets ``y`` (``s`` times the size of
``x``), else on the held-out photos of ``sr_patches`` (chelsea and flower, whole; bicubic LR from
:func:`forwardkit_datasets.super_resolution.lr_hr_pair`). Conventions are the ``image_restoration`` task's
(:mod:`forwardkit_datasets.restoration`): BT.601 Y, crop border = scale, 8-bit predictions. Numbers: mean
``psnr``, ``ssim``, ``bicubic_psnr``, ``bicubic_ssim`` and ``psnr_gain`` (dB over bicubic); table
``per_image``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn

from forwardkit.interfaces import Analysis, Analyzer
from forwardkit_cfsr.baselines import bicubic_sr
from forwardkit_cfsr.config import SRMetricsConfig

__all__ = ["SRMetrics", "sr_scores"]


def _pairs(data: Iterable[Any] | None, scale: int) -> list[tuple[str, Tensor, Tensor]]:
    """``(name, LR (1, h, w, C), HR (1, s h, s w, C))`` of every image in batches that carry HR targets."""
    out = []
    for b, batch in enumerate(data or ()):
        if not isinstance(batch, dict) or "y" not in batch or "x" not in batch:
            continue
        x, y = batch["x"], batch["y"]
        if x.dim() != 4 or y.dim() != 4 or tuple(y.shape[1:3]) != (scale * x.shape[1], scale * x.shape[2]):
            continue
        out += [(f"batch{b}_{i}", x[i : i + 1], y[i : i + 1]) for i in range(x.shape[0])]
    return out


def _photos(names: list[str], scale: int) -> list[tuple[str, Tensor, Tensor]]:
    from forwardkit_datasets.super_resolution import lr_hr_pair

    out = []
    for name in names:
        lr, hr = lr_hr_pair(name, scale)
        out.append((name, torch.from_numpy(lr.astype("float32") / 255)[None], torch.from_numpy(hr.astype("float32")
                                                                                              / 255)[None]))
    return out


@torch.no_grad()
def sr_scores(model: nn.Module, pairs: list[tuple[str, Tensor, Tensor]], *, scale: int,
              border: int) -> list[dict[str, Any]]:
    """Per image: the model's and bicubic's Y-PSNR and SSIM (``quantize=True``)."""
    from forwardkit_datasets.restoration import psnr, ssim

    rows = []
    for name, x, y in pairs:
        sr, bic = model(x)[0], bicubic_sr(x, scale)[0]
        rows.append({"image": name, "lr": f"{x.shape[1]}x{x.shape[2]}",
                     "psnr": min(psnr(sr, y[0], border=border, quantize=True), 100.0),
                     "ssim": ssim(sr, y[0], border=border, quantize=True),
                     "bicubic_psnr": min(psnr(bic, y[0], border=border, quantize=True), 100.0),
                     "bicubic_ssim": ssim(bic, y[0], border=border, quantize=True)})
    return rows


class SRMetrics(Analyzer):
    """Y-PSNR / SSIM of an SR model against bicubic, per image and on average."""

    Config = SRMetricsConfig
    config: SRMetricsConfig
    #: x4 models and one photo keep the kit's run short (the LR photo is 75 x 112)
    conformance_models = ({"name": "cfsr", "preset": "cfsr_tiny", "scale": 4}, {"name": "sr_cnn", "scale": 4})
    conformance_configs = ({"test_images": ["chelsea"]},)

    def analyze(self, model: nn.Module, data: Iterable[Any] | None = None) -> Analysis:
        c = self.config
        scale = c.scale or int(getattr(getattr(model, "config", None), "scale", 0) or 0)
        if not scale:
            raise ValueError("sr_metrics needs a scale: set it, or give a model whose config has one")
        border = scale if c.crop_border is None else c.crop_border
        was_training = model.training
        model.eval()
        pairs = _pairs(data, scale) if c.use_data else []
        rows = sr_scores(model, pairs or _photos(list(c.test_images), scale), scale=scale, border=border)
        model.train(was_training)
        keys = ("psnr", "ssim", "bicubic_psnr", "bicubic_ssim")
        numbers = {k: sum(r[k] for r in rows) / len(rows) for k in keys}
        numbers["psnr_gain"] = numbers["psnr"] - numbers["bicubic_psnr"]
        numbers["images"] = float(len(rows))
        return Analysis(numbers=numbers, tables={"per_image": rows})
