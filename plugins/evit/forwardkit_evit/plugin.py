"""Registration of the EViT components (light: import paths only, no torch).

``TokenReorganizer`` (forwardkit_evit.reorganize) is not registered: it changes the number of tokens, so it is
no TokenMixer and fits no other kind; it lives inside the ``evit_vit`` blocks and is inserted by ``evit``.
"""

from __future__ import annotations

from forwardkit.hookspecs import hookimpl
from forwardkit.registry import Paper, Registrar

PAPER = Paper(
    title="Not All Patches are What You Need: Expediting Vision Transformers via Token Reorganizations",
    arxiv="2202.07800",
    url="https://github.com/youweiliang/evit",
    year=2022,
)
_PKG = "forwardkit_evit"
_CFG = f"{_PKG}.config"


@hookimpl
def forwardkit_register(registry: Registrar) -> None:
    add = registry.add
    add(
        "token_mixer",
        "cls_attention",
        target=f"{_PKG}.attention:ClsAttentionMHSA",
        config=f"{_CFG}:ClsAttentionConfig",
        summary="MHSA on (B, N, C) tokens with a class token at 0; keeps the head-averaged cls attention row",
        paper=PAPER,
        functional=f"{_PKG}.attention:cls_attention",
    )
    add(
        "model",
        "evit_vit",
        target=f"{_PKG}.model:EViTViT",
        config=f"{_CFG}:EViTViTConfig",
        summary="ViT/DeiT whose blocks in drop_loc keep the top-kappa patches by cls attention and fuse the rest",
        paper=PAPER,
        functional=f"{_PKG}.reorganize:reorganize_tokens",
    )
    add(
        "adapter",
        "evit",
        target=f"{_PKG}.adapter:EViTAdapter",
        config=f"{_CFG}:EViTAdapterConfig",
        summary="turns a plain evit_vit (keep_rate=1) into EViT: token reorganisation at drop_loc, weights kept",
        paper=PAPER,
        functional=f"{_PKG}.adapter:apply_evit",
    )
    add(
        "callback",
        "evit_keep_rate_schedule",
        target=f"{_PKG}.schedule:KeepRateSchedule",
        config=f"{_CFG}:KeepRateScheduleConfig",
        summary="EViT keep-rate warm-up: kappa=1, then cosine down to the base rate, per iteration",
        paper=PAPER,
        functional=f"{_PKG}.schedule:keep_rate_at",
    )
    add(
        "compressor",
        "evit",
        target=f"{_PKG}.compressor:EViTCompressor",
        config=f"{_CFG}:EViTCompressorConfig",
        summary="EViT on a trained ViT + short fine-tune; measured MACs, latency and accuracy before/after",
        paper=PAPER,
    )
    add(
        "analyzer",
        "evit_kept_tokens",
        target=f"{_PKG}.analyzer:KeptTokenAnalyzer",
        config=f"{_CFG}:KeptTokenAnalyzerConfig",
        summary="per-image maps of the patches kept at each EViT reorganisation, kept attention mass",
        paper=PAPER,
        functional=f"{_PKG}.analyzer:kept_token_masks",
    )
    registry.add_reproduction(spec=f"{_PKG}.reproduction:SPEC")
