"""``dsm_tiny``: the card's tiny DSM backbone, MF-Tiny with a DCT spectrum mixer in every stage.

The paper's backbone is a 4-stage MLP-like (MetaFormer) network with DSM in all stages (abstract); its
depths, widths and recipe were not available, so this is the card's reconstruction at the MF-Tiny size of
the metaformer-baselines card: 28 x 28 inputs, conv stem k3 s2, stage grids 14 / 7 / 4 / 2, dims 16, 32,
48, 64, depths 1, 1, 2, 1, LayerNorm pre-norm, GELU MLP (ratio 4), mean pooling and a linear head. It is the
builtin ``metaformer`` (built through the registry) with ``token_mixer`` in every stage; a mixer with a
``num_bands`` field gets ``K = min(num_bands, smallest side of the stage grid)`` per stage (card: ``K =
min(4, grid)``) unless the spec sets another value than the mixer's default. Inputs are channels-last
images ``(B, H, W, C_in)``; outputs ``(B, num_classes)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor

from forwardkit.compose import create
from forwardkit.interfaces import Model
from forwardkit.nn import conv_output_size
from forwardkit_dynamic_spectrum_mixer.config import DSMTinyConfig

#: the example input side when ``input_size`` is unknown (MNIST)
EXAMPLE_SIDE = 28


def stage_grids(cfg: DSMTinyConfig) -> list[tuple[int, int] | None]:
    """The ``(H, W)`` token grid of every stage for ``cfg.input_size`` (None when it is unknown): the stem's
    conv (padding ``(k - s + 1) // 2``), then a k3 s2 p1 downsampling conv before every later stage."""
    if cfg.input_size is None:
        return [None] * len(cfg.dims)
    pad = (cfg.stem_kernel - cfg.stem_stride + 1) // 2
    sides = [conv_output_size(n, kernel_size=cfg.stem_kernel, stride=cfg.stem_stride, padding=pad)
             for n in cfg.input_size]
    grids: list[tuple[int, int] | None] = []
    for i in range(len(cfg.dims)):
        if i > 0:
            sides = [conv_output_size(n, kernel_size=3, stride=2, padding=1) for n in sides]
        grids.append((int(sides[0]), int(sides[1])))
    return grids


def metaformer_arguments(cfg: DSMTinyConfig) -> dict[str, Any]:
    """The builtin ``metaformer`` config (a mapping) that ``dsm_tiny`` with ``cfg`` expands to."""
    spec = cfg.token_mixer
    # the fields the spec changes from their defaults (a JSON round trip sets every field, so "set" would not
    # do); dim and grid are the holder's: each stage gets its own width and grid
    fields = spec.config.model_dump(mode="json", exclude_defaults=True, exclude={"dim", "grid"})
    per_band = "num_bands" in type(spec.config).model_fields and "num_bands" not in fields
    mixers = []
    for grid in stage_grids(cfg):
        entry: dict[str, Any] = {"name": spec.name, **fields}
        if per_band:
            entry["num_bands"] = cfg.num_bands if grid is None else max(1, min(cfg.num_bands, *grid))
        mixers.append(entry)
    return {
        "in_channels": cfg.in_channels,
        "num_classes": cfg.num_classes,
        "rank": 2,
        "input_size": cfg.input_size,
        "depths": list(cfg.depths),
        "dims": list(cfg.dims),
        "token_mixers": mixers,
        "channel_mixers": [{"name": "mlp", "mlp_ratio": cfg.mlp_ratio, "act": "gelu"}],
        "norm": [cfg.norm],
        "stem_kernel": cfg.stem_kernel,
        "stem_stride": cfg.stem_stride,
        "downsample_kernel": 3,
        "downsample_stride": 2,
        "layer_scale_init": [cfg.layer_scale_init],
        "drop_path_rate": cfg.drop_path_rate,
        "head": "linear",
    }


class DSMTiny(Model):
    """``dsm_tiny``: ``(B, H, W, C_in)`` images -> logits ``(B, num_classes)`` (final tokens when
    ``num_classes=0``); ``self.backbone`` is the builtin MetaFormer built from :func:`metaformer_arguments`."""

    Config = DSMTinyConfig
    config: DSMTinyConfig
    gradient_exempt: ClassVar[Mapping[str, str]] = {
        "*.generator.reduce.*": "each dsm mixer's generator output layer starts at zero (card step 5: gates a = 1), "
        "so the generator's first layer gets an exactly zero gradient until that layer has been updated once",
    }

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        registry = self.config.token_mixer.registry
        self.backbone = create("model", "metaformer", metaformer_arguments(self.config), registry=registry)

    @classmethod
    def fields_from_metadata(cls, metadata: Any) -> dict[str, Any]:
        """``in_channels``, ``num_classes`` and ``input_size`` (``[H, W]`` of the images) from the data."""
        out = super().fields_from_metadata(metadata)
        out.pop("rank", None)
        shape = tuple(metadata.input_shape)
        if len(shape) == 3:
            out["input_size"] = [int(shape[0]), int(shape[1])]
        return out

    @property
    def stage_grids(self) -> list[Any]:
        """The token grid of every stage (from the builtin metaformer)."""
        return list(self.backbone.stage_grids)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, H, W, C_in)`` -> ``(B, num_classes)``."""
        return self.backbone(x)

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """Images of ``input_size`` (28 x 28 when unknown) and integer labels."""
        h, w = self.config.input_size or (EXAMPLE_SIDE, EXAMPLE_SIDE)
        x = torch.randn(batch_size, h, w, self.config.in_channels, generator=generator)
        y = torch.randint(0, max(self.config.num_classes, 1), (batch_size,), generator=generator)
        return {"x": x, "y": y}
