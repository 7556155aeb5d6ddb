"""EViTAdapter: turn a trained plain ViT into EViT (swap in class-attention MHSA, insert reorganisers)."""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import torch
from torch import nn

from forwardkit.interfaces import Adapter
from forwardkit.nn import MultiHeadAttention
from forwardkit_evit.attention import ClsAttentionMHSA
from forwardkit_evit.config import EViTAdapterConfig, default_drop_loc
from forwardkit_evit.model import EViTBlock, EViTViT
from forwardkit_evit.reorganize import TokenReorganizer

#: a small plain ViT (no reorganiser) the conformance kit adapts
SMALL_VIT: dict[str, Any] = {
    "name": "evit_vit", "image_size": 8, "patch_size": 2, "dim": 16, "depth": 4, "num_heads": 2,
    "num_classes": 4, "in_channels": 3, "keep_rate": 1.0,
}


def as_cls_attention(mixer: nn.Module) -> ClsAttentionMHSA:
    """A :class:`ClsAttentionMHSA` computing the same function as ``mixer`` (weights copied): itself, or a
    non-causal builtin ``attention`` mixer whose inner width equals ``dim``."""
    if isinstance(mixer, ClsAttentionMHSA):
        return mixer
    if isinstance(mixer, MultiHeadAttention) and not mixer.causal and mixer.num_heads * mixer.head_dim == mixer.dim:
        new = ClsAttentionMHSA(dim=mixer.dim, num_heads=mixer.num_heads, qkv_bias=mixer.qkv.bias is not None,
                               attn_drop=mixer.config.attn_drop)
        with torch.no_grad():
            new.qkv.weight.copy_(mixer.qkv.weight)
            if mixer.qkv.bias is not None:
                new.qkv.bias.copy_(mixer.qkv.bias)
            new.proj.weight.copy_(mixer.proj.weight)
            if mixer.proj.bias is not None:
                new.proj.bias.copy_(mixer.proj.bias)
            else:
                new.proj.bias.zero_()
        return new
    raise TypeError(f"cannot turn a {type(mixer).__name__} token mixer into class-token MHSA")


def apply_evit(
    model: nn.Module,
    *,
    keep_rate: float = 0.7,
    drop_loc: list[int] | None = None,
    fuse: bool = True,
    selection: str = "cls_attention",
    keep_order: str = "score",
    inplace: bool = False,
) -> nn.Module:
    """EViT from a ViT with class token (an ``evit_vit`` model, any keep rate): every block's MHSA becomes a
    :class:`ClsAttentionMHSA` (weights copied), the blocks in ``drop_loc`` (None: depth fractions 1/4, 1/2,
    3/4, i.e. (3, 6, 9) of 12) get a :class:`TokenReorganizer` with ``keep_rate`` and every other block none.
    No parameter is added, so with ``keep_rate=1`` the logits are exactly the original's. Returns a copy
    unless ``inplace``; the model's config is updated to describe the result."""
    if not isinstance(model, EViTViT):
        raise TypeError(
            f"EViT needs a ViT with a class token (an 'evit_vit' model, e.g. with keep_rate=1), got "
            f"{type(model).__name__}: without a class token there is no class attention to rank patches by"
        )
    out = model if inplace else copy.deepcopy(model)
    depth = len(out.blocks)
    where = sorted(set(drop_loc)) if drop_loc is not None else default_drop_loc(depth)
    bad = [i for i in where if not 0 <= i < depth]
    if bad:
        raise ValueError(f"drop_loc {bad} outside the blocks 0..{depth - 1}")
    for i, block in enumerate(out.blocks):
        if not isinstance(block, EViTBlock):
            raise TypeError(f"block {i} is a {type(block).__name__}, not an EViTBlock")
        block.token_mixer = as_cls_attention(block.token_mixer)
        block.reorganizer = None
        if i in where and keep_rate < 1.0:
            block.reorganizer = TokenReorganizer(keep_rate=keep_rate, fuse=fuse, selection=selection,
                                                 keep_order=keep_order)
    out.config = out.config.model_copy(
        update={"keep_rate": keep_rate, "drop_loc": where, "fuse": fuse, "selection": selection,
                "keep_order": keep_order}
    )
    return out


class EViTAdapter(Adapter):
    """Adapter form of :func:`apply_evit` (returns a changed copy)."""

    Config = EViTAdapterConfig
    config: EViTAdapterConfig
    inplace: ClassVar[bool] = False
    conformance_models: ClassVar[tuple[Any, ...]] = (SMALL_VIT,)

    def apply(self, model: nn.Module) -> nn.Module:
        cfg = self.config
        return apply_evit(model, keep_rate=cfg.keep_rate, drop_loc=cfg.drop_loc, fuse=cfg.fuse,
                          selection=cfg.selection, keep_order=cfg.keep_order)
