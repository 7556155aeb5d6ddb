"""ViT-Res: the paper's multi-stage ViT (official ``FlexibleDistillVisionTransformerSR``).

Images ``(B, H, W, C_in)`` (channels-last) -> patch stem -> ``(B, h*w, C_1)`` -> class token(s) prepended and
a learned position embedding added -> stage 1 blocks -> residual spatial reduction (``h, w`` halve,
``C_1 -> C_2``) -> stage 2 blocks -> ... -> LayerNorm of the class token(s) only -> linear head on the first
class token -> ``(B, num_classes)``. A block is pre-norm: ``x + DropPath(MHSA(LN(x)))``, then
``x + DropPath(MLP(LN(x)))``. One stage is the single-stage DeiT-like ViT.
"""

from __future__ import annotations

from typing import Any, ClassVar, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit.interfaces import Model
from forwardkit.nn import DropPath, FeedForward, PatchEmbed, drop_path_schedule
from forwardkit_vit_resnas.config import ViTResConfig
from forwardkit_vit_resnas.rsr import ResidualSpatialReduction


def pad_to(x: Tensor, size: int) -> Tensor:
    """Zero-pad ``(B, H, W, C)`` images (centred) to ``size x size``; refuses larger ones."""
    h, w = x.shape[1], x.shape[2]
    if h > size or w > size:
        raise ValueError(f"images of {h}x{w} are larger than the network's img_size={size}")
    if h == size and w == size:
        return x
    top, left = (size - h) // 2, (size - w) // 2
    return F.pad(x, (0, 0, left, size - w - left, top, size - h - top))


class ConvBNReLU(nn.Module):
    """``Conv2d(3x3, no bias) -> BatchNorm2d -> ReLU`` on ``(B, C, H, W)`` (official ``ConvBnAct``)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(x)))


class ConvStem(nn.Module):
    """The official ``PatchConvEmbed``: ``(B, H, W, C_in) -> (B, H/p, W/p, dim)``. ``a = conv1(x)`` (stride 2),
    ``a + conv3(conv2(a))``, then a ``p/2 x p/2`` conv with stride ``p/2`` (ViT-Res-Tiny: 24 channels, 7x7/7)."""

    def __init__(self, *, in_channels: int, dim: int, patch: int, mid: int) -> None:
        super().__init__()
        self.conv1 = ConvBNReLU(in_channels, mid, stride=2)
        self.conv2 = ConvBNReLU(mid, mid)
        self.conv3 = ConvBNReLU(mid, mid)
        self.proj = nn.Conv2d(mid, dim, patch // 2, stride=patch // 2)

    def forward(self, x: Tensor) -> Tensor:
        a = self.conv1(x.permute(0, 3, 1, 2))
        return self.proj(a + self.conv3(self.conv2(a))).permute(0, 2, 3, 1)


def make_stem(cfg: Any, dim: int) -> nn.Module:
    """The patch stem of a network config: ``linear`` a :class:`~forwardkit.nn.PatchEmbed`, ``conv`` a
    :class:`ConvStem`."""
    if cfg.stem == "conv":
        return ConvStem(in_channels=cfg.in_channels, dim=dim, patch=cfg.patch, mid=cfg.stem_mid)
    return PatchEmbed(rank=2, in_channels=cfg.in_channels, dim=dim, patch_size=cfg.patch)


def init_linear(module: nn.Module) -> None:
    """The official ``_init_weights``: Linear weights trunc-normal (std 0.02), biases 0 (convs keep torch's init)."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def build_token_mixer(cfg: ViTResConfig, *, dim: int, heads: int, head_dim: int) -> nn.Module:
    """The block's token mixer from ``cfg.token_mixer``: ``num_heads`` and ``head_dim`` are the block's (they
    are architecture, set here for a mixer whose Config has them); the rest is the spec's."""
    spec = cfg.token_mixer
    fields = type(spec.config).model_fields
    shape = {k: v for k, v in {"num_heads": heads, "head_dim": head_dim}.items() if k in fields}
    return spec.build(dim=dim, **shape)


class ViTResBlock(nn.Module):
    """Pre-norm transformer block on ``(B, N, C)``: ``x + DropPath(mixer(LN1 x))``, ``x + DropPath(MLP(LN2 x))``."""

    def __init__(self, *, dim: int, token_mixer: nn.Module, mlp_hidden: int, drop_path: float, eps: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.token_mixer = token_mixer
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.channel_mixer = FeedForward(dim=dim, hidden_dim=mlp_hidden)
        self.drop_path = DropPath(p=drop_path)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.drop_path(self.token_mixer(self.norm1(x)))
        return x + self.drop_path(self.channel_mixer(self.norm2(x)))


class ViTRes(Model):
    """ViT-Res (module docstring): ``(B, H, W, C_in)`` images -> ``(B, num_classes)`` logits. Inputs smaller
    than ``img_size`` are zero-padded (centred). Parameters: ``stem``, ``cls_token`` ``(1, T, C_1)``,
    ``pos_embed`` ``(1, T + h*w, C_1)``, ``stages[s][i]`` (:class:`ViTResBlock`), ``reductions[s]``
    (:class:`~forwardkit_vit_resnas.rsr.ResidualSpatialReduction` from stage s to s + 1), ``norm``, ``head``."""

    Config = ViTResConfig
    config: ViTResConfig
    #: the card's miniature, and a small single-stage (DeiT-like) net with the conv stem
    conformance_configs: ClassVar[tuple[dict[str, Any], ...]] = (
        {}, {"img_size": 8, "patch": 2, "stem": "conv", "stem_mid": 4, "dims": [16], "depths": [2], "heads": [2]})

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        cfg = self.config
        self.grid = cfg.img_size // cfg.patch
        t = cfg.num_cls_tokens
        self.stem = make_stem(cfg, cfg.dims[0])
        self.cls_token = nn.Parameter(torch.zeros(1, t, cfg.dims[0]))
        self.pos_embed = nn.Parameter(torch.zeros(1, t + self.grid ** 2, cfg.dims[0]))
        rates = drop_path_schedule(cfg.drop_path, cfg.depths)
        self.stages = nn.ModuleList()
        self.reductions = nn.ModuleList()
        grid = self.grid
        for s, blocks in enumerate(cfg.block_shapes()):
            if s > 0:
                self.reductions.append(ResidualSpatialReduction(
                    in_dim=cfg.dims[s - 1], out_dim=cfg.dims[s], grid=grid, num_cls_tokens=t, residual=cfg.residual_sr,
                    kernel=cfg.sr_kernel, new_pos_embed=cfg.new_pos_embed, norm_eps=cfg.norm_eps))
                grid //= 2
            self.stages.append(nn.ModuleList(
                ViTResBlock(dim=cfg.dims[s], token_mixer=build_token_mixer(cfg, dim=cfg.dims[s], heads=h, head_dim=d),
                            mlp_hidden=m, drop_path=rates[s][i], eps=cfg.norm_eps)
                for i, (h, d, m) in enumerate(blocks)))
        self.norm = nn.LayerNorm(cfg.dims[-1], eps=cfg.norm_eps)
        self.head = nn.Linear(cfg.dims[-1], cfg.num_classes)
        self.apply(init_linear)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)

    def embed(self, x: Tensor) -> Tensor:
        """``(B, H, W, C_in)`` -> ``(B, T + h*w, C_1)``: stem, class tokens, position embedding."""
        cfg = self.config
        if x.dim() != 4 or x.shape[-1] != cfg.in_channels:
            raise ValueError(f"vit_res expects (B, H, W, {cfg.in_channels}) channels-last images, got {tuple(x.shape)}")
        patches = self.stem(pad_to(x, cfg.img_size)).flatten(1, 2)
        tokens = torch.cat([self.cls_token.expand(patches.shape[0], -1, -1), patches], dim=1)
        return tokens + self.pos_embed

    def forward_features(self, x: Tensor) -> Tensor:
        """Images -> the normalised class token(s) ``(B, T, C_last)``."""
        tokens = self.embed(x)
        for s, blocks in enumerate(self.stages):
            if s > 0:
                tokens = self.reductions[s - 1](tokens)
            for block in cast(nn.ModuleList, blocks):
                tokens = block(tokens)
        return self.norm(tokens[:, : self.config.num_cls_tokens])

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.forward_features(x)[:, 0])

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        cfg = self.config
        x = torch.randn(batch_size, cfg.img_size, cfg.img_size, cfg.in_channels, generator=generator)
        y = torch.randint(0, cfg.num_classes, (batch_size,), generator=generator)
        return {"x": x, "y": y}
