"""Configs of the AFF components (pydantic, no torch). Defaults are the official code's (microsoft/TokenMixers,
``Adaptive Frequency Filters/affnet/modules/aff_block.py``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from forwardkit.config import ChannelMixerConfig, ComponentConfig, TokenMixerConfig


class AFFConfig(TokenMixerConfig):
    """Settings of the ``aff`` token mixer (AFNO2D_channelfirst); ``dim`` (C) is set by the holder."""

    num_groups: int = Field(8, ge=1, description="k, blocks of the block-diagonal complex MLP; clipped to C, "
                            "must divide C (after clipping)")
    hidden_factor: int = Field(1, ge=1, description="hidden width of each block = factor * C/k")
    act: Literal["relu", "gelu", "silu"] = Field("relu", description="activation on real and imaginary parts")
    sparsity_threshold: float = Field(0.01, ge=0.0, description="lambda of the softshrink on the mask")
    inner_skip: bool = Field(True, description="return Y + u (official); False inside a residual block")
    init_scale: float = Field(0.02, gt=0.0, description="weights and biases drawn as init_scale * N(0, 1)")
    fp32_fft: bool = Field(True, description="run the FFT and mask in float32 (autocast off)")

    @model_validator(mode="after")
    def _groups_divide(self) -> AFFConfig:
        k = min(self.num_groups, self.dim)
        if self.dim % k:
            raise ValueError(f"num_groups={self.num_groups} must divide dim={self.dim}")
        return self


class _StaticFrequencyConfig(TokenMixerConfig):
    """Fields shared by the two static frequency mixers: a learned weight per frequency of a fixed grid."""

    grid: list[int] = Field([14, 14], min_length=1, max_length=3, description="spatial grid (H, W) the static "
                            "mask / filter is built for; holders fill it from the token grid (fields_for_input)")
    init_scale: float = Field(0.02, gt=0.0, description="the weight drawn as init_scale * N(0, 1)")
    fp32_fft: bool = Field(True, description="run the FFT in float32")

    @model_validator(mode="after")
    def _grid(self) -> _StaticFrequencyConfig:
        if min(self.grid) < 1:
            raise ValueError(f"grid must be 1-3 positive sizes, got {self.grid}")
        return self


class AFFStaticMaskConfig(_StaticFrequencyConfig):
    """Settings of ``aff_static_mask``: AFF with a learned, input-independent mask (ablation)."""

    sparsity_threshold: float = Field(0.01, ge=0.0, description="lambda of the softshrink on the mask")
    inner_skip: bool = Field(True, description="return Y + u (as aff)")


class GlobalFilterConfig(_StaticFrequencyConfig):
    """Settings of ``global_filter`` (GFNet-style static filter, no softshrink, no inner skip)."""


class MV2FFNConfig(ChannelMixerConfig):
    """Settings of ``mv2_ffn``: MobileNetV2 inverted residual used as AFFNet's FFN."""

    expand: float = Field(2.0, gt=0.0, description="hidden = round8(expand * C)")
    act: Literal["relu", "silu"] = Field("silu", description="activation after the 1x1 and depthwise convs")
    skip: bool = Field(True, description="its own identity skip (official)")


class AFFNetConfig(ComponentConfig):
    """Settings of the ``affnet`` model (official layout)."""

    preset: Literal["affnet", "affnet_t", "affnet_et", "tiny"] = Field("affnet", description="size preset")
    in_channels: int = Field(3, ge=1, description="input channels")
    num_classes: int = Field(1000, ge=1, description="classes")
    input_size: list[int] | None = Field(None, description="[H, W] of the input (filled from the data)")


class AFFKernelViewConfig(ComponentConfig):
    """Settings of the ``aff_kernel_view`` analyzer."""

    batches: int = Field(1, ge=1, description="input batches to average the kernel energy over")
    size: int = Field(16, ge=2, description="side of the random input grid when no data is given")
