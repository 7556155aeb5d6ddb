"""``NasNetNetwork``: the NASNet architecture (paper sec. 3, Fig. 2; the authors' ``_build_nasnet_base``).

Channels-last images ``(B, H, W, C_in)`` -> logits ``(B, num_classes)``::

    (input_pool > 1: average-pool the images by that factor first, a CPU-budget knob, not the paper's)
    stem      cifar:    BN(conv3x3(x)), int(F * stem_multiplier) filters              (TF _cifar_stem)
              imagenet: BN(conv3x3 stride 2 "VALID"(x)), int(32 * stem_multiplier) filters, then two Reduction
                        "stem cells" with F/4 and F/2 filters                          (TF _imagenet_stem)
    cells     num_cells Normal cells; a Reduction cell before cell index k * num_cells / (R + 1), k = 1..R
              (TF calc_reduction_layers), the filters times filter_scaling_rate at each; every cell gets
              h_i = the last output and h_{i-1} = the one before it
    head      ReLU, global average pool, dropout, Linear; the auxiliary head on the Normal cell before the second
              reduction when aux_head (training only: ``aux_logits``, its loss from ``nasnet_aux_loss``)

"N @ P" names a network by N = num_cells / 3 Normal cells per stack and the P filters of its penultimate layer
(6 @ 768: N = 6, F = 32, P = 6 * 4F for the NASNet-A Normal cell's 6F output after two doublings).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit.interfaces import Model
from forwardkit_nasnet.cell import NasNetCell
from forwardkit_nasnet.config import NasNetConfig
from forwardkit_nasnet.genotypes import GENOTYPES, Genotype, random_pair
from forwardkit_nasnet.ops import batch_norm

#: a tiny NASNet-A the conformance kit, the callback's and the analyzer's checks use (8 x 8 x 1 digits)
SMALL_NASNET: dict[str, Any] = {"name": "nasnet_network", "num_cells": 3, "filters": 4, "stem_multiplier": 2.0,
                                "in_channels": 1, "num_classes": 10, "image_size": [8, 8]}
#: the smallest NASNet-A with a reduction: one Reduction cell, then one Normal cell
TINY_NASNET: dict[str, Any] = {"name": "nasnet_network", "num_cells": 1, "num_reduction_layers": 1, "filters": 4,
                               "stem_multiplier": 1.0, "in_channels": 1, "num_classes": 10, "image_size": [8, 8]}


def reduction_layers(num_cells: int, num_reduction_layers: int) -> list[int]:
    """The Normal-cell indices a Reduction cell comes before (TF ``calc_reduction_layers``): 18, 2 -> [6, 12]."""
    return [int(k / float(num_reduction_layers + 1) * num_cells) for k in range(1, num_reduction_layers + 1)]


def network_genotypes(config: NasNetConfig) -> tuple[Genotype, Genotype]:
    """The ``(normal, reduction)`` cells a config names (explicit cells first, then ``genotype``)."""
    if config.genotype == "random":
        combines = ("add", "concat") if config.random_combines == "both" else ("add",)
        normal, reduction = random_pair(config.genotype_seed, ops=config.random_ops, combines=combines)
    else:
        normal, reduction = GENOTYPES[config.genotype]
    if config.normal_cell is not None:
        normal = Genotype.from_data(config.normal_cell.model_dump(), reduction=False)
    if config.reduction_cell is not None:
        reduction = Genotype.from_data(config.reduction_cell.model_dump(), reduction=True)
    return normal, reduction


def _half(size: int) -> int:
    return -(-size // 2)


class AuxHead(nn.Module):
    """The auxiliary classifier (TF ``_build_aux_head``) on ``(B, C, H, W)``: ReLU, 5x5 avg-pool stride 3
    "VALID", 1x1 conv to 128 + BN + ReLU, a conv over the whole remaining map to 768 + BN + ReLU, Linear."""

    def __init__(self, channels: int, spatial: tuple[int, int], num_classes: int, *, momentum: float,
                 eps: float) -> None:
        super().__init__()
        k = (min(5, spatial[0]), min(5, spatial[1]))
        self.pool = nn.AvgPool2d(k, stride=3)
        rest = ((spatial[0] - k[0]) // 3 + 1, (spatial[1] - k[1]) // 3 + 1)
        self.proj = nn.Conv2d(channels, 128, 1, bias=False)
        self.bn0 = batch_norm(128, momentum=momentum, eps=eps)
        self.conv = nn.Conv2d(128, 768, rest, bias=False)
        self.bn1 = batch_norm(768, momentum=momentum, eps=eps)
        self.fc = nn.Linear(768, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(self.bn0(self.proj(self.pool(F.relu(x)))))
        x = F.relu(self.bn1(self.conv(x)))
        return self.fc(x.flatten(1))


class NasNetNetwork(Model):
    """NASNet-A (or any genotype pair of the search space) in the paper's skeleton; see the module docstring.
    Presets ``cifar_6_768``, ``mobile_4_1056`` and ``large_6_4032`` have the paper's sizes."""

    Config = NasNetConfig
    config: NasNetConfig
    gradient_exempt: ClassVar[dict[str, str]] = {
        "aux.*": "the auxiliary head feeds aux_logits, which the nasnet_aux_loss adapter puts into the training "
                 "loss; the model's output (the main logits) does not depend on it, by design (TF: aux_logits)"}
    conformance_configs: ClassVar[tuple[dict[str, Any], ...]] = (
        {k: v for k, v in TINY_NASNET.items() if k != "name"},
        {k: v for k, v in TINY_NASNET.items() if k != "name"} | {"stem": "imagenet", "filters": 8,
                                                                "stem_multiplier": 0.25, "image_size": [17, 17],
                                                                "num_reduction_layers": 0, "dropout": 0.1},
        {k: v for k, v in SMALL_NASNET.items() if k != "name"} | {"genotype": "random", "genotype_seed": 1,
                                                                 "aux_head": True, "image_size": [16, 12],
                                                                 "in_channels": 2, "num_classes": 3,
                                                                 "skip_reduction_layer_input": True},
    )

    def __init__(self, config: NasNetConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        cfg = self.config
        bn = {"bn_momentum": cfg.bn_momentum, "bn_eps": cfg.bn_eps}
        normal, reduction = network_genotypes(cfg)
        self.genotypes = (normal, reduction)
        self.reduction_indices = reduction_layers(cfg.num_cells, cfg.num_reduction_layers)
        num_reductions = sum(1 for c in range(cfg.num_cells) if c in self.reduction_indices)
        stem_cells = 2 if cfg.stem == "imagenet" else 0
        self.total_cells = cfg.num_cells + num_reductions + stem_cells
        h, w = (s // cfg.input_pool for s in cfg.image_size)
        self.pool: nn.Module = nn.AvgPool2d(cfg.input_pool) if cfg.input_pool > 1 else nn.Identity()
        # cell_outputs as TF keeps them: (channels, (H, W)) of each output; None: no such state
        outputs: list[tuple[int, tuple[int, int]] | None]
        if cfg.stem == "cifar":
            c_stem = int(cfg.filters * cfg.stem_multiplier)
            self.stem = nn.Sequential(nn.Conv2d(cfg.in_channels, c_stem, 3, padding=1, bias=False),
                                      batch_norm(c_stem, momentum=cfg.bn_momentum, eps=cfg.bn_eps))
            outputs = [None, (c_stem, (h, w))]
        else:
            c_stem = int(32 * cfg.stem_multiplier)
            self.stem = nn.Sequential(nn.Conv2d(cfg.in_channels, c_stem, 3, stride=2, bias=False),
                                      batch_norm(c_stem, momentum=cfg.bn_momentum, eps=cfg.bn_eps))
            outputs = [None, (c_stem, ((h - 3) // 2 + 1, (w - 3) // 2 + 1))]
        cells: list[NasNetCell] = []
        #: per cell: index into the outputs list of its h_i and h_{i-1} (-1: none)
        self.wiring: list[tuple[int, int]] = []
        index = 0

        def add(genotype: Genotype, filters: int, prev_pos: int) -> None:
            nonlocal index
            cur_pos = len(outputs) - 1
            cur, prev = outputs[cur_pos], outputs[prev_pos] if prev_pos >= 0 else None
            assert cur is not None
            scale = 1 if prev is None or prev[1] == cur[1] else 2
            if prev is not None and scale == 2 and (_half(prev[1][0]), _half(prev[1][1])) != cur[1]:
                raise ValueError(f"cell {index}: h_{{i-1}} {prev[1]} is neither at the resolution of h_i {cur[1]} nor "
                                 "at twice it (the factorized reduction halves it once)")
            cell = NasNetCell(genotype, filters=filters, in_channels=cur[0],
                              prev_channels=None if prev is None else prev[0], prev_scale=scale,
                              cell_index=index, total_cells=self.total_cells, **bn)
            size = cur[1] if not genotype.reduction else (_half(cur[1][0]), _half(cur[1][1]))
            cells.append(cell)
            self.wiring.append((cur_pos, prev_pos if prev is not None else -1))
            outputs.append((cell.out_channels, size))
            index += 1

        scaling = 1.0 / cfg.filter_scaling_rate ** stem_cells
        for _ in range(stem_cells):
            add(reduction, int(cfg.filters * scaling), len(outputs) - 2)
            scaling *= cfg.filter_scaling_rate
        scaling = 1.0
        self.aux_after: int | None = None
        aux_cells = [self.reduction_indices[1] - 1] if len(self.reduction_indices) >= 2 else []
        aux_at: tuple[int, tuple[int, int]] | None = None
        for cell_num in range(cfg.num_cells):
            prev_pos = len(outputs) - 2
            if cell_num in self.reduction_indices:
                scaling *= cfg.filter_scaling_rate
                add(reduction, int(cfg.filters * scaling), len(outputs) - 2)
            if not cfg.skip_reduction_layer_input:
                prev_pos = len(outputs) - 2
            add(normal, int(cfg.filters * scaling), prev_pos)
            if cell_num in aux_cells:
                self.aux_after = len(cells) - 1
                aux_at = outputs[-1]
        self.cells = nn.ModuleList(cells)
        last = outputs[-1]
        assert last is not None
        self.penultimate_filters = last[0]
        self.aux: AuxHead | None = None
        if cfg.aux_head and aux_at is not None:
            self.aux = AuxHead(aux_at[0], aux_at[1], cfg.num_classes, momentum=cfg.bn_momentum, eps=cfg.bn_eps)
        self.dropout = nn.Dropout(cfg.dropout)
        self.classifier = nn.Linear(last[0], cfg.num_classes)
        self.aux_logits: Tensor | None = None
        self._init_weights()

    def _init_weights(self) -> None:
        """He (fan-out) normal convolutions (the authors' variance scaling, mode FAN_OUT), Glorot-uniform linear
        layers with zero bias (slim's fully_connected), BatchNorm scale 1 and shift 0."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    # ---- what the callback, the tests and the search ask -----------------------------------------------------
    @property
    def name_n_at_p(self) -> str:
        """``"N @ P"``: Normal cells per stack @ penultimate filters."""
        stacks = max(len(self.reduction_indices) + 1, 1)
        return f"{math.ceil(self.config.num_cells / stacks)} @ {self.penultimate_filters}"

    def nasnet_cells(self) -> list[NasNetCell]:
        return [c for c in self.cells if isinstance(c, NasNetCell)]

    @classmethod
    def fields_from_metadata(cls, metadata: Any) -> dict[str, Any]:
        """``in_channels``, ``num_classes`` and ``image_size`` (the ``(H, W)`` of ``(H, W, C)`` inputs)."""
        out = super().fields_from_metadata(metadata)
        shape = tuple(metadata.input_shape)
        if len(shape) == 3:
            out["image_size"] = [int(shape[0]), int(shape[1])]
        return out

    # ---- forward ----------------------------------------------------------------------------------------------
    def features(self, x: Tensor) -> Tensor:
        """``(B, H, W, C_in)`` -> the last cell's output ``(B, P, H', W')`` (channels-first); sets ``aux_logits``
        in training mode when the network has an auxiliary head."""
        cfg = self.config
        if x.dim() != 4 or x.shape[-1] != cfg.in_channels:
            raise ValueError(f"nasnet_network expects (B, H, W, {cfg.in_channels}) images, got {tuple(x.shape)}")
        outputs: list[Tensor | None] = [None, self.stem(self.pool(x.permute(0, 3, 1, 2)))]
        aux = None
        for i, (cell, (cur, prev)) in enumerate(zip(self.cells, self.wiring, strict=True)):
            h = outputs[cur]
            assert h is not None
            outputs.append(cell(h, outputs[prev] if prev >= 0 else None))
            if self.aux is not None and i == self.aux_after and self.training:
                aux = self.aux(outputs[-1])
        self.aux_logits = aux
        out = outputs[-1]
        assert out is not None
        return out

    def forward(self, x: Tensor) -> Tensor:
        h = F.relu(self.features(x)).mean(dim=(2, 3))
        return self.classifier(self.dropout(h))

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        cfg = self.config
        x = torch.randn(batch_size, cfg.image_size[0], cfg.image_size[1], cfg.in_channels, generator=generator)
        y = torch.randint(0, cfg.num_classes, (batch_size,), generator=generator)
        return {"x": x, "y": y}
