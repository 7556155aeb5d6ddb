"""Configs of the ibn-net components (torch-free: discovery, ``forwardkit show`` and validation import them)."""

from __future__ import annotations

from typing import Literal

from forwardkit_datasets.config import Style  # the styles (domains) of forwardkit-datasets' style_shift_digits
from pydantic import Field

from forwardkit.config import ComponentConfig


class IBNConfig(ComponentConfig):
    """An IBN layer (paper sec. 3.2, fig. 3): IN on ``int(channels * ratio)`` channels, BN on the rest."""

    channels: int = Field(64, ge=1, description="channels C of the (B, C, H, W) maps it normalises")
    ratio: float = Field(0.5, ge=0.0, lt=1.0, description="share r of the channels that get InstanceNorm")
    in_first: bool = Field(
        True,
        description="IN on the first int(C*r) channels (new official code); False: on the last ones (old "
        "ResNet / DenseNet code)",
    )
    eps: float = Field(1e-5, gt=0.0, description="epsilon of both norms")
    momentum: float = Field(0.1, gt=0.0, le=1.0, description="running-statistics momentum of the BN half")


class IBNAdapterConfig(ComponentConfig):
    """Rewrite a BatchNorm CNN into IBN-a or IBN-b (paper sec. 3.2, fig. 3; official ibn_cfg)."""

    variant: Literal["a", "b"] = Field("a", description="'a': IBN in the residual branches; 'b': IN after the addition")
    ratio: float = Field(0.5, ge=0.0, lt=1.0, description="IBN-a: share of the first norm's channels that use IN")
    in_first: bool = Field(True, description="IBN-a: IN on the first int(C*r) channels (False: on the last ones)")
    stages: list[str] | None = Field(
        None,
        description="module paths of the residual stages, shallow to deep (None: auto-detect layer1, layer2, "
        "... or stages.0, stages.1, ...)",
    )
    a_stages: int = Field(
        -1, description="IBN-a: how many leading stages get IBN; -k: all but the last k (default: all but the last)"
    )
    b_stages: int = Field(2, ge=0, description="IBN-b: the last block of each of the first b_stages stages gets IN")
    b_stem: bool = Field(True, description="IBN-b: the stem's BatchNorm2d becomes InstanceNorm2d(affine=True)")
    copy_bn_stats: bool = Field(
        True,
        description="keep a trained BN's statistics and affine in the BN half, and start the IN half's affine "
        "from the BN affine of its channels (False: fresh norms, weight 1, bias 0)",
    )
    check_blocks: bool = Field(
        True,
        description="IBN-b: verify on a probe input that each wrapped block computes act(branch(x) + shortcut(x)) "
        "before rewriting it (raise a clear error otherwise)",
    )


class ResNetIBNConfig(ComponentConfig):
    """Small CIFAR/MNIST-style ResNet (3x3 stem, BasicBlock stages) with IBN-a / IBN-b applied by the adapter."""

    variant: Literal["none", "a", "b"] = Field("a", description="'none': plain BN ResNet; 'a': IBN-a; 'b': IBN-b")
    widths: list[int] = Field(
        default_factory=lambda: [16, 32, 64, 128], min_length=1, description="channels of each stage"
    )
    blocks: int = Field(2, ge=1, description="BasicBlocks per stage")
    ratio: float = Field(0.5, ge=0.0, lt=1.0, description="IN share of the IBN-a layers")
    in_channels: int = Field(3, ge=1)
    num_classes: int = Field(10, ge=1)


class FeatureDivergenceConfig(ComponentConfig):
    """Per-layer feature divergence between two domains (paper sec. 3.1 and supplementary, eq. 1-2)."""

    layers: list[str] | None = Field(
        None,
        description="module paths whose (B, C, H, W) outputs are compared (None: the stem norm and every "
        "residual stage, else every Conv2d)",
    )
    domain_a: Style = Field(
        "source", description="first domain: a style of style_shift_digits (its index is the items' 'domain')"
    )
    domain_b: Style = Field("texture", description="second domain")
    render: bool = Field(
        False,
        description="render `samples` MNIST test digits in domain_a and domain_b style (28x28 RGB models) "
        "instead of splitting the given batches",
    )
    samples: int = Field(256, ge=2, description="digits per domain when render=True")
    eps: float = Field(1e-6, gt=0.0, description="variance floor of the per-channel Gaussians")


class RandomPadCropConfig(ComponentConfig):
    """The miniature's light augmentation (card: "random crop +-2 px only"): pad each training image by
    ``padding`` pixels and crop it back to its size at a random offset (a random shift of up to
    ``padding`` px in each direction), independently per image, on training batches only."""

    padding: int = Field(2, ge=0, description="pixels added on every side before cropping (the largest shift)")
    padding_mode: Literal["replicate", "constant", "reflect"] = Field(
        "replicate",
        description="'replicate': repeat the border pixels (a pure shift on a plain background); 'constant': "
        "fill with `fill` (torchvision's RandomCrop(padding) default, fill 0); 'reflect': mirror",
    )
    fill: float = Field(0.0, description="value of the padded pixels in 'constant' mode")
    layout: Literal["channels_last", "channels_first"] = Field(
        "channels_last", description="layout of the image batch: (B, H, W, C) or (B, C, H, W)"
    )
    key: str = Field("x", min_length=1, description="the batch entry holding the images")
    seed: int | None = Field(
        None, ge=0, description="seed of the callback's own torch.Generator; None: derived from the run's seed"
    )
