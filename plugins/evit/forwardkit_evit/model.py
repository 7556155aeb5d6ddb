"""EViT-ViT: a DeiT-style ViT whose blocks in ``drop_loc`` reorganise their tokens (EViT sec. 3, Fig. 2).

Images are channels-last ``(B, H, W, C_in)``; tokens ``(B, N, C)`` with the class token at index 0. The block
is the builtin :class:`~forwardkit.nn.MetaFormerBlock` (pre-norm, LayerNorm, MHSA, MLP) with the
reorganisation inserted between its two residual branches.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from forwardkit.interfaces import Model
from forwardkit.nn import FeedForward, MetaFormerBlock, PatchEmbed, init_weights
from forwardkit_evit.attention import ClsAttentionMHSA
from forwardkit_evit.config import EViTViTConfig
from forwardkit_evit.reorganize import TokenReorganizer, keep_count


class EViTBlock(MetaFormerBlock):
    """``x = x + DropPath(MHSA(LN1(x)))``; ``x = reorganize(x, a)``; ``x = x + DropPath(MLP(LN2(x)))``.

    ``a`` ``(B, N - 1)`` is the head-averaged class attention of this block's MHSA (computed on LN1(x)); the
    tokens are gathered from the post-residual ``x`` (EViT sec. 3.2). Input ``(B, N, C)``, output
    ``(B, N', C)`` with ``N' = N`` when ``reorganizer`` is None or inactive (kappa = 1), where the block is
    exactly the plain ViT block.
    """

    def __init__(self, *, reorganizer: TokenReorganizer | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.reorganizer = reorganizer

    def forward(self, x: Tensor) -> Tensor:
        reorganize = self.reorganizer is not None and self.reorganizer.active
        mixer = self.token_mixer
        h = self.norm1(x)
        if isinstance(mixer, ClsAttentionMHSA):
            out, cls_attn = mixer.attend(h, need_cls_attn=reorganize)
        else:
            if reorganize:
                raise TypeError("a reorganising block needs a ClsAttentionMHSA token mixer")
            out, cls_attn = mixer(h), None
        x = self.res_scale1(x) + self.layer_scale1(self.drop_path(out))
        if reorganize and self.reorganizer is not None and cls_attn is not None:
            x = self.reorganizer(x, cls_attn)
        return self.res_scale2(x) + self.layer_scale2(self.drop_path(self.channel_mixer(self.norm2(x))))


def make_block(cfg: EViTViTConfig, *, drop_path: float, reorganize: bool) -> EViTBlock:
    """One block of width ``cfg.dim``; a :class:`TokenReorganizer` with ``cfg``'s kappa when ``reorganize``."""
    reorganizer = None
    if reorganize:
        reorganizer = TokenReorganizer(
            keep_rate=cfg.keep_rate, fuse=cfg.fuse, selection=cfg.selection, keep_order=cfg.keep_order
        )
    return EViTBlock(
        dim=cfg.dim,
        token_mixer=ClsAttentionMHSA(dim=cfg.dim, num_heads=cfg.num_heads, qkv_bias=cfg.qkv_bias,
                                     attn_drop=cfg.attn_drop),
        channel_mixer=FeedForward(dim=cfg.dim, mlp_ratio=cfg.mlp_ratio),
        norm="layernorm",
        norm_eps=cfg.norm_eps,
        drop_path=drop_path,
        reorganizer=reorganizer,
    )


def token_counts(num_patches: int, keep_rates: list[float], fuse: bool = True) -> list[int]:
    """Patch tokens (class token excluded) leaving each block, for per-block kappas ``keep_rates`` (1: none):
    ``M -> ceil(kappa M) (+1 fused)`` at each reorganising block. DeiT-S, kappa 0.7 at (3, 6, 9):
    196 -> 138+1 -> 98+1 -> 70+1."""
    out, m = [], num_patches
    for rate in keep_rates:
        k = keep_count(m, rate)
        if k < m:
            m = k + (1 if fuse else 0)
        out.append(m)
    return out


class EViTViT(Model):
    """ViT/DeiT with EViT token reorganisation: ``(B, H, W, C_in)`` images -> ``(B, num_classes)`` logits.

    Patch embedding (conv ``p x p`` stride ``p`` on channels-last images) -> ``(B, M, C)`` with
    ``M = (H / p)^2``; prepend the class token, add learned position embeddings (before any reorganisation, so
    nothing is re-indexed later); ``depth`` :class:`EViTBlock` s, those in ``drop_loc`` with a
    :class:`TokenReorganizer`; final LayerNorm; linear head on the class token. ``keep_rate=1`` or
    ``drop_loc=[]`` is the plain ViT (no reorganiser is built). DeiT init (trunc-normal 0.02).
    """

    Config = EViTViTConfig
    config: EViTViTConfig

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        cfg = self.config
        self.grid = cfg.image_size // cfg.patch_size
        self.num_patches = self.grid * self.grid
        self.patch_embed = PatchEmbed(rank=2, in_channels=cfg.in_channels, dim=cfg.dim, patch_size=cfg.patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + self.num_patches, cfg.dim))
        drop_loc = set(cfg.resolved_drop_loc()) if cfg.keep_rate < 1.0 else set()
        rates = [cfg.drop_path_rate * i / max(cfg.depth - 1, 1) for i in range(cfg.depth)]
        self.blocks = nn.ModuleList(
            make_block(cfg, drop_path=rates[i], reorganize=i in drop_loc) for i in range(cfg.depth)
        )
        self.norm = nn.LayerNorm(cfg.dim, eps=cfg.norm_eps)
        self.head = nn.Linear(cfg.dim, cfg.num_classes)
        self.apply(init_weights)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)

    @classmethod
    def fields_from_metadata(cls, metadata: Any) -> dict[str, Any]:
        """Also ``image_size`` from a square ``(H, W, C)`` input shape."""
        out = super().fields_from_metadata(metadata)
        shape = tuple(metadata.input_shape)
        if len(shape) == 3:
            if shape[0] != shape[1]:
                raise ValueError(f"evit_vit needs square images, got input shape {shape}")
            out["image_size"] = shape[0]
        return out

    def reorganizers(self) -> list[tuple[int, TokenReorganizer]]:
        """``(block index, reorganiser)`` for every block that has one."""
        out = []
        for i, block in enumerate(self.blocks):
            reorganizer = getattr(block, "reorganizer", None)
            if isinstance(reorganizer, TokenReorganizer):
                out.append((i, reorganizer))
        return out

    def embed(self, x: Tensor) -> Tensor:
        """``(B, H, W, C_in)`` -> ``(B, 1 + M, C)``: patches, class token, position embeddings."""
        cfg = self.config
        if x.dim() != 4 or x.shape[1:] != (cfg.image_size, cfg.image_size, cfg.in_channels):
            raise ValueError(
                f"evit_vit expects (B, {cfg.image_size}, {cfg.image_size}, {cfg.in_channels}) channels-last images, "
                f"got {tuple(x.shape)}"
            )
        patches = self.patch_embed(x).flatten(1, 2)  # (B, M, C)
        tokens = torch.cat([self.cls_token.expand(patches.shape[0], -1, -1), patches], dim=1)
        return tokens + self.pos_embed

    def forward_features(self, x: Tensor) -> Tensor:
        """Images -> final tokens ``(B, 1 + M', C)`` (after every reorganisation, before the final norm)."""
        tokens = self.embed(x)
        for block in self.blocks:
            tokens = block(tokens)
        return tokens

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.norm(self.forward_features(x)[:, 0]))

    def token_counts(self) -> list[int]:
        """Patch tokens leaving each block at the kappas in force (class token excluded)."""
        rates = [1.0] * len(self.blocks)
        for i, reorganizer in self.reorganizers():
            rates[i] = reorganizer.keep_rate
        return token_counts(self.num_patches, rates, self.config.fuse)

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        cfg = self.config
        x = torch.randn(batch_size, cfg.image_size, cfg.image_size, cfg.in_channels, generator=generator)
        y = torch.randint(0, cfg.num_classes, (batch_size,), generator=generator)
        return {"x": x, "y": y}


def set_keep_rate(model: nn.Module, keep_rate: float | None) -> int:
    """Set the runtime kappa of every :class:`TokenReorganizer` of ``model`` configured with kappa < 1 (None:
    back to the configured value); returns how many were set. Kappa can be changed at test time (EViT sec. 4)."""
    count = 0
    for module in model.modules():
        if isinstance(module, TokenReorganizer) and module.config.keep_rate < 1.0:
            module.runtime_keep_rate = keep_rate
            count += 1
    return count
