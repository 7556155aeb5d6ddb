"""Registration of the fcaformer components (light: import paths only, no torch).

Forward cross attention is not registered as a token mixer: its blocks share a per-stage cross-token bank,
and forwardkit token mixers are stateless and independent (design.md, "State across blocks"), so the bank
lives in the ``fcaformer`` model's Fca stages (``forwardkit_fcaformer.stage.FcaStage``).
"""

from __future__ import annotations

from forwardkit.hookspecs import hookimpl
from forwardkit.registry import Paper, Registrar

PAPER = Paper(title="Fcaformer: Forward Cross Attention in Hybrid Vision Transformer", arxiv="2211.07198",
              url="https://github.com/hkzhang-git/FcaFormer", year=2023)
_P = "forwardkit_fcaformer"


@hookimpl
def forwardkit_register(registry: Registrar) -> None:
    registry.add("model", "fcaformer", target=f"{_P}.model:FcaFormer", config=f"{_P}.config:FcaFormerConfig",
                 paper=PAPER, functional=f"{_P}.model:fcaformer",
                 summary="hybrid ViT whose attention blocks also attend to merged cross tokens of earlier blocks of "
                 "their stage (LSF, TME); presets fcaformer_l0..l4 and tiny")
    registry.add("analyzer", "fca_cross_attention", target=f"{_P}.analyzer:CrossAttentionMass",
                 config=f"{_P}.config:CrossAttentionMassConfig", paper=PAPER,
                 functional=f"{_P}.analyzer:cross_attention_mass",
                 summary="softmax mass on cross tokens per Fca block (vs the uniform share M/(N+M))")
    registry.add_reproduction(spec=f"{_P}.reproduction:SPEC")
