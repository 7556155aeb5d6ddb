"""Registration of the ViT-ResNAS components (light: import paths only, no torch).

``ResidualSpatialReduction`` (forwardkit_vit_resnas.rsr) is not registered: it changes the number of tokens and
their width, so it is no TokenMixer and fits no other kind; it lives between the stages of ``vit_res`` and
``vit_res_supernet``.
"""

from __future__ import annotations

from forwardkit.hookspecs import hookimpl
from forwardkit.registry import Paper, Registrar

PAPER = Paper(title="Searching for Efficient Multi-Stage Vision Transformers", arxiv="2109.00642",
              url="https://github.com/yilunliao/vit-search", year=2021)
_P = "forwardkit_vit_resnas"
_C = f"{_P}.config"


@hookimpl
def forwardkit_register(registry: Registrar) -> None:
    add = registry.add
    add("model", "vit_res", target=f"{_P}.vit_res:ViTRes", config=f"{_C}:ViTResConfig", paper=PAPER,
        summary="ViT-Res: multi-stage ViT joined by residual spatial reductions (avg-pool + zero-pad skip); "
                "presets ViT-Res-Tiny, ViT-ResNAS-Tiny/Small/Medium, DeiT-Ti/S/B",
        functional=f"{_P}.rsr:skip_path")
    add("model", "vit_res_supernet", target=f"{_P}.supernet:ViTResSuperNet", config=f"{_C}:ViTResSuperNetConfig",
        paper=PAPER, summary="weight-sharing ViT-Res super-network: per-sample prefix masks of widths, heads, MLP "
        "units and skipped blocks; masked LayerNorm; exact extract(arch)",
        functional=f"{_P}.masked_norm:masked_layer_norm")
    add("callback", "multi_arch_sampling", target=f"{_P}.sampling:MultiArchSampling",
        config=f"{_C}:MultiArchSamplingConfig", paper=PAPER,
        summary="multi-architectural sampling: B/e sub-networks per step (one per batch slice), width warm-up, "
                "importance re-sorting of heads and MLP units")
    add("compressor", "evolutionary_search", target=f"{_P}.search:EvolutionarySearchCompressor",
        config=f"{_C}:EvolutionarySearchConfig", paper=PAPER,
        summary="MAC-constrained evolutionary search over a trained super-network, the winner extracted as a "
                "stand-alone vit_res", functional=f"{_P}.search:evolutionary_search")
    add("analyzer", "supernet_ranking", target=f"{_P}.ranking:SupernetRankAnalyzer",
        config=f"{_C}:SupernetRankConfig", paper=PAPER,
        summary="Kendall tau / Spearman rho between super-network and stand-alone accuracy of sub-networks",
        functional=f"{_P}.ranking:ranking_quality")
    registry.add_reproduction(spec=f"{_P}.reproduction:SPEC")
