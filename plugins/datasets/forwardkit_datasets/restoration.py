"""Image restoration scoring: PSNR and SSIM on the Y channel, and the ``image_restoration`` task.

The conventions are those of the super-resolution literature as BasicSR computes them
(``basicsr/metrics/psnr_ssim.py``, ``calculate_psnr`` / ``calculate_ssim`` with ``test_y_channel``):

* ``crop_border`` pixels are cut from every side (``crop_border = scale`` for SR);
* RGB in ``[0, 1]`` becomes ITU-R BT.601 luma on the 0..255 scale,
  ``Y = 16 + 65.481 R + 128.553 G + 24.966 B`` (values in ``[16, 235]``; :func:`rgb_to_y`);
* PSNR ``= 10 log10(255^2 / MSE)`` (:func:`skimage.metrics.peak_signal_noise_ratio`, ``data_range=255``);
* SSIM with an 11x11 Gaussian window of sigma 1.5, ``K1 = 0.01``, ``K2 = 0.03``, population covariances
  (Wang et al. 2004; :func:`skimage.metrics.structural_similarity` with ``gaussian_weights=True``, whose mean
  over the window-cropped map is BasicSR's ``'valid'`` filtering).

PSNR is invariant to the scale of the pixels as long as the data range follows it, so scoring Y on
``[0, 1]`` with ``data_range=1`` gives the same number (the tests check it). Predictions are clamped to
``[0, 1]`` and, with ``quantize``, rounded to 8-bit levels first (BasicSR's ``tensor2img``), so a model is
scored on the image it would save.

The task works on channels-last batches ``{"x": (B, h, w, C), "y": (B, H, W, C)}`` (outputs like ``y``),
any restoration task (super-resolution, denoising with ``scale = 1``); ``scale`` is filled from the
dataset metadata's ``extra["scale"]``. Metrics are per image, summed with a count of images, so evaluation
over batches of any size averages over images exactly (as the SR tables do).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor

from forwardkit.interfaces.task import Task
from forwardkit_datasets.config import ImageRestorationConfig

__all__ = ["BT601_OFFSET", "BT601_WEIGHTS", "ImageRestoration", "crop_border", "prepare", "psnr", "rgb_to_y",
           "ssim"]

#: ITU-R BT.601 luma of RGB in [0, 1] on the 0..255 scale: ``Y = 16 + RGB . BT601_WEIGHTS``
BT601_WEIGHTS = np.array([65.481, 128.553, 24.966], dtype=np.float64)
BT601_OFFSET = 16.0


def rgb_to_y(image: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma of RGB ``(..., 3)`` in ``[0, 1]``: ``(...)`` float64 on the 0..255 scale."""
    return np.asarray(image, dtype=np.float64) @ BT601_WEIGHTS + BT601_OFFSET


def crop_border(image: np.ndarray, border: int) -> np.ndarray:
    """``image`` ``(H, W, ...)`` without ``border`` pixels on each side."""
    if border <= 0:
        return image
    if image.shape[0] <= 2 * border or image.shape[1] <= 2 * border:
        raise ValueError(f"crop_border={border} leaves nothing of a {image.shape[0]}x{image.shape[1]} image")
    return image[border:-border, border:-border]


def prepare(image: np.ndarray | Tensor, *, border: int = 0, channel: str = "y", quantize: bool = False) -> np.ndarray:
    """One channels-last image ``(H, W, C)`` in ``[0, 1]`` as scored: cropped, clamped (rounded to 8-bit
    levels with ``quantize``), as float64 on the 0..255 scale, ``(H', W')`` for ``channel='y'`` (luma of RGB;
    a 1-channel image is its own luma) or ``(H', W', C)`` for ``'rgb'``."""
    x = image.detach().cpu().numpy() if isinstance(image, Tensor) else np.asarray(image)
    x = np.clip(crop_border(x.astype(np.float64), border), 0.0, 1.0)
    if quantize:
        x = np.round(x * 255.0) / 255.0
    if channel == "rgb":
        return x * 255.0
    if channel != "y":
        raise ValueError(f"unknown channel {channel!r}; choose 'y' or 'rgb'")
    if x.shape[-1] == 3:
        return rgb_to_y(x)
    if x.shape[-1] == 1:
        return x[..., 0] * 255.0
    raise ValueError(f"channel='y' needs RGB or 1-channel images, got {x.shape[-1]} channels")


def psnr(pred: np.ndarray | Tensor, target: np.ndarray | Tensor, *, border: int = 0, channel: str = "y",
         quantize: bool = False) -> float:
    """PSNR in dB of one image ``(H, W, C)`` in ``[0, 1]`` against its target (``inf`` when identical)."""
    from skimage.metrics import peak_signal_noise_ratio

    a = prepare(target, border=border, channel=channel)
    b = prepare(pred, border=border, channel=channel, quantize=quantize)
    if np.array_equal(a, b):
        return float("inf")
    return float(peak_signal_noise_ratio(a, b, data_range=255.0))


def ssim(pred: np.ndarray | Tensor, target: np.ndarray | Tensor, *, border: int = 0, channel: str = "y",
         quantize: bool = False) -> float:
    """SSIM of one image ``(H, W, C)`` in ``[0, 1]`` against its target (Wang et al. 2004, Gaussian window)."""
    from skimage.metrics import structural_similarity

    a = prepare(target, border=border, channel=channel)
    b = prepare(pred, border=border, channel=channel, quantize=quantize)
    return float(structural_similarity(a, b, data_range=255.0, gaussian_weights=True, sigma=1.5,
                                       use_sample_covariance=False, channel_axis=-1 if a.ndim == 3 else None))


class ImageRestoration(Task):
    """Channels-last image outputs ``(B, H, W, C)`` against ``y`` of the same shape: L1 (or MSE, Charbonnier)
    loss; per-image ``psnr`` and ``ssim`` on the Y channel (``channel``), ``crop_border`` (default ``scale``)
    pixels cut from every side."""

    Config = ImageRestorationConfig
    config: ImageRestorationConfig
    primary_metric = "psnr"
    mode = "max"

    @classmethod
    def fields_from_metadata(cls, metadata: Any) -> dict[str, Any]:
        """``scale`` from the dataset's ``extra["scale"]`` (sr_patches sets it)."""
        scale = getattr(metadata, "extra", {}).get("scale")
        return {"scale": int(scale)} if scale else {}

    @property
    def border(self) -> int:
        """Pixels cut from each side before scoring (``crop_border``, else ``scale``)."""
        c = self.config
        return c.scale if c.crop_border is None else c.crop_border

    def _check(self, output: Any, y: Tensor) -> Tensor:
        if not isinstance(output, Tensor) or output.shape != y.shape:
            shape = tuple(output.shape) if isinstance(output, Tensor) else type(output).__name__
            raise ValueError(f"image_restoration needs outputs shaped like the targets {tuple(y.shape)} "
                             f"(channels-last images), got {shape}")
        return output

    def loss(self, output: Tensor, batch: Mapping[str, Tensor]) -> Tensor:
        y = batch["y"].to(output.dtype) if isinstance(output, Tensor) else batch["y"]
        diff = self._check(output, y) - y
        if self.config.loss == "l1":
            return diff.abs().mean()
        if self.config.loss == "mse":
            return diff.pow(2).mean()
        return torch.sqrt(diff.pow(2) + self.config.charbonnier_eps**2).mean()

    def metrics(self, output: Tensor, batch: Mapping[str, Tensor]) -> dict[str, tuple[float, int]]:
        y = batch["y"]
        out = self._check(output, y.to(output.dtype) if isinstance(output, Tensor) else y).detach().float()
        c, n = self.config, int(y.shape[0])
        border, channel, quantize = self.border, c.channel, c.quantize
        psnrs = [min(psnr(out[i], y[i], border=border, channel=channel, quantize=quantize), c.max_psnr)
                 for i in range(n)]
        ssims = [ssim(out[i], y[i], border=border, channel=channel, quantize=quantize) for i in range(n)]
        per_image_loss = [float(self.loss(out[i : i + 1], {"y": y[i : i + 1]})) for i in range(n)]
        return {"loss": (sum(per_image_loss), n), "psnr": (sum(psnrs), n), "ssim": (sum(ssims), n)}

    def example(self, batch_size: int = 8, *, generator: torch.Generator | None = None) -> tuple[Tensor, dict]:
        """Random HR targets ``(B, 16, 16, 3)`` in [0, 1] with LR inputs, and noisy outputs."""
        s = self.config.scale
        side = max(16, 2 * self.border + 12)
        side += (-side) % s
        y = torch.rand(batch_size, side, side, 3, generator=generator)
        x = y[:, ::s, ::s].contiguous()
        output = (y + 0.05 * torch.randn(y.shape, generator=generator)).clamp(0.0, 1.0)
        return output, {"x": x, "y": y}
