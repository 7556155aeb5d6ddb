"""Configs of the fcaformer components (no torch here: discovery, ``forwardkit show`` and validation import it).

FcaFormer: Zhang, Hu & Wang, "Fcaformer: Forward Cross Attention in Hybrid Vision Transformer", ICCV 2023
(arXiv 2211.07198); official code hkzhang-git/FcaFormer, ``image_classification/models/fcaformer.py``.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field, model_validator

from forwardkit.config import ComponentConfig
from forwardkit_fcaformer.presets import PRESETS

Preset = Literal["fcaformer_l0", "fcaformer_l1", "fcaformer_l2", "fcaformer_l3", "fcaformer_l4", "tiny", "custom"]
Layout = Literal["hybrid", "plain"]
Merge = Literal["dwconv", "avgpool", "none"]

#: the fields a preset fills when the config leaves them None
PRESET_FIELDS = ("layout", "dims", "depths", "head_dim", "stem_strides", "patch_size", "image_size", "drop_path")
#: stages of ConvNeXt blocks before the Fca stages in the hybrid layout (official: layer_0, layer_1)
CONV_STAGES = 2


class FcaFormerConfig(ComponentConfig):
    """FcaFormer: a ConvNeXt stem and stages, then Fca stages whose blocks also attend to the cross tokens of
    the earlier blocks of their stage (``hybrid``), or one Fca stage after a patch embedding (``plain``).

    ``preset`` fills every size left None; the mechanism switches below default to the official model, and
    turn it into the card's ablations: ``cross_tokens=False`` is the TinyViT-style baseline (attention with
    relative bias + local conv), ``lsf=False, cross_bias=False`` drops the calibration, ``tme='avgpool'``
    merges by average pooling instead of the stride-4 7x7 depthwise conv."""

    preset: Preset = Field("tiny", description="fcaformer_l0..l4 (paper, 224 px) or tiny (MNIST 28 px); custom: "
                           "set layout, dims, depths, head_dim, image_size (and stem_strides or patch_size)")
    in_channels: int = Field(3, ge=1, description="C of the (B, H, W, C) input images")
    num_classes: int = Field(1000, ge=1, description="classes of the linear head")
    image_size: int | None = Field(None, ge=4, description="side of the square input; fixes every stage grid "
                                   "(relative-bias tables, LSF and beta sizes depend on it); None: the preset's")
    layout: Layout | None = Field(None, description="hybrid: stem /4 + 2 ConvNeXt stages + Fca stages (L1-L4); "
                                  "plain: patch embedding + position embedding + one Fca stage (L0)")
    dims: list[int] | None = Field(None, description="channels per stage")
    depths: list[int] | None = Field(None, description="blocks per stage")
    stem_strides: list[int] | None = Field(None, description="hybrid: strides of the two Conv3x3+BN stem convs "
                                           "(official 2, 2 -> /4; tiny 1, 1)")
    patch_size: int | None = Field(None, ge=1, description="plain: side of the patch embedding (DeiT: 16)")
    head_dim: int | None = Field(None, ge=1, description="channels per attention head (official 32; heads = C / "
                                 "head_dim in every Fca stage)")
    mlp_ratio: float = Field(4.0, gt=0.0, description="FFN hidden width / C (ConvNeXt and Fca blocks)")
    qkv_bias: bool = Field(True, description="bias of the shared qkv Linear")
    rel_bias: Literal["levit", "none"] = Field("levit", description="LeViT/TinyViT attention bias per head and "
                                               "(|dy|, |dx|) offset between own tokens (table init 0)")
    cross_tokens: bool = Field(True, description="forward cross attention; False: no cross tokens anywhere (the "
                               "TinyViT-style baseline, variant (b))")
    lsf: bool = Field(True, description="learnable scale factor per cross token (init 1), variant (c) turns it off")
    lsf_position: Literal["before_norm", "after_norm"] = Field(
        "before_norm", description="where the LSF multiplies: before the cross tokens' LayerNorm (official code; "
        "the LayerNorm then cancels it up to eps) or after it")
    cross_bias: bool = Field(True, description="learnable attention-logit bias beta per head and cross token (init 0)")
    tme: Merge = Field("dwconv", description="token merge of TME: 'dwconv' (DW k x k, stride s, no bias; official), "
                       "'avgpool' (same window, variant (d)), 'none' (every token is a cross token)")
    merge_kernel: int = Field(7, ge=1, description="kernel of the merge; odd (padding kernel // 2)")
    merge_stride: int = Field(4, ge=1, description="stride of the merge: ceil(H/s) * ceil(W/s) cross tokens per block")
    max_depth: int = Field(12, ge=1, description="cab_max_d: a block reads the cross tokens of at most this many "
                           "earlier blocks of its stage")
    local_conv: bool = Field(True, description="TME enhancement: BN(DW3x3(x)) replaces x between attention and "
                             "FFN (no residual, as TinyViT)")
    double_ln_in_mlp: bool = Field(True, description="the FFN's own LayerNorm after LN2 (official); False: only LN2")
    layer_scale_init: float = Field(1e-6, gt=0.0, description="init of the per-channel layer scales (all blocks)")
    drop_path: float | None = Field(None, ge=0.0, lt=1.0, description="stochastic depth, linear over all blocks; "
                                    "None: the preset's (L1 0, L2 0.1, L3 0.2, L4 0.4 from scripts/fca_l*.sh)")
    attention_backend: Literal["sdpa", "reference"] = Field(
        "sdpa", description="joint softmax by torch's fused attention, or written out (same numbers)")

    def sizes(self) -> dict[str, Any]:
        """The preset's sizes with every field this config sets laid over them."""
        out = dict(PRESETS.get(self.preset, {}))
        for name in PRESET_FIELDS:
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        return out

    def grids(self) -> list[int]:
        """Side of the square token grid of every stage: hybrid ``image / prod(stem strides)``, then halved
        (ceil, a 3x3 stride-2 conv with padding 1) at every PatchMerging; plain ``image // patch``."""
        s = self.sizes()
        if s["layout"] == "plain":
            return [s["image_size"] // s["patch_size"]]
        side = s["image_size"]
        for stride in s["stem_strides"]:
            side = math.ceil(side / stride)
        out = [side]
        for _ in s["dims"][1:]:
            out.append(math.ceil(out[-1] / 2))
        return out

    def fca_stages(self) -> list[int]:
        """Indices of the Fca (attention) stages."""
        n = len(self.sizes()["dims"])
        return list(range(n)) if self.sizes()["layout"] == "plain" else list(range(CONV_STAGES, n))

    @model_validator(mode="after")
    def _check(self) -> FcaFormerConfig:
        s = self.sizes()
        missing = [f for f in ("layout", "dims", "depths", "head_dim", "image_size") if s.get(f) is None]
        if missing:
            raise ValueError(f"preset={self.preset!r} needs {', '.join(missing)}")
        dims, depths = s["dims"], s["depths"]
        if len(dims) != len(depths):
            raise ValueError(f"dims ({len(dims)}) and depths ({len(depths)}) need one entry per stage")
        if min(dims) < 1 or min(depths) < 1:
            raise ValueError("dims and depths must be positive")
        if s["layout"] == "plain":
            if len(dims) != 1 or not s.get("patch_size"):
                raise ValueError("layout='plain' is one Fca stage: one entry in dims/depths and a patch_size")
            if s["image_size"] % s["patch_size"]:
                raise ValueError(f"image_size={s['image_size']} is not a multiple of patch_size={s['patch_size']}")
        else:
            if len(dims) <= CONV_STAGES:
                raise ValueError(f"layout='hybrid' needs more than {CONV_STAGES} stages (ConvNeXt, then Fca)")
            strides = s.get("stem_strides")
            if not strides or len(strides) != 2 or any(st not in (1, 2) for st in strides):
                raise ValueError(f"stem_strides must be two strides of 1 or 2, got {strides}")
        for i in self.fca_stages():
            if dims[i] % s["head_dim"]:
                raise ValueError(f"head_dim={s['head_dim']} does not divide dim {dims[i]} of Fca stage {i}")
        if self.merge_kernel % 2 == 0:
            raise ValueError(f"merge_kernel={self.merge_kernel} must be odd (padding kernel // 2)")
        return self


class CrossAttentionMassConfig(ComponentConfig):
    """Attention mass on cross tokens, per Fca block, from the joint softmax of a trained ``fcaformer``."""

    max_batches: int = Field(4, ge=1, description="batches of the given data to average over")
    figure: bool = Field(False, description="also draw the mass per block (bar chart)")
