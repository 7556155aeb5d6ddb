"""FcaFormer (official ``image_classification/models/fcaformer.py``): channels-last images ``(B, H, W, C)`` ->
logits ``(B, num_classes)``.

Hybrid (L1-L4, ``tiny``): ``ConvStem`` (/4 for 224 px) -> stages 1-2 of ConvNeXt blocks on ``(B, C, H, W)``,
each followed by ``PatchMerging`` -> tokens ``(B, N, C)`` -> Fca stages (``PatchMerging`` between them) -> mean over
tokens -> LayerNorm -> Linear. Plain (L0): patch embedding ``Conv p x p / p`` + learned position embedding ->
one Fca stage -> the same head. Every grid is fixed at build time (``image_size``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from forwardkit.interfaces import Model
from forwardkit.nn import drop_path_schedule
from forwardkit_fcaformer.blocks import ConvNeXtBlock
from forwardkit_fcaformer.config import FcaFormerConfig
from forwardkit_fcaformer.layers import ConvStem, PatchMerging, map_to_tokens, tokens_to_map
from forwardkit_fcaformer.stage import FcaStage


def _init(m: nn.Module) -> None:
    """Official ``_init_weights``: trunc-normal (std 0.02) Conv2d/Linear weights, zero biases."""
    if isinstance(m, (nn.Conv2d, nn.Linear)):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)


def _block_fields(c: FcaFormerConfig) -> dict[str, Any]:
    return {"mlp_ratio": c.mlp_ratio, "layer_scale_init": c.layer_scale_init, "local_conv": c.local_conv,
            "double_ln": c.double_ln_in_mlp, "qkv_bias": c.qkv_bias, "rel_bias": c.rel_bias == "levit",
            "lsf": c.lsf, "lsf_position": c.lsf_position, "cross_bias": c.cross_bias, "backend": c.attention_backend}


class PlainEmbed(nn.Module):
    """DeiT's patch embedding ``Conv(C_in -> C, p, stride p)`` plus a learned position embedding ``(1, N, C)``
    (trunc-normal 0.02): ``(B, C_in, H, W) -> (B, N, C)``."""

    def __init__(self, *, cin: int, dim: int, patch: int, grid: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(cin, dim, patch, patch)
        self.pos = nn.Parameter(torch.zeros(1, grid * grid, dim))
        nn.init.trunc_normal_(self.pos, std=0.02)

    def forward(self, x: Tensor) -> Tensor:
        return map_to_tokens(self.proj(x)) + self.pos


class FcaFormer(Model):
    """FcaFormer on ``(B, H, W, C_in)`` images -> ``(B, num_classes)``; ``preset`` picks L0-L4 or ``tiny``."""

    Config = FcaFormerConfig
    config: FcaFormerConfig
    ranks = frozenset({2})
    conformance_configs = (
        {"preset": "tiny", "num_classes": 4, "in_channels": 1, "image_size": 16, "dims": [8, 8, 16, 16],
         "depths": [1, 1, 3, 2], "head_dim": 8, "layer_scale_init": 0.5},
        {"preset": "custom", "layout": "plain", "dims": [16], "depths": [3], "head_dim": 8, "patch_size": 4,
         "image_size": 16, "num_classes": 3, "tme": "avgpool", "lsf_position": "after_norm", "merge_stride": 2,
         "max_depth": 1, "double_ln_in_mlp": False, "layer_scale_init": 0.5},
    )

    def __init__(self, config: FcaFormerConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        c = self.config
        s = c.sizes()
        dims, depths, grids = s["dims"], s["depths"], c.grids()
        rates = drop_path_schedule(s.get("drop_path") or 0.0, depths)
        self.grids = grids
        self.fca_indices = c.fca_stages()
        if s["layout"] == "plain":
            self.embed: nn.Module = PlainEmbed(cin=c.in_channels, dim=dims[0], patch=s["patch_size"], grid=grids[0])
        else:
            self.embed = ConvStem(c.in_channels, dims[0], tuple(s["stem_strides"]))
        merge = {"mode": c.tme, "kernel": c.merge_kernel, "stride": c.merge_stride}
        stages: list[nn.Module] = []
        for i, (dim, depth) in enumerate(zip(dims, depths, strict=True)):
            if i in self.fca_indices:
                stages.append(FcaStage(dim=dim, depth=depth, grid=(grids[i], grids[i]), head_dim=s["head_dim"],
                                       drop_paths=rates[i], cross_tokens=c.cross_tokens, max_depth=c.max_depth,
                                       merge=merge, **_block_fields(c)))
            else:
                stages.append(nn.Sequential(*(ConvNeXtBlock(dim=dim, mlp_ratio=c.mlp_ratio, drop_path=rates[i][j],
                                                            layer_scale_init=c.layer_scale_init)
                                              for j in range(depth))))
        self.stages = nn.ModuleList(stages)
        self.downsamples = nn.ModuleList(PatchMerging(dims[i], dims[i + 1]) for i in range(len(dims) - 1))
        self.norm_head = nn.LayerNorm(dims[-1])
        self.head = nn.Linear(dims[-1], c.num_classes)
        self.apply(_init)

    @classmethod
    def fields_from_metadata(cls, metadata: Any) -> dict[str, Any]:
        """``in_channels``, ``num_classes`` and ``image_size`` (the side of square ``(H, W, C)`` inputs)."""
        out = super().fields_from_metadata(metadata)
        shape = tuple(metadata.input_shape)
        if len(shape) == 3 and shape[0] == shape[1]:
            out["image_size"] = int(shape[0])
        return out

    def _check_input(self, x: Tensor) -> None:
        side = self.config.sizes()["image_size"]
        if x.dim() != 4 or tuple(x.shape[1:3]) != (side, side):
            raise ValueError(f"fcaformer is built for (B, {side}, {side}, C) images (its relative-bias, LSF and "
                             f"beta sizes follow the grid), got {tuple(x.shape)}")

    def _run(self, x: Tensor, weights: list[list[Tensor]] | None) -> Tensor:
        self._check_input(x)
        x = self.embed(x.movedim(-1, 1))  # (B, C, H, W), or (B, N, C) for the plain layout
        for i, stage in enumerate(self.stages):
            if i > 0:
                x = self.downsamples[i - 1](x if x.dim() == 4 else tokens_to_map(x, (self.grids[i - 1],) * 2))
            if isinstance(stage, FcaStage):
                x = map_to_tokens(x) if x.dim() == 4 else x
                if weights is None:
                    x = stage(x)
                else:
                    x, w = stage.forward_with_weights(x)
                    weights.append(w)
            else:
                x = stage(x)
        pooled = x.mean(1) if x.dim() == 3 else x.mean(dim=(2, 3))
        return self.head(self.norm_head(pooled))

    def forward(self, x: Tensor) -> Tensor:
        """``(B, H, W, C_in)`` -> logits ``(B, num_classes)``."""
        return self._run(x, None)

    def forward_with_weights(self, x: Tensor) -> tuple[Tensor, list[list[Tensor]]]:
        """Logits and, per Fca stage and block, the joint softmax ``(B, h, N, N + M)`` (reference path)."""
        weights: list[list[Tensor]] = []
        return self._run(x, weights), weights

    def fca_stages(self) -> list[tuple[int, FcaStage]]:
        """``(stage index, stage)`` of every Fca stage."""
        return [(i, s) for i, s in enumerate(self.stages) if isinstance(s, FcaStage)]

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        side = self.config.sizes()["image_size"]
        x = torch.randn(batch_size, side, side, self.config.in_channels, generator=generator)
        y = torch.randint(0, self.config.num_classes, (batch_size,), generator=generator)
        return {"x": x, "y": y}


def fcaformer(config: Any = None, **overrides: Any) -> FcaFormer:
    """Functional form: the FcaFormer of a config, e.g. ``fcaformer(preset="fcaformer_l2")``."""
    return FcaFormer(config, **overrides)
