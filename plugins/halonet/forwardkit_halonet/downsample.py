"""Strided self-attentive downsampling (HaloNet, Vaswani et al. 2021, sec. 4.1; card "Mechanism" step 6).

HaloNet downsamples inside its attention blocks instead of with a strided 3x3 conv. Two readings exist and
both are here (the paper's text does not settle which one it means; timm flags it too):

- **strided queries** (timm's ``HaloAttn(stride=2)``): keys and values keep the full-resolution haloed
  window of every b x b block, but only the queries at the pixels ``0, 2, 4, ...`` of the block are computed,
  a (b/2) x (b/2) sub-block; the output grid is halved. With ``query_offsets="pixel"`` this is exactly
  stride-1 halo attention evaluated at every second pixel, at a quarter of the query cost.
- **attend then pool** (``avg_down``, and timm's fallback when b is odd): stride-1 halo attention followed
  by 2 x 2 average pooling.

A layer that halves the grid is not a token mixer (the kit's token mixers keep their grid), so
:class:`HaloDownsample` is a model building block: its own Config, a functional form
(:func:`halo_downsample`), the :class:`~forwardkit.interfaces.Model` contract so that the conformance kit's
model checks run on it, and no registry entry; the ``halonet`` model uses it in its strided halo blocks.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from forwardkit.interfaces import Model
from forwardkit_halonet.attention import QueryOffsets, attention_parameters, build_attention_parameters, halo_attention
from forwardkit_halonet.config import HaloDownsampleConfig

__all__ = ["HaloDownsample", "avg_pool_channels_last", "halo_downsample"]


def avg_pool_channels_last(x: Tensor, size: int) -> Tensor:
    """``size``-wide average pooling at stride ``size`` of ``(B, *spatial, C)`` -> ``(B, *ceil(spatial / size), C)``,
    ranks 1-3; a last, partial window averages the pixels it has (timm's ``AvgPool2d(2, 2)`` on the even grids
    timm allows; on odd grids this keeps the shortcut's ``ceil`` size)."""
    rank = x.dim() - 2
    pool = (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)[rank - 1]
    y = pool(x.movedim(-1, 1), size, size, ceil_mode=True)
    return y.movedim(1, -1)


def halo_downsample(
    x: Tensor, qkv_weight: Tensor, qkv_bias: Tensor | None, rel_tables: list[Tensor] | None,
    proj_weight: Tensor | None, proj_bias: Tensor | None, *, num_heads: int, dim_head: int, block_size: int,
    halo_size: int, stride: int = 2, avg_down: bool = False, query_offsets: QueryOffsets = "pixel",
    scale_pos_embed: bool = False, mask_padding: bool = False, pad_to_block: bool = True,
) -> Tensor:
    """Halo attention with output stride ``stride`` on ``x`` ``(B, *spatial, C)``; parameters as in
    :func:`~forwardkit_halonet.attention.halo_attention` (tables ``(2w - 1, d_k)``, w = b + 2h).

    Strided queries unless ``avg_down`` or b is not a multiple of s; then stride-1 attention and ``s x s``
    average pooling. Returns ``(B, *ceil(spatial / s), C_out)`` either way, the size of a strided 1x1 conv.
    """
    common = {"num_heads": num_heads, "dim_head": dim_head, "block_size": block_size, "halo_size": halo_size,
              "scale_pos_embed": scale_pos_embed, "mask_padding": mask_padding, "pad_to_block": pad_to_block}
    if not avg_down and block_size % stride == 0:
        out = halo_attention(x, qkv_weight, qkv_bias, rel_tables, None, None, query_stride=stride,
                             query_offsets=query_offsets, **common)
    else:
        out = avg_pool_channels_last(halo_attention(x, qkv_weight, qkv_bias, rel_tables, None, None, **common),
                                     stride)
    assert isinstance(out, Tensor)
    # the projection is per token, so it commutes with the pooling: applied once, on the smaller grid
    return F.linear(out, proj_weight, proj_bias) if proj_weight is not None else out


class HaloDownsample(Model):
    """Halo attention that halves the grid: ``(B, *spatial, C) -> (B, *ceil(spatial / 2), C)``, by strided
    queries or (``avg_down``, odd b) by pooling a stride-1 attention. Parameters as ``halo_attention``'s."""

    Config = HaloDownsampleConfig
    config: HaloDownsampleConfig
    conformance_configs = [
        {"dim": 8, "num_heads": 2, "block_size": 4, "halo_size": 1},
        {"dim": 8, "num_heads": 1, "block_size": 4, "halo_size": 2, "query_offsets": "block", "qkv_bias": True,
         "out_proj": True, "mask_padding": True},
        {"dim": 8, "num_heads": 2, "block_size": 3, "halo_size": 1, "scale_pos_embed": True},   # odd b: pooled
        {"dim": 8, "num_heads": 2, "block_size": 2, "halo_size": 1, "avg_down": True, "rel_pos": False},
        {"dim": 8, "num_heads": 1, "block_size": 4, "halo_size": 1, "rank": 1},
    ]

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        cfg = self.config
        build_attention_parameters(self, cfg.dim, cfg, 2 * (cfg.block_size + 2 * cfg.halo_size) - 1)

    @property
    def strided(self) -> bool:
        """True when the queries are strided, False when a stride-1 attention is pooled."""
        return not self.config.avg_down and self.config.block_size % self.config.stride == 0

    def output_grid(self, spatial: tuple[int, ...]) -> tuple[int, ...]:
        """The output grid for input grid ``spatial``."""
        return tuple(math.ceil(n / self.config.stride) for n in spatial)

    def forward(self, x: Tensor) -> Tensor:
        """``x``: ``(B, *spatial, C)`` of rank ``config.rank``; returns ``(B, *output_grid(spatial), C)``."""
        cfg = self.config
        spatial = tuple(x.shape[1:-1])
        if x.shape[-1] != cfg.dim or len(spatial) != cfg.rank:
            raise ValueError(f"HaloDownsample: got input {tuple(x.shape)}; expects (B, *spatial, {cfg.dim}) with "
                             f"{cfg.rank} spatial axes (config fields 'dim' and 'rank')")
        return halo_downsample(x, **attention_parameters(self), num_heads=cfg.num_heads, dim_head=self.dk,
                               block_size=cfg.block_size, halo_size=cfg.halo_size, stride=cfg.stride,
                               avg_down=cfg.avg_down, query_offsets=cfg.query_offsets,
                               scale_pos_embed=cfg.scale_pos_embed, mask_padding=cfg.mask_padding,
                               pad_to_block=cfg.pad_to_block)

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """Tokens on a grid of two blocks per axis (plus one, so padding is exercised): ``{"x": (B, *grid, C)}``."""
        side = 2 * self.config.block_size + 1
        cfg = self.config
        return {"x": torch.randn(batch_size, *[side] * cfg.rank, cfg.dim, generator=generator)}
