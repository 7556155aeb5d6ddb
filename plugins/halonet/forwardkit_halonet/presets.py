"""Block layouts of the HaloNet presets (torch-free): timm's ``byoanet`` configs, written out block by block.

No official HaloNet code exists; the reference layouts are timm's ``timm/models/byoanet.py`` (read, not
copied): ``halonet26t``, ``sehalonet33ts``, ``halonet50ts``, ``eca_halonext26ts`` (hybrids: conv bottlenecks
with halo blocks in the later stages) and ``halonet_h1`` (halo attention in every block, "as per the paper").
timm expands its ``interleave_blocks(types, d, every=1)`` to halo blocks at indices ``every, 2 every + 1, ...``;
the strings below are that expansion (``b``: conv bottleneck, ``h``: halo block), checked against
``timm.create_model(name)`` of timm 1.0.31. ``tiny`` is this plugin's own 28 x 28 layout for tests.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = ["PRESETS", "PUBLISHED_PARAMS", "TIMM_PARAMS", "BlockSpec", "Preset", "resolve_layout"]


@dataclass(frozen=True)
class BlockSpec:
    """One residual block: ``kind`` 'bottle' (1x1 - 3x3 - 1x1 convs) or 'halo' (1x1 - halo attention - 1x1),
    its output channels, stride (first block of a stage), bottleneck ratio (mid = make_divisible(out * ratio)),
    group size of the 3x3 conv (0: dense) and a per-block head count (None: the preset's)."""

    kind: str
    channels: int
    stride: int
    bottle_ratio: float = 0.25
    group_size: int = 0
    num_heads: int | None = None


@dataclass(frozen=True)
class Preset:
    """A whole network: stem, stages of blocks, optional final 1x1 conv and the halo settings."""

    stages: tuple[tuple[BlockSpec, ...], ...]
    stem: str = "tiered"          # 'tiered': 3x3 convs to 3c/8, c/2, c (timm's ResNet-T stem); '7x7': one conv
    stem_channels: int = 64
    stem_pool: bool = True        # 3x3/2 max pool after the stem convs; without it the last stem conv strides
    stem_stride: int = 4
    act: str = "relu"
    attn: str | None = None       # 'se' or 'eca' after the 3x3 conv of the conv bottlenecks
    num_features: int = 0         # final 1x1 conv to this width (0: none)
    block_size: int = 8
    halo_size: int = 3
    num_heads: int = 8
    dim_head: int | None = None
    image_size: int = 256         # timm's default input side (the example batch of non-tiny presets)


def stage(kinds: str, channels: int, stride: int, bottle_ratio: float = 0.25, group_size: int = 0,
          heads: dict[int, int] | None = None) -> tuple[BlockSpec, ...]:
    """A stage from a string of block kinds (``"bbh"``); the first block has ``stride``, ``heads`` maps a
    block index to its own head count."""
    kind = {"b": "bottle", "h": "halo"}
    return tuple(BlockSpec(kind[k], channels, stride if i == 0 else 1, bottle_ratio, group_size,
                           (heads or {}).get(i)) for i, k in enumerate(kinds))


PRESETS: dict[str, Preset] = {
    "halonet26t": Preset(
        stages=(stage("bb", 256, 1), stage("bb", 512, 2), stage("bh", 1024, 2), stage("hh", 2048, 2)),
        halo_size=2),
    "sehalonet33ts": Preset(
        stages=(stage("bb", 256, 1), stage("bbh", 512, 2), stage("bbh", 1024, 2), stage("hh", 1536, 2, 0.333)),
        stem_pool=False, act="silu", attn="se", num_features=1280),
    "halonet50ts": Preset(
        stages=(stage("bbb", 256, 1), stage("bbbh", 512, 2, heads={3: 4}), stage("bhbhbh", 1024, 2),
                stage("bhb", 2048, 2)),
        act="silu"),
    "eca_halonext26ts": Preset(
        stages=(stage("bb", 256, 1, group_size=16), stage("bb", 512, 2, group_size=16),
                stage("bh", 1024, 2, group_size=16), stage("hh", 2048, 2, group_size=16)),
        act="silu", attn="eca", halo_size=2, dim_head=16),
    "halonet_h1": Preset(
        stages=(stage("hhh", 64, 1, 1.0), stage("hhh", 128, 2, 1.0), stage("h" * 10, 256, 2, 1.0),
                stage("hhh", 512, 2, 1.0)),
        stem="7x7"),
    "tiny": Preset(
        stages=(stage("b", 32, 1), stage("b", 64, 2), stage("bh", 96, 2), stage("h", 128, 2)),
        stem_channels=16, stem_pool=False, stem_stride=2, block_size=4, halo_size=1, num_heads=2,
        image_size=28),
}

#: parameter counts at 1000 classes, 3 input channels, as timm's model cards publish them (Params (M)):
#: huggingface.co/timm/<name>.<tag> (halonet26t.a1h_in1k, sehalonet33ts.ra2_in1k, halonet50ts.a1h_in1k,
#: eca_halonext26ts.c1_in1k); halonet_h1 (untrained in timm) from the keras_cv_attention_models table
PUBLISHED_PARAMS: dict[str, float] = {
    "halonet26t": 12.5e6, "sehalonet33ts": 13.7e6, "halonet50ts": 22.7e6, "eca_halonext26ts": 10.8e6,
    "halonet_h1": 8.1e6,
}
#: exact counts of ``timm.create_model(name)`` (timm 1.0.31, 1000 classes), measured when the presets were written
TIMM_PARAMS: dict[str, int] = {
    "halonet26t": 12_480_288, "sehalonet33ts": 13_691_712, "halonet50ts": 22_733_280,
    "eca_halonext26ts": 10_756_885, "halonet_h1": 8_100_056,
}


def resolve_layout(preset: str, layout: str = "hybrid") -> Preset:
    """The preset, with every block turned into a halo block when ``layout == 'all'``."""
    base = PRESETS[preset]
    if layout == "hybrid":
        return base
    return replace(base, stages=tuple(tuple(replace(b, kind="halo") for b in s) for s in base.stages))
