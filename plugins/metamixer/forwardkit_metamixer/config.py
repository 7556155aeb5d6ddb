"""Configs of the metamixer components (no torch here: discovery, ``show`` and validation import it)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from forwardkit.config import ChannelMixerConfig, ComponentConfig, TokenMixerConfig


def _odd(name: str, value: int | None) -> int | None:
    if value is not None and (value < 1 or value % 2 == 0):
        raise ValueError(f"{name} must be an odd integer >= 1 (got {value}): a centred 'same' convolution")
    return value


class FFNifiedAttentionConfig(TokenMixerConfig):
    """FFNified attention (paper sec. 3, official ``Token_Mixer``): ``DW_k2(GELU(DW_k1(W_q x)))``."""

    k1: int = Field(7, description="kernel of the query-key depthwise conv (the 'keys'); odd")
    k2: int = Field(7, description="kernel of the coefficient-value depthwise conv (the 'values'); odd")
    act: Literal["gelu", "relu", "identity", "softmax_channel"] = Field(
        "gelu", description="the normaliser between the two spatial interactions (softmax -> GELU in the paper)")
    rep_small_kernel: int | None = Field(
        3, description="RepVGG parallel small kernel (BN'd) added to each dwconv whose kernel is >= 5; None: off")
    use_bn: bool = Field(False, description="BatchNorm after the query projection (faithful BN-in-branch); "
                         "off in forwardkit blocks, which already pre-norm")
    bias: bool = Field(True, description="bias of the query projection and the depthwise convs")
    causal: bool = Field(False, description="left (top-left) padding in both dwconvs: output i sees inputs <= i "
                         "on every axis")
    spatial_rank: int = Field(2, ge=1, le=3, description="spatial rank of the tokens (filled by the holder)")

    _k1 = field_validator("k1")(classmethod(lambda cls, v: _odd("k1", v)))
    _k2 = field_validator("k2")(classmethod(lambda cls, v: _odd("k2", v)))
    _rs = field_validator("rep_small_kernel")(classmethod(lambda cls, v: _odd("rep_small_kernel", v)))


class MetaMixerConfig(TokenMixerConfig):
    """The generic MetaMixer ``y = V(act(K(Q(x))))`` with pluggable sub-operations (paper sec. 3.1)."""

    query: Literal["linear", "identity"] = Field("linear", description="Q: a C->C linear map, or the input itself")
    key: Literal["dwconv", "dot_product", "linear_channel"] = Field(
        "dwconv", description="K: depthwise conv (FFNified), similarity to token keys (attention), or W_1 (FFN)")
    act: Literal["gelu", "softmax", "relu", "identity"] = Field("gelu", description="the normaliser")
    value: Literal["dwconv", "dot_product", "linear_channel"] = Field(
        "dwconv", description="V: depthwise conv, aggregation of token values (attention), or W_2 (FFN)")
    kernel_size: int = Field(7, description="kernel of the dwconv sub-operations; odd")
    heads: int = Field(1, ge=1, description="heads of the dot_product sub-operations")
    ratio: float = Field(1.0, gt=0, description="hidden width / C of linear_channel keys")
    spatial_rank: int = Field(2, ge=1, le=3, description="spatial rank of the tokens (filled by the holder)")

    _k = field_validator("kernel_size")(classmethod(lambda cls, v: _odd("kernel_size", v)))

    @model_validator(mode="after")
    def _consistent(self) -> MetaMixerConfig:
        if (self.key == "dot_product") != (self.value == "dot_product"):
            raise ValueError("key and value: 'dot_product' must be used for both (the coefficients are N x N)")
        if self.key == "dot_product" and self.dim % self.heads:
            raise ValueError(f"heads={self.heads} must divide dim={self.dim}")
        if self.key == "linear_channel" and self.value == "dwconv" and self.ratio != 1.0:
            raise ValueError("ratio must be 1.0 when key='linear_channel' feeds value='dwconv' (depthwise keeps C)")
        if self.act == "softmax" and self.key != "dot_product":
            raise ValueError("act='softmax' is defined over token coefficients: needs key='dot_product'")
        return self


class DWConvFFNConfig(ChannelMixerConfig):
    """ConvNeXt-like channel mixer of FFNet (official ``Channel_Mixer``): ``W_2 GELU(W_1 DW_k(x))``."""

    kernel_size: int = Field(7, description="kernel of the depthwise conv; odd")
    ratio: float = Field(3.0, gt=0, description="expansion of the FFN (3 in FFNet)")
    rep_small_kernel: int | None = Field(3, description="RepVGG parallel small kernel when kernel_size >= 5")
    spatial_rank: int = Field(2, ge=1, le=3, description="spatial rank of the tokens (filled by the holder)")

    _k = field_validator("kernel_size")(classmethod(lambda cls, v: _odd("kernel_size", v)))
    _rs = field_validator("rep_small_kernel")(classmethod(lambda cls, v: _odd("rep_small_kernel", v)))


class FFNetConfig(ComponentConfig):
    """FFNet (official ``models/ffnet.py``): 4-stage BN ConvNet of FFBlocks; ``preset`` fills the sizes."""

    preset: Literal["ffnet_1", "ffnet_2", "ffnet_3", "ffnet_4", "tiny", "custom"] = Field(
        "tiny", description="ffnet_1..4 (paper) or tiny (MNIST scale); custom uses depths/dims below")
    in_channels: int = Field(3, ge=1, description="input channels of the (B, H, W, C) images")
    num_classes: int = Field(1000, ge=1, description="classes of the head")
    image_size: int = Field(28, ge=8, description="side of the example batch")
    depths: list[int] | None = Field(None, description="blocks per stage (custom, or override of the preset)")
    dims: list[int] | None = Field(None, description="channels per stage")
    stem_dim: int | None = Field(None, description="first stem conv width (64 in the paper)")
    mixer_kernels: list[int] = Field([3, 3, 7, 7], description="token-mixer kernel per stage")
    channel_kernel: int | None = Field(None, description="channel-mixer dwconv kernel (3 for FFNet-1, else 7)")
    ratio: float = Field(3.0, gt=0, description="channel-mixer expansion")
    layer_scale_init: float | None = Field(None, description="LayerScale init (1e-6 for FFNet-3/4), None: off")
    drop_path: float | None = Field(None, ge=0, lt=1, description="stochastic depth rate (preset default)")

    @model_validator(mode="after")
    def _sizes(self) -> FFNetConfig:
        if self.preset == "custom" and (self.depths is None or self.dims is None):
            raise ValueError("preset='custom' needs depths and dims")
        if self.depths is not None and self.dims is not None and len(self.depths) != len(self.dims):
            raise ValueError(f"depths ({len(self.depths)}) and dims ({len(self.dims)}) must have one entry per stage")
        if len(self.mixer_kernels) < len(self.depths or [0, 0, 0, 0]):
            raise ValueError("mixer_kernels needs one kernel per stage")
        for k in self.mixer_kernels:
            _odd("mixer_kernels", k)
        return self


class ReparamFoldConfig(ComponentConfig):
    """Structural re-parameterisation for inference: BN folding and RepVGG branch merging."""

    latency_repeats: int = Field(10, ge=1, description="timed forward calls before and after (median)")
    latency_batch: int = Field(8, ge=1, description="batch of the latency measurement")
