"""CFSR, the ConvFormer-based SR network (paper sec. III, fig. 2; official ``CFSR`` with upsampler
``pixelshuffledirect``), channels-last: LR ``(B, h, w, 3)`` in [0, 1] -> SR ``(B, s h, s w, 3)``.

::

    x  = (x - mean) * img_range                    RGB mean of DIV2K, img_range 1
    f0 = Conv3x3(x)                                shallow features, C channels
    f  = layers(f0)                                each layer: y = blocks(x); Conv1x1(y) + y
    f  = Conv3x3(LN(f)) + f0                       long skip
    out = PixelShuffle_s(Conv3x3_{C -> 3 s^2}(f))  one-step upsampler
    return out / img_range + mean

A block is the ConvFormer layer (eq. 1): ``x = x + g1 * ConvMod(LN(x))``, ``x = x + g2 * EFN(LN(x))`` with
per-channel layer scales ``g1, g2`` initialised to 1e-6 — forwardkit's :class:`~forwardkit.nn.MetaFormerBlock`
with a LayerNorm pre-norm (bias, eps 1e-6), which is where the official code norms (inside ConvMod and MLP).
The 3x3 convs run NCHW on channels-last views; ``merged=True`` builds the released inference form.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit.interfaces import Model
from forwardkit.nn import MetaFormerBlock, Pointwise
from forwardkit_cfsr.config import CFSRConfig
from forwardkit_cfsr.conv_modulation import ConvModulation
from forwardkit_cfsr.edge_ffn import EdgeFFN
from forwardkit_cfsr.reparam import to_first, to_last

__all__ = ["CFSR", "CFSRLayer", "cfsr_block", "conv3x3"]


def conv3x3(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, padding=1)


def apply_nchw(conv: nn.Module, x: Tensor) -> Tensor:
    """A channels-first module on channels-last images ``(B, H, W, C)`` (through views, no copies)."""
    return to_last(conv(to_first(x)))


def cfsr_block(c: CFSRConfig) -> MetaFormerBlock:
    """One ConvFormer block of width ``c.embed_dim`` (eq. 1): LN -> ConvMod, LN -> EFN, layer scales."""
    mixer = ConvModulation(dim=c.embed_dim, kernel_size=c.dw_size, small_kernel=c.small_kernel,
                           edge_kernels=c.mixer_edge_kernels, kernel_variant=c.kernel_variant, merged=c.merged,
                           spatial_rank=2)
    ffn = EdgeFFN(dim=c.embed_dim, ratio=c.mlp_ratio, edge_kernels=c.edge_kernels, kernel_variant=c.kernel_variant,
                  merged=c.merged)
    return MetaFormerBlock(dim=c.embed_dim, token_mixer=mixer, channel_mixer=ffn, norm="layernorm", norm_eps=1e-6,
                           layer_scale_init=c.layer_scale_init)


class CFSRLayer(nn.Module):
    """``depth`` ConvFormer blocks and a 1x1 conv with a skip over it (official ``Layer``): ``y = blocks(x)``,
    ``out = Conv1x1(y) + y`` on ``(B, H, W, C)``."""

    def __init__(self, c: CFSRConfig, depth: int) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*(cfsr_block(c) for _ in range(depth)))
        self.conv = Pointwise(c.embed_dim, c.embed_dim)

    def forward(self, x: Tensor) -> Tensor:
        y = self.blocks(x)
        return self.conv(y) + y


class CFSR(Model):
    """CFSR ``(B, h, w, C_in)`` -> ``(B, s h, s w, C_in)``; presets ``cfsr_x2/x3/x4`` (291,324 / 297,819 /
    306,912 parameters merged, as released) and ``cfsr_tiny``."""

    Config = CFSRConfig
    config: CFSRConfig
    mean: Tensor
    #: the kit checks a small CFSR (the 12-block default costs seconds per export), at an odd scale, with every
    #: branch kind (ConvMod's small kernel and edge branches, EFN's edge branches)
    conformance_configs = ({"preset": "cfsr_tiny", "depths": [1, 1], "scale": 3,
                            "mixer_edge_kernels": ["sobel_x", "sobel_y", "laplacian"]},)

    def __init__(self, config: CFSRConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        c = self.config
        mean = torch.tensor(c.rgb_mean) if c.in_channels == 3 else torch.zeros(c.in_channels)
        self.register_buffer("mean", mean, persistent=False)
        self.conv_first = conv3x3(c.in_channels, c.embed_dim)
        self.layers = nn.ModuleList(CFSRLayer(c, d) for d in c.depths)
        self.norm = nn.LayerNorm(c.embed_dim, eps=1e-6)
        self.conv_after_body = conv3x3(c.embed_dim, c.embed_dim)
        self.upsample = conv3x3(c.embed_dim, c.in_channels * c.scale**2)

    @classmethod
    def fields_from_metadata(cls, metadata: Any) -> dict[str, Any]:
        """``in_channels`` from the input shape, ``scale`` from the dataset's ``extra['scale']``."""
        out = super().fields_from_metadata(metadata)
        scale = getattr(metadata, "extra", {}).get("scale")
        if scale:
            out["scale"] = int(scale)
        return out

    def forward_features(self, f: Tensor) -> Tensor:
        """The deep feature extractor on ``(B, h, w, C)``: the layers, then LayerNorm."""
        for layer in self.layers:
            f = layer(f)
        return self.norm(f)

    def forward(self, x: Tensor) -> Tensor:
        c = self.config
        x = (x - self.mean) * c.img_range
        f0 = apply_nchw(self.conv_first, x)
        f = apply_nchw(self.conv_after_body, self.forward_features(f0)) + f0
        out = to_last(F.pixel_shuffle(self.upsample(to_first(f)), c.scale))
        return out / c.img_range + self.mean

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        s, ch = self.config.image_size, self.config.in_channels
        return {"x": torch.rand(batch_size, s, s, ch, generator=generator)}
