"""HaloNet: a bottleneck ResNet whose 3x3 convs are halo attention (Vaswani et al. 2021, sec. 4).

``(B, H, W, C_in)`` channels-last images -> logits ``(B, num_classes)`` (pooled features with
``num_classes=0``). Inside, the network is channels-first like timm's ``ByobNet``, which it mirrors module for
module: ``stem`` (tiered 3-conv or 7x7, optional max pool), ``stages`` of
:class:`~forwardkit_halonet.blocks.BottleneckBlock` / :class:`~forwardkit_halonet.blocks.HaloBlock`,
``final_conv`` (1x1 conv to ``num_features`` or identity), global average pooling and ``head.fc``. The block
layouts are :mod:`forwardkit_halonet.presets`; the initialisation is timm's (conv weights normal with std
``sqrt(2 / fan_out)``, the head normal with std 0.01, BN scales 1, the last BN of every residual branch 0,
q/k/v trunc-normal with std ``C^-1/2``).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from forwardkit.config import resolve_config
from forwardkit.interfaces import Model
from forwardkit.nn import drop_path_schedule
from forwardkit_halonet.blocks import BottleneckBlock, HaloBlock
from forwardkit_halonet.config import HaloNetConfig
from forwardkit_halonet.layers import ConvNormAct, Stem
from forwardkit_halonet.presets import BlockSpec, Preset, resolve_layout

__all__ = ["HaloNet", "halonet", "parameter_count"]


def _attention_fields(cfg: HaloNetConfig, preset: Preset, spec: BlockSpec) -> dict[str, Any]:
    """The halo-attention config of one halo block: the model's fields, else the block's, else the preset's."""
    return {
        "block_size": cfg.block_size or preset.block_size,
        "halo_size": preset.halo_size if cfg.halo_size is None else cfg.halo_size,
        "num_heads": cfg.num_heads or spec.num_heads or preset.num_heads,
        "dim_head": cfg.dim_head or preset.dim_head,
        "avg_down": cfg.avg_down, "query_offsets": cfg.query_offsets, "qkv_bias": cfg.qkv_bias,
        "scale_pos_embed": cfg.scale_pos_embed, "mask_padding": cfg.mask_padding,
    }


def _init_weights(model: nn.Module, zero_init_last: bool) -> None:
    """timm's ``ByobNet`` initialisation (see the module docstring)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    for m in model.modules():
        if isinstance(m, HaloBlock):
            m.reset_attention()
        if zero_init_last and isinstance(m, BottleneckBlock | HaloBlock):
            m.zero_init_last()


class _Head(nn.Module):
    """Global average pooling and the classifier ``fc``: ``(B, C, H, W) -> (B, num_classes)``."""

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.fc = nn.Linear(channels, num_classes) if num_classes else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(x.mean(dim=(2, 3)))


class HaloNet(Model):
    """HaloNet hybrid or pure ResNet on ``(B, H, W, C_in)`` images -> ``(B, num_classes)``."""

    Config = HaloNetConfig
    config: HaloNetConfig
    #: the kit checks the 28x28 preset (the others take seconds per forward); the zero-initialised last BN
    #: scale would give every branch weight an exactly-zero gradient, so the kit's configs switch it off
    #: (check_export runs on the first two only; the third, every block a halo block, is the slowest to trace)
    conformance_configs = (
        {"preset": "tiny", "num_classes": 10, "zero_init_last": False},
        {"preset": "tiny", "num_classes": 10, "zero_init_last": False, "query_offsets": "block", "halo_size": 2,
         "drop_path_rate": 0.1},
        {"preset": "tiny", "num_classes": 10, "in_channels": 1, "zero_init_last": False, "layout": "all",
         "avg_down": True, "qkv_bias": True},
    )

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        cfg = self.config
        preset = self.preset = resolve_layout(cfg.preset, cfg.layout)
        self.stem = Stem(cfg.in_channels, preset.stem_channels, kind=preset.stem, pool=preset.stem_pool,
                         stride=preset.stem_stride, act=preset.act)
        rates = drop_path_schedule(cfg.drop_path_rate, [len(s) for s in preset.stages])
        prev, stages = preset.stem_channels, []
        for specs, stage_rates in zip(preset.stages, rates, strict=True):
            blocks = []
            for spec, rate in zip(specs, stage_rates, strict=True):
                common = {"in_channels": prev, "out_channels": spec.channels, "stride": spec.stride,
                          "bottle_ratio": spec.bottle_ratio, "act": preset.act, "drop_path": rate}
                if spec.kind == "halo":
                    blocks.append(HaloBlock(**common, attention=_attention_fields(cfg, preset, spec)))
                else:
                    blocks.append(BottleneckBlock(**common, group_size=spec.group_size, attn=preset.attn))
                prev = spec.channels
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        if preset.num_features:
            self.final_conv: nn.Module = ConvNormAct(prev, preset.num_features, 1, act=preset.act)
            prev = preset.num_features
        else:
            self.final_conv = nn.Identity()
        self.num_features = prev
        self.head = _Head(prev, cfg.num_classes)
        _init_weights(self, cfg.zero_init_last)

    def forward_features(self, x: Tensor) -> Tensor:
        """``(B, H, W, C_in)`` -> the last feature map ``(B, num_features, H / 32, W / 32)`` (channels-first)."""
        if x.dim() != 4 or x.shape[-1] != self.config.in_channels:
            raise ValueError(f"halonet expects images (B, H, W, {self.config.in_channels}), got {tuple(x.shape)}")
        return self.final_conv(self.stages(self.stem(x.permute(0, 3, 1, 2))))

    def forward(self, x: Tensor) -> Tensor:
        """``(B, H, W, C_in)`` images -> logits ``(B, num_classes)`` (``(B, num_features)`` with 0 classes)."""
        return self.head(self.forward_features(x))

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """Images at the preset's side (28 for ``tiny``, timm's 256 otherwise) and integer labels."""
        side = self.preset.image_size
        x = torch.randn(batch_size, side, side, self.config.in_channels, generator=generator)
        y = torch.randint(0, max(self.config.num_classes, 1), (batch_size,), generator=generator)
        return {"x": x, "y": y}


def halonet(config: Any = None, **overrides: Any) -> HaloNet:
    """Functional form: the HaloNet of a config (a :class:`HaloNetConfig`, a mapping or keyword fields),
    e.g. ``halonet(preset="halonet50ts", num_classes=10)``."""
    return HaloNet(resolve_config(HaloNetConfig, config, overrides))


def parameter_count(model: nn.Module) -> int:
    """Number of parameters (trainable or not; buffers such as BN statistics excluded), as timm counts them."""
    return sum(p.numel() for p in model.parameters())
