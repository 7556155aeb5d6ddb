"""Registration of the ibn-net components (light: no torch import here, only import paths).

The data of its experiments, the ``style_shift_digits`` dataset and the ``style_shift`` task, come from
forwardkit-datasets (``forwardkit_datasets.domain_shift``, ``forwardkit_datasets.tasks``), by name.
"""

from __future__ import annotations

from forwardkit.hookspecs import hookimpl
from forwardkit.registry import Paper, Registrar

PAPER = Paper(
    title="Two at Once: Enhancing Learning and Generalization Capacities via IBN-Net",
    arxiv="1807.09441",
    url="https://arxiv.org/abs/1807.09441",
    year=2018,
)
_PKG = "forwardkit_ibn_net"
_CFG = f"{_PKG}.config"


@hookimpl
def forwardkit_register(registry: Registrar) -> None:
    add = registry.add
    add(
        "adapter",
        "ibn",
        target=f"{_PKG}.adapter:IBNAdapter",
        config=f"{_CFG}:IBNAdapterConfig",
        summary="rewrite a BatchNorm CNN into IBN-a (IN on half the first norm of shallow residual branches) "
        "or IBN-b (IN after the addition in early blocks and the stem)",
        paper=PAPER,
        functional=f"{_PKG}.adapter:apply_ibn",
    )
    add(
        "model",
        "resnet_ibn",
        target=f"{_PKG}.model:ResNetIBN",
        config=f"{_CFG}:ResNetIBNConfig",
        summary="small 4-stage BasicBlock ResNet, plain or with IBN-a / IBN-b applied by the ibn adapter",
        paper=PAPER,
    )
    add(
        "analyzer",
        "feature_divergence",
        target=f"{_PKG}.analyzer:FeatureDivergence",
        config=f"{_CFG}:FeatureDivergenceConfig",
        summary="per-layer symmetric-KL divergence of channel-mean statistics between two domains",
        paper=PAPER,
        functional=f"{_PKG}.analyzer:symmetric_kl",
    )
    add(
        "callback",
        "random_pad_crop",
        target=f"{_PKG}.augment:RandomPadCrop",
        config=f"{_CFG}:RandomPadCropConfig",
        summary="light augmentation of the IBN-Net miniature: pad training images by p px and crop back at a "
        "random offset (random shifts of up to p px)",
        functional=f"{_PKG}.augment:random_pad_crop",
    )
    registry.add_reproduction(spec=f"{_PKG}.reproduction:SPEC")
