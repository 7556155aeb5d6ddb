"""Presets of the official architectures (torch-free), transcribed from ``yilunliao/vit-search``.

The official code describes a network by a ``network_def`` tuple: ``(4, C)`` the conv patch stem of width C
(``(0, C)``: a linear patch embedding), ``(1, (C, heads, head_dim), (C, mlp_hidden), exists)`` a transformer
block, ``(3, C_in, C_out)`` a residual spatial reduction, ``(2, C, classes)`` the head.
:func:`config_from_network_def` turns one into the fields of :class:`~forwardkit_vit_resnas.config.ViTResConfig`.

Sources (all in ``yilunliao/vit-search``):

* ``vit_res_tiny``: ``scripts/vit-sr-nas/reference_net/tiny.sh`` (ViT-Res-Tiny, the hand-designed reference);
* ``vit_resnas_tiny``: ``scripts/vit-sr-nas/searched_net/tiny.sh`` (searched at 1.7944 GMACs);
* ``vit_resnas_small``: ``scripts/vit-sr-nas/searched_net/small_mac@2.9G.sh``;
* ``vit_resnas_medium``: ``scripts/vit-sr-nas/searched_net/medium_mac@4.6G.sh``;
* ``sr_tiny_mh``: the super-network of ``scripts/vit-sr-nas/evolutionary_search/tiny.sh`` with the choices of
  ``supernet_config/sr_tiny_mh.py``.

``deit_tiny`` / ``deit_small`` / ``deit_base`` are the single-stage DeiT baselines (Touvron et al. 2021: patch 16
on 224 px, 12 blocks, widths 192 / 384 / 768, heads of 64 channels), built by the same model without a
spatial reduction.
"""

from __future__ import annotations

from typing import Any

NetworkDef = tuple[Any, ...]

VIT_RES_TINY: NetworkDef = (
    (4, 192),
    *[(1, (192, 3, 64), (192, 768), 1)] * 4,
    (3, 192, 384),
    *[(1, (384, 6, 64), (384, 1536), 1)] * 4,
    (3, 384, 768),
    *[(1, (768, 12, 64), (768, 3072), 1)] * 4,
    (2, 768, 1000),
)

VIT_RESNAS_TINY: NetworkDef = (
    (4, 176), (1, (176, 3, 32), (176, 704), 1), (1, (176, 3, 32), (176, 576), 1), (1, (176, 3, 32), (176, 640), 1),
    (1, (176, 4, 32), (176, 576), 1), (1, (176, 4, 32), (176, 704), 1), (3, 176, 352),
    (1, (352, 10, 48), (352, 1408), 1), (1, (352, 8, 48), (352, 1408), 1), (1, (352, 8, 48), (352, 1280), 1),
    (1, (352, 8, 48), (352, 1408), 1), (1, (352, 10, 48), (352, 1280), 1), (1, (352, 10, 48), (352, 1024), 1),
    (3, 352, 704), (1, (704, 10, 64), (704, 2560), 1), (1, (704, 10, 64), (704, 1792), 1),
    (1, (704, 10, 64), (704, 2816), 1), (1, (704, 8, 64), (704, 2816), 1), (1, (704, 8, 64), (704, 2560), 1),
    (2, 704, 1000),
)

VIT_RESNAS_SMALL: NetworkDef = (
    (4, 220), (1, (220, 5, 32), (220, 880), 1), (1, (220, 5, 32), (220, 880), 1), (1, (220, 7, 32), (220, 800), 1),
    (1, (220, 5, 32), (220, 720), 1), (1, (220, 5, 32), (220, 720), 1), (1, (220, 5, 32), (220, 720), 1),
    (3, 220, 440), (1, (440, 10, 48), (440, 1760), 1), (1, (440, 10, 48), (440, 1440), 1),
    (1, (440, 10, 48), (440, 1920), 1), (1, (440, 10, 48), (440, 1600), 1), (1, (440, 12, 48), (440, 1600), 1),
    (1, (440, 12, 48), (440, 1440), 1), (3, 440, 880), (1, (880, 16, 64), (880, 3200), 1),
    (1, (880, 12, 64), (880, 3200), 1), (1, (880, 16, 64), (880, 2880), 1), (1, (880, 12, 64), (880, 2240), 1),
    (1, (880, 14, 64), (880, 2560), 1), (2, 880, 1000),
)

VIT_RESNAS_MEDIUM: NetworkDef = (
    (4, 240), (1, (240, 7, 32), (240, 960), 1), (1, (240, 6, 32), (240, 960), 1), (1, (240, 7, 32), (240, 800), 1),
    (1, (240, 8, 32), (240, 960), 1), (1, (240, 7, 32), (240, 880), 1), (1, (240, 8, 32), (240, 880), 1),
    (1, (240, 6, 32), (240, 800), 1), (3, 240, 640), (1, (640, 10, 48), (640, 1120), 1),
    (1, (640, 14, 48), (640, 1760), 1), (1, (640, 14, 48), (640, 1920), 1), (1, (640, 16, 48), (640, 1760), 1),
    (1, (640, 14, 48), (640, 1440), 1), (1, (640, 16, 48), (640, 1760), 1), (1, (640, 16, 48), (640, 1920), 1),
    (3, 640, 880), (1, (880, 16, 64), (880, 3200), 1), (1, (880, 10, 64), (880, 3840), 1),
    (1, (880, 16, 64), (880, 3840), 1), (1, (880, 12, 64), (880, 3200), 1), (1, (880, 16, 64), (880, 3520), 1),
    (1, (880, 14, 64), (880, 3520), 1), (2, 880, 1000),
)

#: the MAC budgets of the official search scripts (``--constraint-value`` of evolutionary_search/tiny.sh; the
#: file names ``small_mac@2.9G`` / ``medium_mac@4.6G``); a searched net lies in [0.975 budget, budget]
OFFICIAL_BUDGETS: dict[str, float] = {"vit_resnas_tiny": 1_794_400_000, "vit_resnas_small": 2.9e9,
                                      "vit_resnas_medium": 4.6e9}


def config_from_network_def(network_def: NetworkDef, *, img_size: int = 224, patch: int = 14,
                            in_channels: int = 3) -> dict[str, Any]:
    """ViTRes config fields of an official ``network_def`` (blocks flagged ``exists=0`` are dropped, as the
    official README says to do before retraining a searched net)."""
    stem_kind, width = network_def[0][0], network_def[0][1]
    if stem_kind not in (0, 4):
        raise ValueError(f"unsupported stem type {stem_kind} (0: linear patch embedding, 4: conv stem)")
    dims: list[int] = [width]
    heads: list[int] = []
    head_dims: list[int] = []
    blocks_h: list[list[int]] = [[]]
    blocks_m: list[list[int]] = [[]]
    classes = 1000
    for block in network_def[1:]:
        if block[0] == 1:
            if not block[3]:
                continue
            (_, h, d), (_, hidden) = block[1], block[2]
            blocks_h[-1].append(h)
            blocks_m[-1].append(hidden)
            if len(head_dims) < len(dims):
                head_dims.append(d)
        elif block[0] == 3:
            dims.append(block[2])
            blocks_h.append([])
            blocks_m.append([])
        elif block[0] == 2:
            classes = block[2]
    for stage_heads in blocks_h:
        heads.append(max(stage_heads) if stage_heads else 1)
    return {
        "img_size": img_size, "patch": patch, "in_channels": in_channels, "num_classes": classes,
        "stem": "conv" if stem_kind == 4 else "linear", "stem_mid": 24, "dims": dims,
        "depths": [len(b) for b in blocks_h], "heads": heads, "head_dims": head_dims,
        "block_heads": blocks_h, "block_mlp": blocks_m,
    }


def _deit(width: int, heads: int) -> dict[str, Any]:
    return {"img_size": 224, "patch": 16, "in_channels": 3, "num_classes": 1000, "stem": "linear", "dims": [width],
            "depths": [12], "heads": [heads], "head_dims": [64], "mlp_ratio": 4.0, "block_heads": None,
            "block_mlp": None}


#: ViTRes presets: config fields (a preset fills every field it names that the config does not set)
VIT_RES_PRESETS: dict[str, dict[str, Any]] = {
    "vit_res_tiny": config_from_network_def(VIT_RES_TINY),
    "vit_resnas_tiny": config_from_network_def(VIT_RESNAS_TINY),
    "vit_resnas_small": config_from_network_def(VIT_RESNAS_SMALL),
    "vit_resnas_medium": config_from_network_def(VIT_RESNAS_MEDIUM),
    "deit_tiny": _deit(192, 3),
    "deit_small": _deit(384, 6),
    "deit_base": _deit(768, 12),
}


def _steps(high: int, low: int, step: int) -> list[int]:
    return list(range(high, low - 1, -step))


#: super-network presets (``supernet_config/sr_tiny_mh.py``: 3 stages x 6 blocks, every second block skippable)
SUPERNET_PRESETS: dict[str, dict[str, Any]] = {
    "sr_tiny_mh": {
        "img_size": 224, "patch": 14, "in_channels": 3, "num_classes": 1000, "stem": "conv", "stem_mid": 24,
        "depths": [6, 6, 6],
        "embed_choices": [[256, 224, 192, 176, 160], [512, 448, 384, 352, 320], [1024, 896, 768, 704, 640]],
        "head_dims": [32, 48, 64],
        "attn_choices": [[192, 160, 128, 96], [576, 480, 384, 288], [768, 640, 512, 384]],
        "mlp_choices": [_steps(768, 384, 64), _steps(1536, 768, 128), _steps(3072, 1536, 256)],
        "skip_every": 2, "layer_keep_options": [True, True, False, False],
    },
}
