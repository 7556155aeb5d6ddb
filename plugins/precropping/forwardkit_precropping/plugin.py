"""Registration of the precropping components (no torch import here: only import paths)."""

from __future__ import annotations

from forwardkit.hookspecs import hookimpl
from forwardkit.registry import Paper, Registrar

PAPER = Paper(
    title="Structured Pruning is All You Need for Pruning CNNs at Initialization",
    arxiv="2203.02549",
    url="https://arxiv.org/abs/2203.02549",
    year=2022,
)
_PKG = "forwardkit_precropping"
_CFG = f"{_PKG}.config"


@hookimpl
def forwardkit_register(registry: Registrar) -> None:
    add = registry.add
    add("compressor", "precropping", target=f"{_PKG}.compressor:PreCropping", config=f"{_CFG}:PreCroppingConfig",
        summary="at initialisation, crop channels to the layer-wise densities of a PAI scorer (SynFlow): "
                "a narrower dense CNN, with measured params/bytes/MACs/latency",
        paper=PAPER, functional=f"{_PKG}.compressor:precrop")
    add("compressor", "pai_mask", target=f"{_PKG}.compressor:PaiMask", config=f"{_CFG}:PaiMaskConfig",
        summary="unstructured pruning at initialisation (SynFlow/SNIP/GraSP/magnitude/random mask, optionally "
                "layer-shuffled), kept by a weight parametrization: the dense-cost baseline",
        paper=PAPER, functional=f"{_PKG}.scores:pai_masks")
    add("analyzer", "pai_scorer", target=f"{_PKG}.analyzer:PaiScorer", config=f"{_CFG}:PaiScorerConfig",
        summary="pruning-at-initialisation masks of one scorer and their layer-wise densities",
        paper=PAPER, functional=f"{_PKG}.scores:pai_masks")
    add("analyzer", "layerwise_density_analyzer", target=f"{_PKG}.analyzer:LayerwiseDensityAnalyzer",
        config=f"{_CFG}:LayerwiseDensityConfig",
        summary="layer-wise densities of several PAI scorers, and what the cropped widths achieve per layer",
        paper=PAPER)
    add("model", "small_vgg", target=f"{_PKG}.models:SmallVGG", config=f"{_CFG}:SmallVGGConfig",
        summary="the card's small VGG for 28x28 digits (32-32-64-64-128-128, BN, GAP), with a channel graph",
        paper=PAPER)
    add("model", "small_resnet", target=f"{_PKG}.models:SmallResNet", config=f"{_CFG}:SmallResNetConfig",
        summary="CIFAR-style ResNet (3 stages x 2 BasicBlocks, 16/32/64) whose residual sums are tie groups",
        paper=PAPER)
    registry.add_reproduction(spec=f"{_PKG}.reproduction:SPEC")
