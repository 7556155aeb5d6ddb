"""The builtin ``metaformer`` model (Yu et al. 2022, "MetaFormer Is Actually What You Need for Vision", sec. 3;
Yu et al. 2023, "MetaFormer Baselines for Vision", sec. 3) with pluggable token and channel mixers.

Every tensor between the stem and the head is channels-last ``(B, *spatial, C)``; only the convs of
the stem and of the downsampling layers see ``(B, C, *spatial)``. The pieces live in :mod:`forwardkit.nn`
(:class:`~forwardkit.nn.MetaFormerBlock`, :class:`~forwardkit.nn.MetaFormerStage`, :class:`~forwardkit.nn.Stem`,
:class:`~forwardkit.nn.Downsample`, :class:`~forwardkit.nn.MlpHead`, ...); their names stay importable
from here until the plugins have moved to :mod:`forwardkit.nn`.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any, cast

import torch
from torch import Tensor, nn

from forwardkit.builtin.config import MetaFormerConfig
from forwardkit.errors import ConfigError, ConfigIssue
from forwardkit.interfaces import Model
from forwardkit.nn import conv as _conv
from forwardkit.nn.conv import Downsample, Stem
from forwardkit.nn.metaformer import (
    MetaFormerBlock,
    MetaFormerStage,
    check_ranks,
    check_supports,
    format_grid,
    init_weights,
)
from forwardkit.nn.mlp import MlpHead
from forwardkit.nn.norms import NormArg
from forwardkit.nn.residual import drop_path_schedule

__all__ = [
    "ChannelsLastConv",
    "Downsample",
    "MetaFormer",
    "MetaFormerBlock",
    "MetaFormerStage",
    "MlpHead",
    "NormArg",
    "Stem",
    "check_ranks",
    "drop_path_schedule",
    "init_weights",
]

Grid = tuple[int | None, ...]


class ChannelsLastConv(_conv.ChannelsLastConv):
    """Deprecated positional form of :class:`forwardkit.nn.ChannelsLastConv`:
    ``ChannelsLastConv(rank, in_dim, out_dim, kernel_size, stride, padding)``. Same module, same state_dict."""

    def __init__(self, rank: int, in_dim: int, out_dim: int, kernel_size: int, stride: int, padding: int) -> None:
        super().__init__(rank=rank, in_dim=in_dim, out_dim=out_dim, kernel_size=kernel_size, stride=stride,
                         padding=padding)


class MetaFormer(Model):
    """Hierarchical MetaFormer: stem, ``len(depths)`` stages (downsampling before stages 2..n), pooled
    head. Input: ``(B, H, W, C_in)`` when ``rank=2``; ``(B, N, C_in)``, or ``(B, N)`` int64 token ids
    with ``vocab_size``, when ``rank=1``. Output: ``(B, num_classes)``, or the final tokens
    ``(B, *spatial', dims[-1])`` when ``num_classes=0``.

    The model computes the token grid of every stage from ``input_size`` (filled from the data by the
    trainer), the stem and the downsampling strides (:attr:`stage_grids`; ``None`` per axis when the
    input size is unknown). Stage i builds its mixers with
    ``token_mixers[i].build_for_input(stage_grids[i], dim=dims[i])`` (any registered mixer of any
    plugin; a mixer's ``fields_for_input`` sees its exact grid), and checks that they accept that grid:
    a mixer whose ``ranks`` exclude the model's rank, or whose ``supports(grid)`` is False, is a
    :class:`~forwardkit.errors.ConfigError` naming the stage, the mixer and the grid.

    Like the official code, :func:`~forwardkit.nn.init_weights` is applied to the whole model, mixers
    included. For causal sequence models (``pool='last'``) note that the stem and downsampling convs
    look ahead unless their kernels are 1 (or the stem is an embedding and there is one stage).
    """

    Config = MetaFormerConfig
    config: MetaFormerConfig

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        cfg = self.config
        self.stem = Stem(
            rank=cfg.rank,
            in_channels=cfg.in_channels,
            dim=cfg.dims[0],
            kernel_size=cfg.stem_kernel,
            stride=cfg.stem_stride,
            norm_eps=cfg.norm_eps,
            vocab_size=cfg.vocab_size,
        )
        token_specs, channel_specs = cfg.per_stage("token_mixers"), cfg.per_stage("channel_mixers")
        norms = cfg.per_stage("norm")
        ls_inits, rs_inits = cfg.per_stage("layer_scale_init"), cfg.per_stage("res_scale_init")
        rates = drop_path_schedule(cfg.drop_path_rate, cfg.depths)
        input_grid: Grid = tuple(cfg.input_size) if cfg.input_size is not None else (None,) * cfg.rank
        grid = self._checked_grid(self.stem.output_size(input_grid), 0)
        #: the token grid ``spatial`` of each stage's blocks (None per axis when ``input_size`` is unknown)
        self.stage_grids: list[Grid] = []
        stages = []
        for i, (dim, depth) in enumerate(zip(cfg.dims, cfg.depths, strict=True)):
            downsample = None
            if i > 0:
                downsample = Downsample(
                    rank=cfg.rank,
                    in_dim=cfg.dims[i - 1],
                    out_dim=dim,
                    kernel_size=cfg.downsample_kernel,
                    stride=cfg.downsample_stride,
                    norm_eps=cfg.norm_eps,
                )
                grid = self._checked_grid(downsample.output_size(grid), i)
            self.stage_grids.append(grid)
            tspec, cspec = token_specs[i], channel_specs[i]
            stage = MetaFormerStage(
                dim=dim,
                depth=depth,
                token_mixer=partial(tspec.build_for_input, grid, dim=dim),
                channel_mixer=partial(cspec.build_for_input, grid, dim=dim),
                downsample=downsample,
                norm=norms[i],
                norm_eps=cfg.norm_eps,
                layer_scale_init=ls_inits[i],
                res_scale_init=rs_inits[i],
                drop_path=rates[i],
            )
            self._check_mixers(i, cast(MetaFormerBlock, stage.blocks[0]), tspec.name, cspec.name)
            stages.append(stage)
        self.stages = nn.Sequential(*stages)
        width = cfg.dims[-1]
        self.norm: nn.Module = nn.Identity()
        self.head: nn.Module = nn.Identity()
        if cfg.num_classes > 0:
            self.norm = nn.LayerNorm(width, eps=cfg.norm_eps)
            if cfg.head == "linear":
                self.head = nn.Linear(width, cfg.num_classes)
            else:
                self.head = MlpHead(dim=width, num_classes=cfg.num_classes, dropout=cfg.head_dropout)
        self.apply(init_weights)

    @classmethod
    def fields_from_metadata(cls, metadata: Any) -> dict[str, Any]:
        """The default fields (``in_channels``, ``num_classes``, ``rank``) and ``input_size``: the spatial
        part of the per-sample input shape, ``(H, W)`` of ``(H, W, C)`` images, ``(N,)`` of ``(N, C)``
        sequences and of ``(N,)`` token ids."""
        out = super().fields_from_metadata(metadata)
        shape = tuple(metadata.input_shape)
        if shape:
            out["input_size"] = list(shape[:-1] if len(shape) >= 2 else shape)
        return out

    def _check_mixers(self, stage: int, block: MetaFormerBlock, token_name: str, channel_name: str) -> None:
        """The mixers of ``stage`` accept the model's rank and the stage's grid; else a ConfigError naming
        the stage, the mixer and the grid (and the grids so far, when the input size is known)."""
        cfg = self.config
        origin = "" if cfg.input_size is None else (
            f"; from input_size {cfg.input_size} the stages get " + ", ".join(map(format_grid, self.stage_grids)))
        for kind, name, mixer in (("token", token_name, block.token_mixer),
                                  ("channel", channel_name, block.channel_mixer)):
            where, loc = f"stage {stage}: {kind} mixer {name!r}", self._stage_loc(f"{kind}_mixers", stage)
            check_ranks(mixer, cfg.rank, where, loc=loc)
            check_supports(mixer, self.stage_grids[stage], where, loc=loc, detail=origin)

    def _stage_loc(self, field: str, stage: int) -> str:
        """The config path of a per-stage field's entry for ``stage`` (the field itself when it has one entry)."""
        return field if len(getattr(self.config, field)) == 1 else f"{field}.{stage}"

    def _checked_grid(self, grid: Sequence[int | None], stage: int) -> Grid:
        """``grid``, or a ConfigError when an axis is empty (the input is too small for the strides)."""
        if any(s is not None and s < 1 for s in grid):
            cfg = self.config
            what = "the stem" if stage == 0 else f"the downsampling before stage {stage}"
            raise ConfigError([ConfigIssue("input_size", (
                f"input size {cfg.input_size} is too small: {what} would leave no tokens "
                f"(stem kernel {cfg.stem_kernel} stride {cfg.stem_stride}, downsample kernel "
                f"{cfg.downsample_kernel} stride {cfg.downsample_stride}, {len(cfg.depths)} stages)"
            ))])
        return tuple(grid)

    def _check_input(self, x: Tensor) -> None:
        cfg = self.config
        if cfg.vocab_size is not None:
            ok, want = x.dim() == 2 and not x.is_floating_point(), "(B, N) integer token ids"
        else:
            ok = x.dim() == cfg.rank + 2 and x.shape[-1] == cfg.in_channels
            want = f"(B, {'N' if cfg.rank == 1 else 'H, W'}, {cfg.in_channels}) channels-last"
        if not ok:
            raise ValueError(f"metaformer expects {want}, got shape {tuple(x.shape)} ({x.dtype})")

    def forward_features(self, x: Tensor) -> Tensor:
        """Stem and stages: input -> final tokens ``(B, *spatial', dims[-1])``."""
        self._check_input(x)
        return self.stages(self.stem(x))

    def forward_head(self, x: Tensor) -> Tensor:
        """Pool tokens ``(B, *spatial, C) -> (B, C)`` (mean, or the last token), norm, head."""
        tokens = x.flatten(1, -2)  # (B, N, C)
        pooled = tokens[:, -1] if self.config.pool == "last" else tokens.mean(1)
        return self.head(self.norm(pooled))

    def forward(self, x: Tensor) -> Tensor:
        x = self.forward_features(x)
        return x if self.config.num_classes == 0 else self.forward_head(x)

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """Inputs of ``input_size`` (default: 32x32 images for rank 2, 64 tokens for rank 1) and integer labels."""
        cfg = self.config
        default = (64,) if cfg.rank == 1 or cfg.vocab_size is not None else (32, 32)
        spatial = tuple(cfg.input_size) if cfg.input_size is not None else default
        if cfg.vocab_size is not None:
            x = torch.randint(0, cfg.vocab_size, (batch_size, *spatial), generator=generator)
        else:
            x = torch.randn(batch_size, *spatial, cfg.in_channels, generator=generator)
        y = torch.randint(0, max(cfg.num_classes, 1), (batch_size,), generator=generator)
        return {"x": x, "y": y}
