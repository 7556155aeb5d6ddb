"""A NASNet cell built from its genotype (paper sec. 3, Fig. 3-4; the authors' ``NasNetABaseCell``).

``NasNetCell`` works on channels-first maps: ``h`` (h_i) ``(B, C_in, H, W)`` and ``prev`` (h_{i-1})
``(B, C_prev, s*H, s*W)`` or None, and returns ``(B, C_out, H/r, W/r)`` (r = 2 for a Reduction cell)::

    s0 = BN(conv1x1(ReLU(h)))                         F filters                 (TF _cell_base)
    s1 = prev adjusted: ReLU + factorized reduction if its resolution differs, else ReLU-1x1-BN if its width
         differs from F, else prev itself; h itself when there is no prev (TF _reduce_prev_layer)
    s_{2+b} = combine(op_a(s[in_a]), op_b(s[in_b]))   ops on s0/s1 have the cell's stride, on s2+ stride 1;
                                                      every non-identity op output goes through drop-path
    out = concat(s_i for i in output states)          s0/s1 in the output are brought to F filters and the
                                                      output resolution by a factorized reduction
                                                      (TF _combine_unused_states)

``NasNetCellModel`` is the registered ``nasnet_cell`` model: one cell on channels-last batches
``{"x": h_i, "prev": h_{i-1}}``, for building, showing and checking a cell by name.
"""

from __future__ import annotations

from typing import Any, ClassVar, cast

import torch
from torch import Tensor, nn

from forwardkit.interfaces import Model
from forwardkit_nasnet.config import GenotypeSpec, NasNetCellConfig
from forwardkit_nasnet.droppath import drop_path
from forwardkit_nasnet.genotypes import NASNET_A_NORMAL, NASNET_A_REDUCTION, Genotype, random_pair
from forwardkit_nasnet.ops import FactorizedReduction, ReLUConvBN, make_op


class NasNetCell(nn.Module):
    """A Normal or Reduction cell of ``genotype`` with ``filters`` (F) filters (see the module docstring).

    ``cell_index`` and ``total_cells`` place it in its network for ScheduledDropPath; ``drop_keep_prob`` is the
    keep probability of its paths now (1: no drop-path), set by the ``scheduled_drop_path`` callback."""

    def __init__(self, genotype: Genotype, *, filters: int, in_channels: int, prev_channels: int | None,
                 prev_scale: int = 1, cell_index: int = 0, total_cells: int = 1, bn_momentum: float = 0.1,
                 bn_eps: float = 1e-5) -> None:
        super().__init__()
        bn = {"momentum": bn_momentum, "eps": bn_eps}
        f = filters
        self.genotype = genotype
        self.filters = f
        self.stride = 2 if genotype.reduction else 1
        self.cell_index = cell_index
        self.total_cells = total_cells
        self.drop_keep_prob = 1.0
        self.has_prev = prev_channels is not None
        self.prep0 = ReLUConvBN(in_channels, f, 1, momentum=bn_momentum, eps=bn_eps)
        self.prep1: nn.Module
        if prev_channels is None:
            self.prep1, c1 = nn.Identity(), in_channels
        elif prev_scale == 2:
            self.prep1, c1 = nn.Sequential(nn.ReLU(), FactorizedReduction(prev_channels, f, 2, **bn)), f
        elif prev_channels != f:
            self.prep1, c1 = ReLUConvBN(prev_channels, f, 1, momentum=bn_momentum, eps=bn_eps), f
        else:
            self.prep1, c1 = nn.Identity(), prev_channels
        channels = [f, c1]
        self.ops = nn.ModuleList()
        self.dropped: list[tuple[bool, bool]] = []  # per block: (op_a is not identity, op_b is not identity)
        for block in genotype.blocks:
            pair = nn.ModuleList()
            for op, idx in block.pairs():
                pair.append(make_op(op, channels[idx], f, self.stride if idx < 2 else 1, **bn))
            self.ops.append(pair)
            self.dropped.append((block.op_a != "identity", block.op_b != "identity"))
            channels.append(f if block.combine == "add" else 2 * f)
        self.outputs = genotype.output_states()
        self.fix = nn.ModuleDict()
        for i in self.outputs:
            if i < 2 and (self.stride > 1 or channels[i] != f):
                self.fix[str(i)] = FactorizedReduction(channels[i], f, self.stride, **bn)
                channels[i] = f
        self.state_channels = channels
        self.out_channels = sum(channels[i] for i in self.outputs)

    def forward(self, h: Tensor, prev: Tensor | None = None) -> Tensor:
        if self.has_prev and prev is None:
            raise ValueError("this cell was built with an h_{i-1} input: pass prev")
        states = [self.prep0(h), h if prev is None or not self.has_prev else self.prep1(prev)]
        keep = self.drop_keep_prob
        for block, pair, drops in zip(self.genotype.blocks, self.ops, self.dropped, strict=True):
            ops = cast(nn.ModuleList, pair)  # the block's two ops
            a = ops[0](states[block.in_a])
            b = ops[1](states[block.in_b])
            if drops[0]:
                a = drop_path(a, keep, training=self.training)
            if drops[1]:
                b = drop_path(b, keep, training=self.training)
            states.append(a + b if block.combine == "add" else torch.cat([a, b], dim=1))
        outs = [self.fix[str(i)](states[i]) if str(i) in self.fix else states[i] for i in self.outputs]
        return torch.cat(outs, dim=1)

    def extra_repr(self) -> str:
        kind = "reduction" if self.genotype.reduction else "normal"
        return f"{kind}, F={self.filters}, out={self.out_channels}, cell {self.cell_index}/{self.total_cells}"


def resolve_cell(genotype: str, cell: GenotypeSpec | None, reduction: bool | None, *, seed: int = 0,
                 ops: str = "full13") -> Genotype:
    """The genotype a ``nasnet_cell`` config names."""
    if cell is not None:
        return Genotype.from_data(cell.model_dump(), reduction=bool(reduction))
    if genotype.startswith("nasnet_a"):
        base = NASNET_A_NORMAL if genotype == "nasnet_a_normal" else NASNET_A_REDUCTION
    else:
        normal, red = random_pair(seed, ops=ops)
        base = normal if genotype == "random_normal" else red
    return base if reduction is None else Genotype(base.blocks, base.concat, reduction)


class NasNetCellModel(Model):
    """One NASNet cell on channels-last batches: ``x`` (h_i) ``(B, H, W, in_channels)`` and, when
    ``prev_channels`` is set, ``prev`` (h_{i-1}) ``(B, s*H, s*W, prev_channels)``; returns
    ``(B, H/r, W/r, C_out)`` with ``C_out = 6F`` for the NASNet-A Normal cell and ``4F`` for its Reduction cell."""

    Config = NasNetCellConfig
    config: NasNetCellConfig
    conformance_configs: ClassVar[tuple[dict[str, Any], ...]] = (
        {"cell": {"blocks": [{"in_a": 0, "op_a": "sep_conv_3x3", "in_b": 1, "op_b": "identity"}]},
         "prev_scale": 2, "image_size": [3, 4]},
        {"cell": {"blocks": [{"in_a": 1, "op_a": "avg_pool_3x3", "in_b": 0, "op_b": "identity",
                              "combine": "concat"}]}, "reduction": True, "prev_channels": None, "image_size": [5, 4]},
        {},
        {"genotype": "nasnet_a_reduction", "prev_scale": 2, "image_size": [4, 6]},
        {"genotype": "random_normal", "seed": 3, "prev_channels": None, "image_size": [5, 5]},
        {"genotype": "random_reduction", "seed": 5, "filters": 4, "prev_channels": 8, "image_size": [5, 3]},
    )

    def __init__(self, config: NasNetCellConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        cfg = self.config
        genotype = resolve_cell(cfg.genotype, cfg.cell, cfg.reduction, seed=cfg.seed, ops=cfg.random_ops)
        self.cell = NasNetCell(genotype, filters=cfg.filters, in_channels=cfg.in_channels,
                               prev_channels=cfg.prev_channels, prev_scale=cfg.prev_scale,
                               bn_momentum=cfg.bn_momentum, bn_eps=cfg.bn_eps)

    @property
    def out_channels(self) -> int:
        return self.cell.out_channels

    def forward(self, x: Tensor, prev: Tensor | None = None) -> Tensor:
        if x.dim() != 4 or x.shape[-1] != self.config.in_channels:
            raise ValueError(f"nasnet_cell expects h_i as (B, H, W, {self.config.in_channels}), got {tuple(x.shape)}")
        p = None if prev is None else prev.permute(0, 3, 1, 2)
        return self.cell(x.permute(0, 3, 1, 2), p).permute(0, 2, 3, 1)

    def forward_batch(self, batch: Any) -> Tensor:
        return self(batch["x"], batch.get("prev"))

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        cfg = self.config
        h, w = cfg.image_size
        batch = {"x": torch.randn(batch_size, h, w, cfg.in_channels, generator=generator)}
        if cfg.prev_channels is not None:
            s = cfg.prev_scale
            batch["prev"] = torch.randn(batch_size, s * h, s * w, cfg.prev_channels, generator=generator)
        return batch
