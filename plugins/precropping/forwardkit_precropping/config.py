"""Configs of the precropping components (torch-free: discovery, ``show`` and validation import this)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from forwardkit.config import ComponentConfig

Scorer = Literal["synflow", "snip", "grasp", "magnitude", "random"]
#: scorers the compressors accept: the PAI scorers, plus 'uniform' (p_l = d in every layer, no scoring)
CropScorer = Literal["synflow", "snip", "grasp", "magnitude", "random", "uniform"]


class SmallVGGConfig(ComponentConfig):
    """The card's reference CNN for 28x28 digits: conv3x3-BN-ReLU blocks, max-pools, GAP, one Linear."""

    in_channels: int = Field(1, ge=1, description="channels C of the (B, H, W, C) input images")
    num_classes: int = Field(10, ge=1, description="classes of the Linear head")
    widths: list[int] = Field(
        default_factory=lambda: [32, 32, 64, 64, 128, 128], min_length=1,
        description="output channels of each conv3x3 layer (the card: 32-32-64-64-128-128)")
    pool_after: list[int] = Field(
        default_factory=lambda: [1, 3], description="indices of the conv layers followed by a 2x2 max-pool")
    image_size: int = Field(28, ge=2, description="side of the images example_batch() draws and the FLOPs "
                            "weights of the channel graph assume")

    @model_validator(mode="after")
    def _check(self) -> SmallVGGConfig:
        if any(w < 1 for w in self.widths):
            raise ValueError(f"widths must be positive, got {self.widths}")
        if any(not 0 <= i < len(self.widths) for i in self.pool_after):
            raise ValueError(f"pool_after indices must lie in [0, {len(self.widths)}), got {self.pool_after}")
        return self


class SmallResNetConfig(ComponentConfig):
    """CIFAR-style ResNet: a conv stem, stages of BasicBlocks (stride 2 from the second stage), GAP, Linear."""

    in_channels: int = Field(1, ge=1, description="channels C of the (B, H, W, C) input images")
    num_classes: int = Field(10, ge=1, description="classes of the Linear head")
    widths: list[int] = Field(default_factory=lambda: [16, 32, 64], min_length=1,
                              description="channels of each stage (shared by every residual sum of the stage)")
    blocks: int = Field(2, ge=1, le=8, description="BasicBlocks per stage")
    mid_widths: list[int] | None = Field(
        None, description="inner width of each block (stage-major, len = stages*blocks); None: the stage width")
    image_size: int = Field(28, ge=4, description="side of the images example_batch() draws (and FLOPs weights)")

    @model_validator(mode="after")
    def _check(self) -> SmallResNetConfig:
        if any(w < 1 for w in self.widths):
            raise ValueError(f"widths must be positive, got {self.widths}")
        if self.mid_widths is not None:
            if len(self.mid_widths) != len(self.widths) * self.blocks:
                need = len(self.widths) * self.blocks
                raise ValueError(f"mid_widths needs {need} entries, got {len(self.mid_widths)}")
            if any(w < 1 for w in self.mid_widths):
                raise ValueError(f"mid_widths must be positive, got {self.mid_widths}")
        return self


class PaiScorerConfig(ComponentConfig):
    """Pruning-at-initialisation scorer: global top-d masks over conv and Linear weights."""

    method: Scorer = Field("synflow", description="SynFlow (data-free, iterative), SNIP, GraSP, |w| or random")
    density: float = Field(0.1, gt=0.0, le=1.0, description="d: fraction of the prunable weights kept")
    iterations: int = Field(100, ge=1, le=1000, description="SynFlow rounds n (density d^(k/n) at round k)")
    batch_size: int = Field(256, ge=1, description="samples SNIP/GraSP use from the data (labelled batches)")
    seed: int = Field(0, ge=0, description="seed of 'random' scores and of layer shuffles")


class PaiMaskConfig(PaiScorerConfig):
    """The masked unstructured baseline: a PAI mask applied as a fixed multiplicative parametrization."""

    shuffle: bool = Field(False, description="randomly permute the mask inside every layer (same nnz per layer)")
    latency: bool = Field(True, description="measure CPU inference latency before and after for the report "
                          "(both models timed round-robin in one process)")
    latency_batch: int = Field(1, ge=1, description="batch size of the latency measurement (the card's bar: 64)")
    latency_warmup: int = Field(2, ge=0, description="untimed rounds before the latency measurement")
    latency_repeats: int = Field(10, ge=1, description="timed rounds; the report holds the median")


class PreCroppingConfig(ComponentConfig):
    """PreCropping: layer-wise PAI densities realised as channel widths of a fresh, narrower dense model."""

    density: float = Field(0.1, gt=0.0, le=1.0, description="d: target fraction of the prunable weights "
                           "(budget='params') or of their MACs (budget='flops')")
    scorer: CropScorer = Field("synflow", description="PAI scorer giving the layer-wise densities p_l; "
                               "'uniform' sets p_l = d everywhere (uniform width scaling)")
    iterations: int = Field(100, ge=1, le=1000, description="SynFlow rounds")
    batch_size: int = Field(256, ge=1, description="samples SNIP/GraSP use from the data")
    budget: Literal["params", "flops"] = Field(
        "params", description="match d x total parameters, or d x total MACs (then w_l is the layer's MACs)")
    min_channels: int = Field(4, ge=1, description="no layer keeps fewer channels (layer collapse guard)")
    allow_expand: bool = Field(False, description="allow alpha > 1 (PreConfig of the later version)")
    round_to: int = Field(1, ge=1, description="round widths to a multiple of this (8: SIMD-friendly)")
    balance: float = Field(0.1, ge=0.0, description="weight of the even-split term (x_in - x_out)^2 of the "
                           "least squares (0: the card's plain formalisation, which zig-zags along chains)")
    reinit: bool = Field(True, description="fresh initialisation of the narrow model (False: copy the first "
                         "channels of the dense weights; at initialisation the choice is irrelevant)")
    seed: int = Field(0, ge=0, description="seed of 'random' scores")
    latency: bool = Field(True, description="measure CPU inference latency before and after for the report "
                          "(both models timed round-robin in one process)")
    latency_batch: int = Field(1, ge=1, description="batch size of the latency measurement (the card's bar: 64)")
    latency_warmup: int = Field(2, ge=0, description="untimed rounds before the latency measurement")
    latency_repeats: int = Field(10, ge=1, description="timed rounds; the report holds the median")


class LayerwiseDensityConfig(ComponentConfig):
    """Analyzer: layer-wise densities p_l of several PAI scorers, and what cropping achieves per layer."""

    density: float = Field(0.1, gt=0.0, le=1.0, description="d: global density of the masks")
    scorers: list[Scorer] = Field(default_factory=lambda: ["synflow", "snip", "magnitude", "random"],
                                  min_length=1, description="scorers to compare")
    crop_scorer: Scorer = Field("synflow", description="scorer whose densities the cropping follows")
    iterations: int = Field(100, ge=1, le=1000, description="SynFlow rounds")
    min_channels: int = Field(4, ge=1, description="min_channels of the cropping")
    seed: int = Field(0, ge=0, description="seed of random scores")
    figure: bool = Field(True, description="draw the densities figure")
