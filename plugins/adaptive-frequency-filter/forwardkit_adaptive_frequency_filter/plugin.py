"""Registration of the AFF components (light: import paths only, no torch)."""

from __future__ import annotations

from forwardkit.hookspecs import hookimpl
from forwardkit.registry import Paper, Registrar

PAPER = Paper(
    title="Adaptive Frequency Filters As Efficient Global Token Mixers",
    arxiv="2307.14008",
    url="https://github.com/microsoft/TokenMixers",
    year=2023,
)
_PKG = "forwardkit_adaptive_frequency_filter"
_CFG = f"{_PKG}.config"


@hookimpl
def forwardkit_register(registry: Registrar) -> None:
    add = registry.add
    add("token_mixer", "aff", target=f"{_PKG}.mixer:AFF", config=f"{_CFG}:AFFConfig",
        summary="adaptive frequency filter: FFT, mask from the spectrum by a group-wise complex MLP, iFFT (+ input)",
        paper=PAPER, functional=f"{_PKG}.mixer:aff_mix")
    add("token_mixer", "global_filter", target=f"{_PKG}.mixer:GlobalFilter", config=f"{_CFG}:GlobalFilterConfig",
        summary="static global filter (GFNet-style): FFT, learned fixed complex weight per frequency, iFFT",
        paper=PAPER, functional=f"{_PKG}.mixer:static_filter")
    add("token_mixer", "aff_static_mask", target=f"{_PKG}.mixer:AFFStaticMask", config=f"{_CFG}:AFFStaticMaskConfig",
        summary="AFF ablation: softshrink of a learned static mask instead of one generated from the input",
        paper=PAPER, functional=f"{_PKG}.mixer:static_filter")
    add("channel_mixer", "mv2_ffn", target=f"{_PKG}.mv2:MV2FFN", config=f"{_CFG}:MV2FFNConfig",
        summary="MobileNetV2 inverted residual (1x1, 3x3 depthwise, 1x1, BN) as AFFNet's FFN; not pointwise",
        paper=PAPER)
    add("model", "affnet", target=f"{_PKG}.model:AFFNet", config=f"{_CFG}:AFFNetConfig",
        summary="AFFNet (MobileViT-like, AFF stages): presets affnet (5.5M), affnet_t, affnet_et, tiny",
        paper=PAPER)
    add("analyzer", "aff_kernel_view", target=f"{_PKG}.analyzer:AFFKernelView", config=f"{_CFG}:AFFKernelViewConfig",
        summary="the dynamic global kernel irfft2(M) of each aff mixer for an input, and its radial energy",
        paper=PAPER, functional=f"{_PKG}.analyzer:equivalent_kernel")
    registry.add_reproduction(spec=f"{_PKG}.reproduction:SPEC")
