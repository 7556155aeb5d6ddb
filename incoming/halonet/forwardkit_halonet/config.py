"""Configs of the halonet components (no torch here: discovery, ``forwardkit show`` and validation read them)."""

from __future__ import annotations

from pydantic import Field, model_validator

from forwardkit.config import TokenMixerConfig


class _LocalAttentionConfig(TokenMixerConfig):
    """Fields shared by the blocked (halo) and the centred-window (SASA) attention."""

    num_heads: int = Field(8, ge=1, le=64, description="attention heads n; dim (C) must be divisible by it")
    dim_head: int | None = Field(
        None, ge=1, description="query/key channels per head d_k; None: C rounded up to a multiple of 8, divided by "
        "num_heads (timm's convention); value channels per head are C / num_heads")
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


