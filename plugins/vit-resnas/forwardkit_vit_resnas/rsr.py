"""Residual spatial reduction (paper: residual spatial reduction; official ``SpatialReductionPatchEmbedding``).

Between two stages the token grid is halved and the width grows C -> C'. Tokens are
``x = [cls ; patches]``, ``(B, T + h*w, C)``:

* main path: ``z = LN(x)``; patches ``z_p`` as ``(B, C, h, w)`` -> ``Conv2d(C, C', k, stride 2, padding k//2)``
  -> ``(B, h/2*w/2, C')`` + a new learned position embedding; class tokens ``Linear(C, C')(z_cls)``;
* skip path (on the *un-normalised* ``x``): patches ``AvgPool2d(2, 2)``, class tokens unchanged, both
  zero-padded from C to C' channels;
* output = main + skip (no norm after: the next block is pre-norm).

``residual=False`` drops the skip path: the plain strided-conv reduction of the paper's ablation.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit.config import resolve_config
from forwardkit_vit_resnas.config import ResidualSpatialReductionConfig
from forwardkit_vit_resnas.masked_norm import MaskedLayerNorm


def skip_path(x: Tensor, *, grid: int, num_cls_tokens: int, out_dim: int) -> Tensor:
    """The parameter-free skip of a residual reduction: ``(B, T + h*w, C) -> (B, T + h/2*w/2, out_dim)``, the
    patches 2x2 average-pooled, the class tokens passed through, all zero-padded to ``out_dim`` channels."""
    cls, patches = x[:, :num_cls_tokens], x[:, num_cls_tokens:]
    b, n, c = patches.shape
    if n != grid * grid:
        raise ValueError(f"expected {grid}x{grid} = {grid * grid} patch tokens after {num_cls_tokens} class "
                         f"token(s), got {n}")
    pooled = F.avg_pool2d(patches.transpose(1, 2).reshape(b, c, grid, grid), 2, 2)
    out = torch.cat([cls, pooled.flatten(2).transpose(1, 2)], dim=1)
    return F.pad(out, (0, out_dim - c))


class ResidualSpatialReduction(nn.Module):
    """Residual spatial reduction ``(B, T + h*w, C) -> (B, T + h/2*w/2, C')`` (module docstring).

    In a super-network ``in_mask`` ``(B or 1, 1, C)`` gives each sample's active input channels (the LN is
    then masked) and ``out_mask`` ``(B or 1, 1, C')`` its active output channels (applied to the sum).
    Parameters: ``norm`` (LN over C), ``conv`` (C -> C', stride 2), ``cls_proj`` (Linear C -> C'), ``pos_embed``
    ``(1, h/2*w/2, C')`` (trunc-normal std 0.02) when ``new_pos_embed``.
    """

    Config = ResidualSpatialReductionConfig

    def __init__(self, config: ResidualSpatialReductionConfig | None = None, **overrides: Any) -> None:
        super().__init__()
        self.config = cfg = resolve_config(ResidualSpatialReductionConfig, config, overrides)
        self.norm = MaskedLayerNorm(cfg.in_dim, eps=cfg.norm_eps)
        self.conv = nn.Conv2d(cfg.in_dim, cfg.out_dim, cfg.kernel, stride=2, padding=cfg.kernel // 2)
        self.cls_proj = nn.Linear(cfg.in_dim, cfg.out_dim)
        self.out_grid = cfg.grid // 2
        if cfg.new_pos_embed:
            self.pos_embed = nn.Parameter(torch.zeros(1, self.out_grid ** 2, cfg.out_dim))
            nn.init.trunc_normal_(self.pos_embed, std=0.02)
        else:
            self.register_parameter("pos_embed", None)

    def forward(self, x: Tensor, in_mask: Tensor | None = None, out_mask: Tensor | None = None) -> Tensor:
        cfg, t = self.config, self.config.num_cls_tokens
        b, n, c = x.shape
        if c != cfg.in_dim or n != t + cfg.grid ** 2:
            raise ValueError(f"ResidualSpatialReduction expects (B, {t} + {cfg.grid}x{cfg.grid}, {cfg.in_dim}) tokens, "
                             f"got {tuple(x.shape)}")
        z = self.norm(x, in_mask)
        patches = z[:, t:].transpose(1, 2).reshape(b, c, cfg.grid, cfg.grid)
        main_p = self.conv(patches).flatten(2).transpose(1, 2)  # (B, h/2*w/2, C')
        if self.pos_embed is not None:
            main_p = main_p + self.pos_embed
        out = torch.cat([self.cls_proj(z[:, :t]), main_p], dim=1)
        if cfg.residual:
            out = out + skip_path(x, grid=cfg.grid, num_cls_tokens=t, out_dim=cfg.out_dim)
        return out if out_mask is None else out * out_mask

    def extra_repr(self) -> str:
        cfg = self.config
        return f"{cfg.in_dim} -> {cfg.out_dim}, grid {cfg.grid} -> {self.out_grid}, residual={cfg.residual}"
