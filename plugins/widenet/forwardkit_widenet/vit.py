"""``WideNetViT``: the paper's WideNet for images (Fig. 1; the authors' ``create_vit_moe_classifier`` with
``--share_att --share_ffn --use_moe``), and with other settings the baselines it is compared with: ViT (nothing
shared, dense FFN), ALBERT-style (all shared, norms too), ViT-MoE (nothing shared, a MoE in every block).

    x_0 = [0; E p_1; ...; E p_N] + E_pos                 (patch embedding, a constant zero class token)
    x   = x + DropPath_t(SA(LN1_t(x)))                     t = 1..T, SA the same module for every t
    x   = x + DropPath_t(MoE(LN2_t(x)))                    MoE the same module (router + experts) for every t
    y   = W_head tanh(W_rep mean_tokens(LN(x)))            (GAP head with the authors' pre-logits layer)

Images are channels-last ``(B, H, W, C_in)``; tokens ``(B, N, C)`` with ``N = 1 + HW / patch^2``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from forwardkit.interfaces import Model
from forwardkit.nn import FeedForward, LearnedPositionEmbedding, MultiHeadAttention, PatchEmbed
from forwardkit.nn.residual import DropPath
from forwardkit_widenet.config import WideNetViTConfig
from forwardkit_widenet.records import reset_routing
from forwardkit_widenet.sharing import SharedModule, owner

#: a tiny WideNet the conformance kit and the analyzer's checks use
SMALL_WIDENET: dict[str, Any] = {"name": "widenet_vit", "image_size": [8, 8], "in_channels": 1, "patch": 4,
                                 "depth": 2, "dim": 16, "heads": 2, "num_classes": 3}


class WideNetBlock(nn.Module):
    """One pre-LN transformer block ``x + DropPath(attn(norm1(x)))``, then ``+ DropPath(ffn(norm2(x)))``, on
    ``(B, N, C)``; ``attn`` and ``ffn`` (and the norms) may be :class:`~forwardkit_widenet.sharing.SharedModule`
    references to another block's modules."""

    def __init__(self, *, norm1: nn.Module, attn: nn.Module, norm2: nn.Module, ffn: nn.Module,
                 drop_path: float) -> None:
        super().__init__()
        self.norm1 = norm1
        self.attn = attn
        self.norm2 = norm2
        self.ffn = ffn
        self.drop_path = DropPath(p=drop_path)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.ffn(self.norm2(x)))


class WideNetViT(Model):
    """WideNet-ViT and its baselines (see the module docstring); presets ``widenet_b/l/h`` and ``vit_b/l/h`` have
    the paper's sizes. Input ``(B, H, W, C_in)`` images, output ``(B, num_classes)`` logits."""

    Config = WideNetViTConfig
    config: WideNetViTConfig
    conformance_configs: ClassVar[tuple[dict[str, Any], ...]] = (
        {k: v for k, v in SMALL_WIDENET.items() if k != "name"},
        {**{k: v for k, v in SMALL_WIDENET.items() if k != "name"}, "ffn": "dense", "share_norms": True,
         "pool": "cls", "representation": False, "depth": 3},
        {**{k: v for k, v in SMALL_WIDENET.items() if k != "name"}, "share_attention": False, "share_ffn": False,
         "num_experts": 2, "top_k": 1, "cls_token": False, "drop_path": 0.1},
    )

    def __init__(self, config: WideNetViTConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        cfg = self.config
        grid = [s // cfg.patch for s in cfg.image_size]
        self.patch_embed = PatchEmbed(rank=2, in_channels=cfg.in_channels, dim=cfg.dim, patch_size=cfg.patch)
        self.pos_embed = LearnedPositionEmbedding(shape=(grid[0] * grid[1] + int(cfg.cls_token),), dim=cfg.dim)
        self.pos_drop = nn.Dropout(cfg.dropout)
        rates = [cfg.drop_path * t / max(cfg.depth - 1, 1) for t in range(cfg.depth)]  # linear from 0
        blocks: list[WideNetBlock] = []
        for rate in rates:
            blocks.append(self._block(blocks[0] if blocks else None, rate))
        self.blocks = nn.ModuleList(blocks)
        self.norm = nn.LayerNorm(cfg.dim, eps=cfg.norm_eps)
        self.pre_logits: nn.Module = (nn.Sequential(nn.Linear(cfg.dim, cfg.dim), nn.Tanh()) if cfg.representation
                                      else nn.Identity())
        self.head = nn.Linear(cfg.dim, cfg.num_classes)
        self._init_weights()

    # ---- construction --------------------------------------------------------------------------------------
    def _attention(self) -> nn.Module:
        cfg = self.config
        return MultiHeadAttention(dim=cfg.dim, num_heads=cfg.heads, head_dim=cfg.dim // cfg.heads, qkv_bias=True,
                                  attn_drop=cfg.attn_dropout, proj_drop=cfg.dropout)

    def _ffn(self) -> nn.Module:
        cfg = self.config
        if cfg.ffn == "dense":
            return FeedForward(dim=cfg.dim, hidden_dim=cfg.hidden_dim, mlp_ratio=cfg.d_ff_ratio, drop=cfg.dropout)
        from forwardkit_widenet.moe import MoEFFN

        return MoEFFN(dim=cfg.dim, num_experts=cfg.num_experts, top_k=cfg.top_k, hidden_dim=cfg.hidden_dim,
                      d_ff_ratio=cfg.d_ff_ratio, drop=cfg.dropout, **cfg.moe.model_dump())

    def _norm(self) -> nn.Module:
        return nn.LayerNorm(self.config.dim, eps=self.config.norm_eps)

    def _block(self, first: WideNetBlock | None, rate: float) -> WideNetBlock:
        """A block with its own modules, or references to block 0's (``first``) where the config shares them."""
        cfg = self.config

        def part(name: str, shared: bool, make: Any) -> nn.Module:
            return SharedModule(getattr(first, name)) if first is not None and shared else make()

        return WideNetBlock(norm1=part("norm1", cfg.share_norms, self._norm), attn=part("attn", cfg.share_attention,
                            self._attention), norm2=part("norm2", cfg.share_norms, self._norm),
                            ffn=part("ffn", cfg.share_ffn, self._ffn), drop_path=rate)

    def _init_weights(self) -> None:
        """ViT init: truncated normal (std 0.02) linear and conv weights, zero biases; a MoE keeps its own init
        (:meth:`~forwardkit_widenet.moe.MoEFFN.reset_parameters`)."""
        from forwardkit_widenet.records import RoutingRecorder

        def visit(module: nn.Module) -> None:
            if isinstance(module, RoutingRecorder):
                return
            if isinstance(module, (nn.Linear, nn.Conv2d)):
                nn.init.trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            for child in module.children():
                visit(child)

        visit(self)

    # ---- what the tests and the analyzer ask ------------------------------------------------------------------
    def block_parts(self, t: int) -> dict[str, nn.Module]:
        """The modules block t calls (shared ones resolved to their owner): norm1, attn, norm2, ffn."""
        block = self.blocks[t]
        return {name: owner(getattr(block, name)) for name in ("norm1", "attn", "norm2", "ffn")}

    @classmethod
    def fields_from_metadata(cls, metadata: Any) -> dict[str, Any]:
        """``in_channels``, ``num_classes`` and ``image_size`` (the ``(H, W)`` of ``(H, W, C)`` inputs)."""
        out = super().fields_from_metadata(metadata)
        shape = tuple(metadata.input_shape)
        if len(shape) == 3:
            out["image_size"] = [int(shape[0]), int(shape[1])]
        out.pop("rank", None)
        return out

    # ---- forward ----------------------------------------------------------------------------------------------
    def tokens(self, x: Tensor) -> Tensor:
        """``(B, H, W, C_in)`` -> embedded tokens ``(B, N, C)`` (class token first when there is one)."""
        cfg = self.config
        if x.dim() != 4 or x.shape[-1] != cfg.in_channels or list(x.shape[1:3]) != list(cfg.image_size):
            raise ValueError(f"widenet_vit expects (B, {cfg.image_size[0]}, {cfg.image_size[1]}, {cfg.in_channels}) "
                             f"channels-last images, got {tuple(x.shape)}")
        patches = self.patch_embed(x).flatten(1, 2)
        if cfg.cls_token:
            patches = torch.cat([patches.new_zeros(patches.shape[0], 1, patches.shape[-1]), patches], dim=1)
        return self.pos_drop(self.pos_embed(patches))

    def forward_features(self, x: Tensor) -> Tensor:
        """Embedding and the T blocks: ``(B, H, W, C_in)`` -> ``(B, N, C)`` (before the final norm)."""
        x = self.tokens(x)
        for block in self.blocks:
            x = block(x)
        return x

    def forward(self, x: Tensor) -> Tensor:
        reset_routing(self)  # the MoE records hold this forward's calls only
        h = self.norm(self.forward_features(x))
        pooled = h[:, 0] if self.config.pool == "cls" else h.mean(dim=1)
        return self.head(self.pre_logits(pooled))

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        cfg = self.config
        x = torch.randn(batch_size, *cfg.image_size, cfg.in_channels, generator=generator)
        y = torch.randint(0, cfg.num_classes, (batch_size,), generator=generator)
        return {"x": x, "y": y}
