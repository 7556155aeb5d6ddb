"""Configs of the halonet components (no torch here: discovery, ``forwardkit show`` and validation read them)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from forwardkit.config import ComponentConfig, TokenMixerConfig


class _LocalAttentionConfig(TokenMixerConfig):
    """Fields shared by the blocked (halo) and the centred-window (SASA) attention."""

    num_heads: int = Field(8, ge=1, le=64, description="attention heads n; dim (C) must be divisible by it")
    dim_head: int | None = Field(
        None, ge=1, description="query/key channels per head d_k; None: C rounded to the nearest multiple of 8 "
        "(timm's make_divisible), divided by num_heads; value channels per head are C / num_heads")
    qkv_bias: bool = Field(False, description="bias of the fused 1x1 q/k/v projection (step 1 of the card)")
    rel_pos: bool = Field(True, description="add the factorised relative-position logits q.r^h[dy] + q.r^w[dx]")
    scale_pos_embed: bool = Field(False, description="scale the relative logits by d_k^-1/2 too (timm option)")
    mask_padding: bool = Field(False, description="mask zero-padded keys out of the softmax (lucidrains); False: "
                               "zero k/v, unmasked (paper and timm)")
    out_proj: bool = Field(True, description="1x1 output projection W_o after merging the heads")
    rank: int = Field(2, ge=1, le=3, description="spatial rank r of the tokens (one relative table per axis); the "
                      "holder fills it from the grid (fields_for_input)")

    @model_validator(mode="after")
    def _heads_divide_dim(self) -> _LocalAttentionConfig:
        if self.dim % self.num_heads:
            raise ValueError(f"num_heads={self.num_heads} must divide dim={self.dim} (value channels per head)")
        return self


class HaloAttentionConfig(_LocalAttentionConfig):
    """Settings of ``halo_attention``: blocked local self-attention with a halo (HaloNet, Vaswani et al. 2021)."""

    block_size: int = Field(8, ge=1, le=64, description="query block side b; each block of b^r queries shares a window")
    halo_size: int = Field(3, ge=0, le=32, description="halo h added on every side: window side w = b + 2h")
    pad_to_block: bool = Field(True, description="pad each spatial axis up to a multiple of b and crop back; "
                               "False: refuse grids not divisible by b (as timm and lucidrains assert)")
    causal: bool = Field(False, description="rank 1 only: mask keys after the query (window = h previous tokens "
                         "+ own block)")


class SasaAttentionConfig(_LocalAttentionConfig):
    """Settings of ``sasa_attention``: per-pixel centred k^r window attention (Ramachandran et al. 2019)."""

    kernel_size: int = Field(7, ge=1, le=63, description="odd window side k centred on each query (k = b + 2h to match "
                             "a halo window)")

    @model_validator(mode="after")
    def _odd_kernel(self) -> SasaAttentionConfig:
        if self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size={self.kernel_size} must be odd (a window centred on the query)")
        return self


QueryOffsets = Literal["pixel", "block"]


class HaloDownsampleConfig(_LocalAttentionConfig):
    """Settings of ``HaloDownsample``: halo attention whose output grid is halved (card step 6).

    A model building block, not a token mixer (it changes the grid): ``(B, *spatial, C) -> (B, *spatial/2, C)``.
    """

    block_size: int = Field(8, ge=1, le=64, description="query block side b (the strided path needs b even)")
    halo_size: int = Field(3, ge=0, le=32, description="halo h added on every side: window side w = b + 2h")
    stride: Literal[2] = Field(2, description="output stride s (timm's HaloAttn allows only 1 and 2; s=1 is "
                               "halo_attention)")
    avg_down: bool = Field(False, description="attention at stride 1 then 2x2 average pooling instead of strided "
                           "queries (timm's avg_down; also used whenever b is odd)")
    query_offsets: QueryOffsets = Field(
        "pixel", description="relative offsets of the strided queries: 'pixel' from each query's pixel (the "
        "output is stride-1 attention subsampled), 'block' from its index in the (b/2)^r sub-block (timm)")
    pad_to_block: bool = Field(True, description="pad each spatial axis up to a multiple of b and crop back; "
                               "False: refuse grids not divisible by b (timm asserts)")
    out_proj: bool = Field(False, description="1x1 output projection W_o (timm's HaloAttn has none: the "
                           "bottleneck's 1x1 conv follows)")


HaloNetPreset = Literal["tiny", "halonet26t", "sehalonet33ts", "halonet50ts", "eca_halonext26ts", "halonet_h1"]


class HaloNetConfig(ComponentConfig):
    """Settings of the ``halonet`` model: a bottleneck ResNet whose 3x3 convs are halo attention in some blocks.

    The presets are timm's ``byoanet`` layouts (block types, widths, strides, stem, activation, SE/ECA); the
    halo fields left at None take the preset's values.
    """

    preset: HaloNetPreset = Field(
        "halonet26t", description="block layout: timm's halonet26t (halo in stages 3-4), sehalonet33ts, "
        "halonet50ts, eca_halonext26ts, halonet_h1 (halo everywhere, the paper's H1), or 'tiny' (28x28 tests)")
    in_channels: int = Field(3, ge=1, description="input channels C_in (filled from the data)")
    num_classes: int = Field(1000, ge=0, description="outputs of the head (filled from the data); 0: pooled "
                             "features")
    layout: Literal["hybrid", "all"] = Field(
        "hybrid", description="'hybrid': the preset's mix of conv bottlenecks and halo blocks; 'all': every "
        "block is a halo block (the paper's pure HaloNets)")
    block_size: int | None = Field(None, ge=1, le=64, description="halo query block b; None: the preset's (8)")
    halo_size: int | None = Field(None, ge=0, le=32, description="halo h; None: the preset's (2 or 3)")
    num_heads: int | None = Field(None, ge=1, le=64, description="attention heads of every halo block; None: "
                                  "the preset's (8; 4 in halonet50ts' stage-2 block)")
    dim_head: int | None = Field(None, ge=1, description="query/key channels per head; None: the preset's "
                                 "(make_divisible(C, 8) / heads, 16 in eca_halonext26ts)")
    avg_down: bool = Field(False, description="strided halo blocks pool a stride-1 attention 2x2 instead of "
                           "striding the queries (HaloDownsample.avg_down)")
    query_offsets: QueryOffsets = Field(
        "pixel", description="relative offsets of strided queries (HaloDownsample.query_offsets); 'block' "
        "reproduces timm's outputs")
    qkv_bias: bool = Field(False, description="bias of the q/k/v projections")
    scale_pos_embed: bool = Field(False, description="scale the relative logits by d_k^-1/2 too (timm option)")
    mask_padding: bool = Field(False, description="mask zero-padded keys out of the softmax (False: paper, timm)")
    drop_path_rate: float = Field(0.0, ge=0.0, lt=1.0, description="stochastic depth, linear from 0 over all "
                                  "blocks")
    zero_init_last: bool = Field(True, description="zero the last BN scale of every residual branch (timm)")
