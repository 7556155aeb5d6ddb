"""The reproduction's baselines: bicubic interpolation and a plain CNN of about cfsr_tiny's size.

* :func:`bicubic_sr` — the SR "model" without parameters: Pillow-convention bicubic upscaling
  (:mod:`forwardkit_cfsr.bicubic`), what every SR table's first row is;
* :class:`SRCNN` (``sr_cnn``) — ``depth`` 3x3 convs with ReLU (``width`` channels), the last one to
  ``C s^2`` channels, pixel shuffle, plus the bicubic upscaling of the input (a global residual, as VDSR):
  the card's "5 Conv3x3 layers with ReLU + pixelshuffle, residual to bicubic". Width 35 gives 37,952
  parameters at x2, between cfsr_tiny's merged (36,804) and training (38,916) counts.
"""

from __future__ import annotations

import itertools
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit.interfaces import Model
from forwardkit_cfsr.bicubic import bicubic_upsample
from forwardkit_cfsr.config import SRCNNConfig
from forwardkit_cfsr.reparam import to_first, to_last

__all__ = ["SRCNN", "bicubic_sr"]


def bicubic_sr(x: Tensor, scale: int) -> Tensor:
    """``(B, h, w, C)`` -> ``(B, s h, s w, C)`` bicubic upscaling (``a = -0.5``, Pillow's weights)."""
    return bicubic_upsample(x, scale)


class SRCNN(Model):
    """Plain CNN SR baseline ``(B, h, w, C)`` -> ``(B, s h, s w, C)``."""

    Config = SRCNNConfig
    config: SRCNNConfig

    def __init__(self, config: SRCNNConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        c = self.config
        widths = [c.in_channels] + [c.width] * (c.depth - 1) + [c.in_channels * c.scale**2]
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 3, padding=1) for a, b in itertools.pairwise(widths))

    @classmethod
    def fields_from_metadata(cls, metadata: Any) -> dict[str, Any]:
        """``in_channels`` from the input shape, ``scale`` from the dataset's ``extra['scale']``."""
        out = super().fields_from_metadata(metadata)
        scale = getattr(metadata, "extra", {}).get("scale")
        if scale:
            out["scale"] = int(scale)
        return out

    def forward(self, x: Tensor) -> Tensor:
        h = to_first(x)
        for conv in self.convs[:-1]:
            h = F.relu(conv(h))
        out = to_last(F.pixel_shuffle(self.convs[-1](h), self.config.scale))
        return out + bicubic_sr(x, self.config.scale) if self.config.residual == "bicubic" else out

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        s, ch = self.config.image_size, self.config.in_channels
        return {"x": torch.rand(batch_size, s, s, ch, generator=generator)}
