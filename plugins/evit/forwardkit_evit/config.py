"""Configs of the EViT components (torch-free: discovery, ``forwardkit show`` and validation import this).

EViT: Liang et al., "Not All Patches are What You Need: Expediting Vision Transformers via Token
Reorganizations", ICLR 2022 (arXiv 2202.07800).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from forwardkit.config import ComponentConfig, TokenMixerConfig

Selection = Literal["cls_attention", "random"]
KeepOrder = Literal["score", "spatial"]


def default_drop_loc(depth: int) -> list[int]:
    """The blocks at depth fractions 1/4, 1/2, 3/4 (``floor(depth * f)``): (3, 6, 9) for 12 blocks as in
    EViT-DeiT-S, (1, 3, 4) for the 6-block ``evit-vit-mini``; duplicates removed, sorted."""
    return sorted({min(depth - 1, int(depth * f)) for f in (0.25, 0.5, 0.75)}) if depth > 0 else []


class ClsAttentionConfig(TokenMixerConfig):
    """Multi-head self-attention over ``(B, N, C)`` tokens whose token 0 is the class token."""

    num_heads: int = Field(4, ge=1, description="attention heads H; dim must be divisible by it")
    qkv_bias: bool = Field(True, description="bias of the qkv projection (DeiT: True)")
    attn_drop: float = Field(0.0, ge=0.0, lt=1.0, description="dropout on the attention weights (DeiT: 0)")

    @model_validator(mode="after")
    def _check_heads(self) -> ClsAttentionConfig:
        if self.dim % self.num_heads:
            raise ValueError(f"dim={self.dim} is not divisible by num_heads={self.num_heads}")
        return self


class TokenReorganizerConfig(ComponentConfig):
    """The token reorganisation between MHSA and FFN of one block (EViT sec. 3, Fig. 2)."""

    keep_rate: float = Field(0.7, gt=0.0, le=1.0, description="kappa: share of the patch tokens kept (1: identity)")
    fuse: bool = Field(True, description="fuse the inattentive tokens into one token weighted by cls attention")
    selection: Selection = Field(
        "cls_attention", description="'cls_attention': top-K by class-token attention; 'random': ablation control"
    )
    keep_order: KeepOrder = Field(
        "score", description="'score': kept tokens sorted by attention (official code); 'spatial': original order"
    )


class EViTViTConfig(ComponentConfig):
    """A plain ViT/DeiT (patch embedding, class token, learned position embedding, pre-norm blocks, class-token
    head) with token reorganisation after the MHSA of the blocks in ``drop_loc``. ``keep_rate=1`` or
    ``drop_loc=[]`` is the plain ViT. Defaults are the card's ``evit-vit-mini`` (28x28, patch 4, 49 patches)."""

    image_size: int = Field(28, ge=1, description="height = width of the (B, H, W, C) input images")
    in_channels: int = Field(1, ge=1, description="C of the input images")
    num_classes: int = Field(10, ge=1, description="classes of the linear head on the class token")
    patch_size: int = Field(4, ge=1, description="side of the square patches (image_size must be a multiple)")
    dim: int = Field(96, ge=1, description="token width C")
    depth: int = Field(6, ge=1, description="number of blocks")
    num_heads: int = Field(3, ge=1, description="attention heads per block")
    mlp_ratio: float = Field(4.0, gt=0.0, description="FFN hidden width = round(mlp_ratio * dim)")
    qkv_bias: bool = Field(True, description="bias of the qkv projections")
    drop_path_rate: float = Field(0.0, ge=0.0, lt=1.0, description="stochastic depth, linear over the blocks")
    attn_drop: float = Field(0.0, ge=0.0, lt=1.0, description="dropout on attention weights")
    norm_eps: float = Field(1e-6, gt=0.0, description="epsilon of the LayerNorms")
    keep_rate: float = Field(0.7, gt=0.0, le=1.0, description="kappa at every block of drop_loc (1: plain ViT)")
    drop_loc: list[int] | None = Field(
        None, description="0-based blocks that reorganise tokens; None: depth fractions 1/4, 1/2, 3/4; []: none"
    )
    fuse: bool = Field(True, description="fuse the inattentive tokens into one extra token")
    selection: Selection = Field("cls_attention", description="token selection rule (random: ablation control)")
    keep_order: KeepOrder = Field("score", description="order of the kept tokens")

    @model_validator(mode="after")
    def _check(self) -> EViTViTConfig:
        if self.image_size % self.patch_size:
            raise ValueError(f"image_size={self.image_size} is not a multiple of patch_size={self.patch_size}")
        if self.dim % self.num_heads:
            raise ValueError(f"dim={self.dim} is not divisible by num_heads={self.num_heads}")
        bad = [i for i in self.drop_loc or [] if not 0 <= i < self.depth]
        if bad:
            raise ValueError(f"drop_loc {bad} outside the blocks 0..{self.depth - 1}")
        return self

    def resolved_drop_loc(self) -> list[int]:
        """``drop_loc``, or the default depth fractions when it is None."""
        return sorted(set(self.drop_loc)) if self.drop_loc is not None else default_drop_loc(self.depth)


class EViTAdapterConfig(ComponentConfig):
    """Turn a trained (plain) ViT into EViT: cls-attention MHSA everywhere, reorganisers at ``drop_loc``."""

    drop_loc: list[int] | None = Field(
        None, description="0-based blocks that reorganise; None: depth fractions 1/4, 1/2, 3/4 ((3,6,9) of 12)"
    )
    keep_rate: float = Field(0.7, gt=0.0, le=1.0, description="kappa at every block of drop_loc")
    fuse: bool = Field(True, description="fuse the inattentive tokens into one token")
    selection: Selection = Field("cls_attention", description="token selection rule")
    keep_order: KeepOrder = Field("score", description="order of the kept tokens")


class KeepRateScheduleConfig(ComponentConfig):
    """Keep-rate warm-up of EViT training from scratch: kappa=1 for ``start_epoch`` epochs, then cosine down to
    the base over ``shrink_epochs`` epochs (evaluated per iteration), then constant."""

    start_epoch: float = Field(10.0, ge=0.0, description="epochs at kappa=1 before shrinking starts (paper: 10)")
    shrink_epochs: float = Field(100.0, ge=0.0, description="epochs of the cosine from 1 to the base (paper: 100)")
    base_keep_rate: float | None = Field(
        None, gt=0.0, le=1.0, description="final kappa; None: each reorganiser's configured kappa (paper: 0.7)"
    )


class EViTCompressorConfig(ComponentConfig):
    """Adapter + a short fine-tune on the given batches, with measured before/after figures."""

    drop_loc: list[int] | None = Field(None, description="as EViTAdapter; None: depth fractions 1/4, 1/2, 3/4")
    keep_rate: float = Field(0.7, gt=0.0, le=1.0, description="kappa at every block of drop_loc")
    fuse: bool = Field(True, description="fuse the inattentive tokens into one token")
    epochs: int = Field(3, ge=0, description="fine-tuning passes over the given batches (0: adapt only)")
    lr: float = Field(2e-5, gt=0.0, description="AdamW learning rate of the fine-tune (paper: 2e-5 cosine)")
    weight_decay: float = Field(1e-6, ge=0.0, description="AdamW weight decay (paper fine-tune: 1e-6)")
    latency_repeats: int = Field(5, ge=1, description="timed forward passes (median) for the latency figures")


class KeptTokenAnalyzerConfig(ComponentConfig):
    """Per-image maps of the patches kept, fused or dropped at each reorganisation layer."""

    max_images: int = Field(8, ge=1, description="images drawn in the figure (numbers use every given image)")
    figure: bool = Field(True, description="draw the masks (matplotlib)")
