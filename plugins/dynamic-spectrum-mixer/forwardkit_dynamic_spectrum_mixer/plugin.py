"""Registration of the dynamic-spectrum-mixer components (no torch import here: only import paths).

The mechanism is a reconstruction (no official code; the paper's method section was not available): see
the plugin README. Names and default configs are stable (other plugins compare their latency with ``dsm``).
"""

from __future__ import annotations

from forwardkit.hookspecs import hookimpl
from forwardkit.registry import Paper, Registrar

PAPER = Paper(
    title="Dynamic Spectrum Mixer for Visual Recognition",
    arxiv="2309.06721",
    url="https://arxiv.org/abs/2309.06721",
    year=2023,
)
GFNET = Paper(
    title="Global Filter Networks for Image Classification",
    arxiv="2107.00645",
    url="https://arxiv.org/abs/2107.00645",
    year=2021,
)
_PKG = "forwardkit_dynamic_spectrum_mixer"
_CFG = f"{_PKG}.config"


@hookimpl
def forwardkit_register(registry: Registrar) -> None:
    add = registry.add
    add(
        "token_mixer",
        "dsm",
        target=f"{_PKG}.mixer:DynamicSpectrumMixer",
        config=f"{_CFG}:DSMConfig",
        summary="dynamic spectrum mixer (reconstruction): DCT over the grid, static weights x input-dependent "
        "band gates, inverse DCT; ranks 1-3",
        paper=PAPER,
        functional=f"{_PKG}.mixer:dynamic_spectrum_mix",
    )
    add(
        "token_mixer",
        "dct_static",
        target=f"{_PKG}.mixer:DctStaticMixer",
        config=f"{_CFG}:DctStaticConfig",
        summary="static DCT mixer: IDCT(DCT(z) * W_s), dsm without input dependence (its fair static baseline)",
        paper=PAPER,
        functional=f"{_PKG}.mixer:dynamic_spectrum_mix",
    )
    add(
        "token_mixer",
        "fft_global_filter",
        target=f"{_PKG}.global_filter:GlobalFilter",
        config=f"{_CFG}:GlobalFilterConfig",
        summary="GFNet-style global filter irfftn(rfftn(z) * K) with a learnable complex K (DCT-vs-FFT baseline)",
        paper=GFNET,
        functional=f"{_PKG}.global_filter:global_filter",
    )
    add(
        "analyzer",
        "band_energy",
        target=f"{_PKG}.analyzer:BandEnergy",
        config=f"{_CFG}:BandEnergyConfig",
        summary="per DCT mixer: mean |S| per spectrum band, generated gate per band and its spread over images",
        paper=PAPER,
    )
    add(
        "model",
        "dsm_tiny",
        target=f"{_PKG}.model:DSMTiny",
        config=f"{_CFG}:DSMTinyConfig",
        summary="MF-Tiny (depths 1,1,2,1, dims 16..64, 28x28 -> grids 14/7/4/2) with dsm (or any token mixer) in "
        "every stage",
        paper=PAPER,
    )
    registry.add_reproduction(spec=f"{_PKG}.reproduction:SPEC")
