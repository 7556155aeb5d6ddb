"""Configs of the metaformer-baselines components (torch-free: read by discovery, ``show`` and ``schema``).

Paper: Yu et al., "MetaFormer Baselines for Vision" (arXiv 2210.13452). Section numbers refer to it;
defaults follow the official code (sail-sg/metaformer, ``metaformer_baselines.py``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from forwardkit.config import ChannelMixerConfig, ComponentConfig, TokenMixerConfig

#: activation after the first projection of SepConv (paper sec. 3.2: StarReLU replaces GELU)
SepConvAct = Literal["starrelu", "gelu", "relu", "squaredrelu"]
#: activation of the MLP channel mixer (paper sec. 3.1, StarReLU; squared ReLU and GELU for ablations)
MlpAct = Literal["starrelu", "gelu", "squaredrelu"]


def _odd(name: str, value: int) -> None:
    if value % 2 == 0:
        raise ValueError(f"{name} must be odd (same-size output with stride 1), got {value}")


# ---- token mixers --------------------------------------------------------------------------------
class PoolingConfig(TokenMixerConfig):
    """PoolFormer's token mixer ``avgpool(x) - x`` (stride 1, zero padding ``pool_size // 2``)."""

    pool_size: int = Field(3, ge=1, le=15, description="odd window side of the average pooling")
    count_include_pad: bool = Field(
        False, description="divide by the full window at borders (False: by the valid positions, as the paper)"
    )

    @model_validator(mode="after")
    def _check_odd(self) -> PoolingConfig:
        _odd("pool_size", self.pool_size)
        return self


class RandomMixingConfig(TokenMixerConfig):
    """RandFormer's token mixer: a frozen, row-softmax random ``N x N`` matrix over the flattened tokens."""

    num_tokens: int | None = Field(
        None, ge=1, description="N = prod(spatial); None: fixed by the first input the mixer sees"
    )
    seed: int | None = Field(
        None,
        ge=0,
        description="seed of the random matrix; None: a seed drawn from torch's global RNG when the mixer is "
        "built (independent matrices per block, as the official code)",
    )
    causal_mask: bool = Field(
        False, description="zero the entries above the diagonal and renormalise the rows (a causal mixer)"
    )


class SepConvConfig(TokenMixerConfig):
    """ConvFormer's token mixer, MobileNetV2's inverted separable convolution (paper sec. 3.2):
    Linear(C, rC) -> act1 -> depthwise conv (k) -> Linear(rC, C)."""

    expansion_ratio: float = Field(2.0, gt=0.0, le=8.0, description="hidden width = int(expansion_ratio * dim)")
    kernel_size: int = Field(7, ge=1, le=15, description="odd side of the depthwise kernel")
    act1: SepConvAct = Field("starrelu", description="activation after the first projection")
    bias: bool = Field(False, description="biases of the two projections and of the depthwise conv")
    spatial_rank: Literal[1, 2, 3] = Field(
        2, description="spatial rank of the tokens (fixes the depthwise kernel's shape): 1 sequences, 2 images, 3 video"
    )
    causal: bool = Field(
        False,
        description="a token sees only tokens <= it in flattened order: rank 1 pads k-1 zeros on the left, "
        "ranks 2-3 mask the kernel to the taps up to its centre in raster order",
    )

    @model_validator(mode="after")
    def _check(self) -> SepConvConfig:
        _odd("kernel_size", self.kernel_size)
        return self


# ---- channel mixer -------------------------------------------------------------------------------
class StarReLUMLPConfig(ChannelMixerConfig):
    """The MLP of MetaFormer baselines (paper sec. 3.1): Linear(C, rC) -> StarReLU -> Linear(rC, C), no biases."""

    mlp_ratio: float = Field(4.0, gt=0.0, le=16.0, description="hidden width = int(mlp_ratio * dim)")
    act: MlpAct = Field("starrelu", description="activation between the two projections")
    bias: bool = Field(False, description="biases of the two projections")
    starrelu_scale_init: float = Field(1.0, description="initial s of StarReLU (normalising choice: 0.8944)")
    starrelu_bias_init: float = Field(0.0, description="initial b of StarReLU (normalising choice: -0.4472)")
    starrelu_learnable: bool = Field(True, description="whether s and b of StarReLU are trained")
    drop: float = Field(0.0, ge=0.0, lt=1.0, description="dropout after the activation and after the output")


# ---- model presets -------------------------------------------------------------------------------
class _PresetConfig(ComponentConfig):
    """Fields shared by the MetaFormer-baseline presets; they build the builtin ``metaformer``."""

    in_channels: int = Field(3, ge=1, description="input channels C_in (filled from the data)")
    num_classes: int = Field(10, ge=0, description="outputs of the head (filled from the data); 0: final tokens")
    stem_stride: int | None = Field(
        None, ge=1, description="stride of the stem; None: 2 for 'tiny' (k3), 4 otherwise (k7, as the paper)"
    )
    act: MlpAct = Field("starrelu", description="activation of the MLPs (and of SepConv); the paper uses StarReLU")
    res_scale: bool = Field(True, description="ResScale on the shortcuts of the last two stages (paper sec. 3.1)")
    layer_scale_init: float | None = Field(None, gt=0.0, description="LayerScale on every branch; None: off (paper)")
    drop_path_rate: float = Field(0.0, ge=0.0, lt=1.0, description="stochastic depth, linear from 0 over all blocks")


ShallowSize = Literal["tiny", "s12", "s24", "s36", "m36", "m48"]
DeepSize = Literal["tiny", "s18", "s36", "m36", "b36"]


class IdentityFormerConfig(_PresetConfig):
    """IdentityFormer (paper sec. 3.3): identity token mixer in every stage, "modified LN" block norm,
    linear head. ``tiny`` is MF-Tiny (depths 1,1,2,1, dims 16..64)."""

    size: ShallowSize = Field("tiny", description="preset size")


class RandFormerConfig(_PresetConfig):
    """RandFormer (paper sec. 3.3): identity mixers in stages 1-2, frozen random mixing in stages 3-4."""

    size: ShallowSize = Field("tiny", description="preset size")
    image_size: int | None = Field(
        None, ge=1, description="input side; fixes the random matrices' N per stage (None: lazily from the input)"
    )


class PoolFormerV2Config(_PresetConfig):
    """PoolFormerV2 (paper sec. 3.3): pooling in every stage, StarReLU MLP, ResScale, "modified LN"."""

    size: ShallowSize = Field("tiny", description="preset size")
    pool_size: int = Field(3, ge=1, le=15, description="odd window side of the pooling mixer")

    @model_validator(mode="after")
    def _check_odd(self) -> PoolFormerV2Config:
        _odd("pool_size", self.pool_size)
        return self


class ConvFormerConfig(_PresetConfig):
    """ConvFormer (paper sec. 3.4): SepConv in every stage, channel LN, MLP head for full sizes."""

    size: DeepSize = Field("tiny", description="preset size")
    kernel_size: int = Field(7, ge=1, le=15, description="odd side of the SepConv depthwise kernel")
    head: Literal["linear", "mlp"] | None = Field(None, description="None: 'linear' for tiny, 'mlp' otherwise")
    head_dropout: float = Field(0.0, ge=0.0, lt=1.0, description="dropout inside the MLP head")

    @model_validator(mode="after")
    def _check_odd(self) -> ConvFormerConfig:
        _odd("kernel_size", self.kernel_size)
        return self


class CAFormerConfig(ConvFormerConfig):
    """CAFormer (paper sec. 3.4): SepConv in stages 1-2, vanilla self-attention in stages 3-4."""

    head_dim: int | None = Field(None, ge=1, description="channels per attention head; None: 16 for tiny, 32 otherwise")
