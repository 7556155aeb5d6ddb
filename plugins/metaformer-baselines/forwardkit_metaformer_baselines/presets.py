"""Preset arguments of the MetaFormer baselines for the builtin ``metaformer`` (torch-free).

Depths and widths follow the official code (sail-sg/metaformer, ``metaformer_baselines.py``); ``tiny``
is the reference "MF-Tiny" of the spec cards (depths 1,1,2,1, dims 16,32,48,64, stem k3 s2) for
28x28 or 8x8 inputs.
"""

from __future__ import annotations

from typing import Any

#: (depths, dims) of IdentityFormer / RandFormer / PoolFormerV2 (paper table 1)
SHALLOW_SIZES: dict[str, tuple[list[int], list[int]]] = {
    "tiny": ([1, 1, 2, 1], [16, 32, 48, 64]),
    "s12": ([2, 2, 6, 2], [64, 128, 320, 512]),
    "s24": ([4, 4, 12, 4], [64, 128, 320, 512]),
    "s36": ([6, 6, 18, 6], [64, 128, 320, 512]),
    "m36": ([6, 6, 18, 6], [96, 192, 384, 768]),
    "m48": ([8, 8, 24, 8], [96, 192, 384, 768]),
}
#: (depths, dims) of ConvFormer / CAFormer (paper table 2)
DEEP_SIZES: dict[str, tuple[list[int], list[int]]] = {
    "tiny": ([1, 1, 2, 1], [16, 32, 48, 64]),
    "s18": ([3, 3, 9, 3], [64, 128, 320, 512]),
    "s36": ([3, 12, 18, 3], [64, 128, 320, 512]),
    "m36": ([3, 12, 18, 3], [96, 192, 384, 576]),
    "b36": ([3, 12, 18, 3], [128, 256, 512, 768]),
}
#: ResScale init per stage: only stages 3-4 (official ``res_scale_init_values=[None, None, 1.0, 1.0]``)
RES_SCALE = [None, None, 1.0, 1.0]
PRESETS = ("identityformer", "randformer", "poolformerv2", "convformer", "caformer")


def _stem(size: str, stride: int | None) -> tuple[int, int]:
    """(kernel, stride) of the stem: k3 s2 for tiny, k7 s4 (paper) otherwise."""
    kernel, default = (3, 2) if size == "tiny" else (7, 4)
    return kernel, stride or default


def stage_sides(image_size: int, size: str, stem_stride: int | None, stages: int = 4) -> list[int]:
    """Side of the (square) token grid of each stage for ``image_size`` inputs (conv output-size formula)."""
    kernel, stride = _stem(size, stem_stride)
    side = (image_size + 2 * ((kernel - stride + 1) // 2) - kernel) // stride + 1
    sides = [side]
    for _ in range(stages - 1):
        side = (side + 2 - 3) // 2 + 1  # downsampling conv k3 s2 p1
        sides.append(side)
    return sides


def metaformer_arguments(preset: str, cfg: Any) -> dict[str, Any]:
    """The builtin ``metaformer`` config (a mapping) of preset ``preset`` with the fields of ``cfg``
    (one of the preset Configs of :mod:`forwardkit_metaformer_baselines.config`)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; known: {', '.join(PRESETS)}")
    deep = preset in ("convformer", "caformer")
    depths, dims = (DEEP_SIZES if deep else SHALLOW_SIZES)[cfg.size]
    stem_kernel, stem_stride = _stem(cfg.size, cfg.stem_stride)
    identity: dict[str, Any] = {"name": "identity"}
    mixers: list[dict[str, Any]]
    if preset == "identityformer":
        mixers = [identity] * 4
    elif preset == "randformer":
        sides = stage_sides(cfg.image_size, cfg.size, cfg.stem_stride) if cfg.image_size else [None] * 4
        randoms = [{"name": "random_mixing", "num_tokens": s * s if s else None} for s in sides[2:]]
        mixers = [identity, identity, *randoms]
    elif preset == "poolformerv2":
        mixers = [{"name": "pooling", "pool_size": cfg.pool_size}] * 4
    else:
        sepconv = {"name": "sepconv", "kernel_size": cfg.kernel_size, "act1": cfg.act}
        if preset == "convformer":
            mixers = [sepconv] * 4
        else:
            head_dim = cfg.head_dim or (16 if cfg.size == "tiny" else 32)
            attention = {"name": "attention", "head_dim": head_dim, "proj_bias": False}
            mixers = [sepconv, sepconv, attention, attention]
    head = "linear"
    if deep:
        head = cfg.head or ("linear" if cfg.size == "tiny" else "mlp")
    return {
        "in_channels": cfg.in_channels,
        "num_classes": cfg.num_classes,
        "rank": 2,
        "depths": list(depths),
        "dims": list(dims),
        "token_mixers": mixers,
        "channel_mixers": [{"name": "starrelu_mlp", "act": cfg.act}],
        "norm": ["layernorm_nobias" if deep else "groupnorm1"],
        "norm_eps": 1e-6,
        "stem_kernel": stem_kernel,
        "stem_stride": stem_stride,
        "downsample_kernel": 3,
        "downsample_stride": 2,
        "layer_scale_init": [cfg.layer_scale_init],
        "res_scale_init": list(RES_SCALE) if cfg.res_scale else [None],
        "drop_path_rate": cfg.drop_path_rate,
        "head": head,
        "head_dropout": getattr(cfg, "head_dropout", 0.0),
    }
