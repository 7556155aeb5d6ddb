"""Registration of the guidance components (import paths only, no torch)."""

from __future__ import annotations

from forwardkit.hookspecs import hookimpl
from forwardkit.registry import Paper, Registrar

PAPER = Paper(title="Training the Untrainable: Introducing Inductive Bias via Representational Alignment",
              arxiv="2410.20035", url="https://github.com/vsubramaniam851/untrainable-networks", year=2024)
_P = "forwardkit_guidance"
_C = f"{_P}.config"


@hookimpl
def forwardkit_register(registry: Registrar) -> None:
    add = registry.add
    add("learning_rule", "guidance", target=f"{_P}.rule:GuidanceRule", config=f"{_C}:GuidanceRuleConfig",
        paper=PAPER, functional=f"{_P}.rule:alignment_loss",
        summary="task loss + alpha * sum over mapped layer pairs of (1 - CKA) to a frozen guide network (untrained "
                "or trained, weights fixed by a seed); wraps another rule (default backprop, Adam 1e-3)")
    add("analyzer", "linear_cka", target=f"{_P}.analyzer:LinearCKAAnalyzer", config=f"{_C}:SimilarityConfig",
        paper=PAPER, functional=f"{_P}.similarity:linear_cka",
        summary="differentiable linear CKA (Kornblith et al. 2019) between every layer of a model and of a "
                "reference network (or of itself): the layer x layer table and the guidance-mapped pairs")
    add("analyzer", "rsa", target=f"{_P}.analyzer:RSAAnalyzer", config=f"{_C}:SimilarityConfig",
        paper=PAPER, functional=f"{_P}.similarity:rsa",
        summary="differentiable RSA (Pearson correlation of cosine-similarity matrices) between the layers of a "
                "model and of a reference network (or of itself)")
    add("analyzer", "layer_taps", target=f"{_P}.analyzer:LayerTapsAnalyzer", config=f"{_C}:LayerTapsAnalyzerConfig",
        paper=PAPER, functional=f"{_P}.taps:extract_taps",
        summary="the layer outputs guidance aligns (hook-based taps: module types or names, batch axis found, "
                "tuple outputs split, last tap dropped): name, type, shape, features")
    add("model", "guidance_cnn", target=f"{_P}.model:GuidanceCNN", config=f"{_C}:GuidanceCNNConfig", paper=PAPER,
        summary="the card's small guide CNN conv16-conv32-pool-conv64-pool-fc on (B, H, W, C) images")
    registry.add_reproduction(spec=f"{_P}.reproduction:SPEC")
