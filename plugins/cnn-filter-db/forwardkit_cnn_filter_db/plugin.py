"""Registration of the cnn-filter-db components (light: import paths only, no torch)."""

from __future__ import annotations

from forwardkit.hookspecs import hookimpl
from forwardkit.registry import Paper, Registrar

_PKG = "forwardkit_cnn_filter_db"
PAPER = Paper(
    title="CNN Filter DB: An Empirical Investigation of Trained Convolutional Filters",
    arxiv="2203.15331",
    url="https://arxiv.org/abs/2203.15331",
    year=2022,
)


@hookimpl
def forwardkit_register(registry: Registrar) -> None:
    registry.add(
        "analyzer",
        "filter_extractor",
        target=f"{_PKG}.extract:FilterExtractor",
        config=f"{_PKG}.config:FilterExtractorConfig",
        summary="every 3x3 conv kernel of a model as a row (N, 9) with layer, conv_depth and conv_depth_norm",
        paper=PAPER,
        functional=f"{_PKG}.extract:extract_filters",
    )
    registry.add(
        "analyzer",
        "filter_quality",
        target=f"{_PKG}.quality:FilterQuality",
        config=f"{_PKG}.config:FilterQualityConfig",
        summary="per-layer filter sparsity, variance entropy, orthogonality and degeneracy flags",
        paper=PAPER,
        functional=f"{_PKG}.quality:layer_quality",
    )
    registry.add(
        "analyzer",
        "filter_shift",
        target=f"{_PKG}.shift:FilterShift",
        config=f"{_PKG}.config:FilterShiftConfig",
        summary="filter-distribution shift between layers and vs. initialisation (pooled PCA, KDE, weighted KL)",
        paper=PAPER,
        functional=f"{_PKG}.shift:shift_matrix",
    )
    registry.add(
        "dataset",
        "mini_filter_zoo",
        target=f"{_PKG}.zoo:MiniFilterZoo",
        config=f"{_PKG}.config:MiniFilterZooConfig",
        summary="a miniature filter DB: 3x3 filters of tiny CNNs trained on offline data, labelled by layer/data",
        paper=PAPER,
        functional=f"{_PKG}.zoo:train_zoo",
    )
    registry.add(
        "model",
        "filter_cnn",
        target=f"{_PKG}.model:FilterCNN",
        config=f"{_PKG}.config:FilterCNNConfig",
        summary="the zoo's tiny CNN: stages of conv3x3-BN-ReLU with doubling widths, global pooling, linear head",
        paper=PAPER,
    )
    registry.add_reproduction(spec=f"{_PKG}.reproduction:SPEC")
