"""The MetaFormer-baseline models (paper sec. 3.3-3.4) as thin presets of the builtin ``metaformer``.

Each preset validates its own small Config (size, the few settings a user changes; ``in_channels`` and
``num_classes`` are filled from the data by the trainer) and builds the
builtin ``metaformer`` model (through the registry, ``forwardkit.create``) with the arguments of
:func:`~forwardkit_metaformer_baselines.presets.metaformer_arguments`. Inputs are channels-last images
``(B, H, W, C_in)``; outputs ``(B, num_classes)``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from forwardkit.compose import create
from forwardkit.config import resolve_config
from forwardkit.interfaces import Model
from forwardkit_metaformer_baselines.config import (
    CAFormerConfig,
    ConvFormerConfig,
    IdentityFormerConfig,
    PoolFormerV2Config,
    RandFormerConfig,
)
from forwardkit_metaformer_baselines.presets import metaformer_arguments


def build_preset(preset: str, config: Any = None, **overrides: Any) -> nn.Module:
    """The builtin MetaFormer of ``preset`` (identityformer, randformer, poolformerv2, convformer,
    caformer) with the preset's config (a Config, a mapping or keyword fields)."""
    cfg = resolve_config(PRESET_CLASSES[preset].Config, config, overrides)
    return create("model", "metaformer", metaformer_arguments(preset, cfg))


class _Preset(Model):
    """A MetaFormer baseline: ``self.backbone`` is the builtin MetaFormer built from the preset."""

    preset: ClassVar[str] = ""

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.backbone = create("model", "metaformer", metaformer_arguments(self.preset, self.config))

    @property
    def metaformer_config(self) -> Any:
        """The builtin ``metaformer`` config this preset expands to."""
        return self.backbone.config

    def forward(self, x: Tensor) -> Tensor:
        """``(B, H, W, C_in)`` images -> logits ``(B, num_classes)`` (or final tokens when ``num_classes=0``)."""
        return self.backbone(x)

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """28x28 images (``tiny``) or 64x64 images, and integer labels."""
        side = 28 if self.config.size == "tiny" else 64
        x = torch.randn(batch_size, side, side, self.config.in_channels, generator=generator)
        y = torch.randint(0, max(self.config.num_classes, 1), (batch_size,), generator=generator)
        return {"x": x, "y": y}


class IdentityFormer(_Preset):
    """IdentityFormer: identity token mixers everywhere (paper sec. 3.3, the skeleton's floor)."""

    Config = IdentityFormerConfig
    preset = "identityformer"


class RandFormer(_Preset):
    """RandFormer: identity in stages 1-2, frozen random mixing in stages 3-4 (paper sec. 3.3)."""

    Config = RandFormerConfig
    preset = "randformer"


class PoolFormerV2(_Preset):
    """PoolFormerV2: pooling everywhere, StarReLU MLP, ResScale (paper sec. 3.3)."""

    Config = PoolFormerV2Config
    preset = "poolformerv2"


class ConvFormer(_Preset):
    """ConvFormer: inverted separable convolution everywhere (paper sec. 3.4)."""

    Config = ConvFormerConfig
    preset = "convformer"


class CAFormer(_Preset):
    """CAFormer: SepConv in stages 1-2, vanilla self-attention in stages 3-4 (paper sec. 3.4)."""

    Config = CAFormerConfig
    preset = "caformer"


PRESET_CLASSES: dict[str, type[_Preset]] = {
    cls.preset: cls for cls in (IdentityFormer, RandFormer, PoolFormerV2, ConvFormer, CAFormer)
}
