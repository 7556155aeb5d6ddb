"""The FcaFormer presets and their published sizes (torch-free: the config validator reads them).

Hybrid presets ``fcaformer_l1..l4`` are the official ``image_classification/models/fcaformer.py`` of
hkzhang-git/FcaFormer (``embed_dims``, ``depths``, ``num_heads``; every Fca stage has heads of 32 channels)
with the ``--drop_path`` of ``scripts/fca_l*.sh``. ``fcaformer_l0`` is the plain (DeiT-Tiny based) FcaFormer of
the README's table (5.9M, 74.3%): the repository has no code for it (``models/cabvit_p/cabvit_p.py`` is a plain
DeiT), so its layout is our reading of the README figure: DeiT-Tiny's patch-16 embedding and width 192, 3 heads,
12 blocks, as one Fca stage at 14x14. ``tiny`` is the card's MNIST composition (28x28, stem stride 1, grids
28/14/7/4).
"""

from __future__ import annotations

from typing import Any

#: preset -> the config fields it fills (a field set in the config wins)
PRESETS: dict[str, dict[str, Any]] = {
    "fcaformer_l0": {"layout": "plain", "dims": [192], "depths": [12], "head_dim": 64, "patch_size": 16,
                     "image_size": 224, "drop_path": 0.1},
    "fcaformer_l1": {"layout": "hybrid", "dims": [64, 128, 192, 320], "depths": [2, 2, 6, 2], "head_dim": 32,
                     "stem_strides": [2, 2], "image_size": 224, "drop_path": 0.0},
    "fcaformer_l2": {"layout": "hybrid", "dims": [96, 192, 320, 480], "depths": [2, 2, 7, 2], "head_dim": 32,
                     "stem_strides": [2, 2], "image_size": 224, "drop_path": 0.1},
    "fcaformer_l3": {"layout": "hybrid", "dims": [96, 192, 320, 512], "depths": [3, 6, 12, 3], "head_dim": 32,
                     "stem_strides": [2, 2], "image_size": 224, "drop_path": 0.2},
    "fcaformer_l4": {"layout": "hybrid", "dims": [128, 256, 512, 768], "depths": [3, 6, 12, 3], "head_dim": 32,
                     "stem_strides": [2, 2], "image_size": 224, "drop_path": 0.4},
    "tiny": {"layout": "hybrid", "dims": [16, 32, 48, 64], "depths": [1, 1, 4, 2], "head_dim": 16,
             "stem_strides": [1, 1], "image_size": 28, "drop_path": 0.0},
}

#: parameters of the official ``fcaformer_l*`` at 224 px and 1000 classes, counted on the official code by the
#: spec card's author (papers/fcaformer.md, "Tests this plugin must have"); the code comments round them to
#: 6.2M / 16.3M / 27.9M / 65.6M
OFFICIAL_PARAMS: dict[str, int] = {
    "fcaformer_l1": 6_187_560,
    "fcaformer_l2": 16_275_870,
    "fcaformer_l3": 27_894_484,
    "fcaformer_l4": 65_638_204,
}

#: the README's "#params (M)" column (hkzhang-git/FcaFormer README.md, ImageNet-1k table: L0-L2) and the code
#: comments of ``fcaformer_l3`` / ``fcaformer_l4``
PUBLISHED_MILLIONS: dict[str, float] = {"fcaformer_l0": 5.9, "fcaformer_l1": 6.2, "fcaformer_l2": 16.3,
                                        "fcaformer_l3": 27.9, "fcaformer_l4": 65.6}

#: the README's / code comments' ImageNet-1k top-1 (%), for the method card
PUBLISHED_TOP1: dict[str, float] = {"fcaformer_l0": 74.3, "fcaformer_l1": 80.3, "fcaformer_l2": 83.1,
                                    "fcaformer_l3": 84.2, "fcaformer_l4": 84.9}
