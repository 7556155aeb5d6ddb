"""Configs of the cnn-filter-db components (torch-free: imported by discovery and validation)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from forwardkit.config import ComponentConfig

ZooSource = Literal["digits", "mnist5k", "textures", "random_labels"]


class FilterCNNConfig(ComponentConfig):
    """The zoo's tiny CNN: ``depth`` stages of conv3x3 -> BatchNorm -> ReLU, widths doubling per stage."""

    in_channels: int = Field(1, ge=1, description="channels C of the (B, H, W, C) input images")
    num_classes: int = Field(10, ge=1, description="classes of the linear head")
    width: int = Field(8, ge=1, description="channels of the first stage; stage s has width * 2**s")
    depth: int = Field(4, ge=1, le=8, description="number of 3x3 conv stages")
    batch_norm: bool = Field(True, description="BatchNorm2d after every conv (else the convs get a bias)")
    downsample_from: int = Field(1, ge=0, description="stages with index >= this use stride 2")


class SelectionConfig(ComponentConfig):
    """Which convolutions count as filter sources (paper Sec. 3: every 3x3 kernel of a model)."""

    kernel_size: tuple[int, int] = Field((3, 3), description="spatial kernel size (kh, kw) to extract")
    include_depthwise: bool = Field(True, description="also extract depthwise convs (groups == in_channels > 1)")
    include_transposed: bool = Field(True, description="also extract ConvTranspose2d (permuted to (out, in) first)")
    plots: bool = Field(True, description="draw the analysis figures")


class FilterExtractorConfig(SelectionConfig):
    """The filter table of a model: every selected kernel as a row of kh*kw values, with metadata."""

    dtype: Literal["float32", "float64", "float16"] = Field("float32", description="dtype of the filter table")
    max_table_rows: int = Field(
        20000, ge=0, description="at most this many filter rows go to the 'filters' table (0: no filter table)"
    )


class QualityThresholds(BaseModel):
    """When a layer counts as degenerate (a forwardkit rule on the paper's three measures)."""

    sparsity: float = Field(0.1, ge=0.0, le=1.0, description="flag if the share of sparse filters exceeds this")
    ve_high: float = Field(0.9, ge=0.0, description="flag if normalised variance entropy exceeds this (random-like)")
    ve_low: float = Field(0.3, ge=0.0, description="flag if normalised variance entropy is below this (collapsed)")


class FilterQualityConfig(SelectionConfig):
    """Per-layer degeneracy measures (paper Sec. 5): sparsity, variance entropy, orthogonality."""

    sparsity_eps: float = Field(0.01, gt=0.0, lt=1.0, description="a filter is sparse if all |w| < eps * max|W|")
    log_base: float = Field(10.0, gt=1.0, description="base of the logarithm of the variance entropy")
    thresholds: QualityThresholds = Field(default_factory=QualityThresholds, description="degeneracy flags")
    min_filters: int = Field(
        2, ge=1, description="layers with fewer 3x3 filters get entropy 0 (a single filter has no variance)"
    )


class FilterShiftConfig(SelectionConfig):
    """Filter-distribution shift between groups of filters (pooled PCA, per-component KDE, weighted KL)."""

    group_by: Literal["layer", "depth_bucket"] = Field(
        "layer", description="'layer': one group per 3x3 conv; 'depth_bucket': conv_depth_norm cut into buckets"
    )
    depth_buckets: int = Field(3, ge=1, description="number of equal-width conv_depth_norm buckets")
    reference: Literal["none", "init"] = Field(
        "init",
        description="'init': also compare every layer with a fresh draw of its initialiser (trained vs initial)",
    )
    scale_by_peak: bool = Field(True, description="divide each filter by its max |w| before the PCA")
    grid_points: int = Field(1024, ge=16, description="points of the common KDE grid")
    grid_range: tuple[float, float] = Field((-3.5, 3.5), description="range of the grid, in coefficient units")
    bandwidth: Literal["silverman", "scott"] | float = Field(
        "silverman", description="KDE bandwidth rule, or a fixed positive bandwidth"
    )
    eps: float = Field(1e-10, gt=0.0, description="added to every density before the KL")
    symmetric: bool = Field(True, description="headline numbers are the mean of both KL directions")
    max_filters_per_group: int = Field(200000, ge=2, description="larger groups are subsampled (seeded)")
    seed: int = Field(0, ge=0, description="seed of the subsampling and of the 'init' reference")

    @model_validator(mode="after")
    def _check(self) -> FilterShiftConfig:
        lo, hi = self.grid_range
        if not hi > lo:
            raise ValueError(f"grid_range must be (low, high) with high > low, got {self.grid_range}")
        if isinstance(self.bandwidth, float) and self.bandwidth <= 0:
            raise ValueError(f"a fixed bandwidth must be positive, got {self.bandwidth}")
        return self


class MiniFilterZooConfig(ComponentConfig):
    """A miniature model zoo: tiny CNNs trained on offline data; items are their 3x3 filters.

    Each (source, width, seed) trains a ``filter_cnn`` with Adam for ``epochs`` on at most
    ``train_size`` images; with ``include_untrained`` an untrained copy (its initialisation) joins the
    zoo. Items are ``x`` ``(3, 3, 1)`` peak-scaled (optional) filters, ``y`` the label named by ``label_by``.
    """

    datasets: list[ZooSource] = Field(
        default_factory=lambda: ["digits", "mnist5k", "textures", "random_labels"], min_length=1,
        description="training sources; 'random_labels' is mnist5k with permuted training labels",
    )
    widths: list[int] = Field(default_factory=lambda: [8, 16], min_length=1, description="first-stage widths")
    depth: int = Field(4, ge=1, le=8, description="conv stages of every zoo CNN")
    train_size: int = Field(4000, ge=16, description="at most this many training images per model")
    image_size: int = Field(28, ge=8, description="crop size of 'textures' (digits stay 8x8, MNIST 28x28)")
    epochs: int = Field(3, ge=0, description="passes over the training images (0: untrained only)")
    batch_size: int = Field(64, ge=1)
    lr: float = Field(3e-3, gt=0.0, description="Adam learning rate")
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1, description="one model per seed")
    include_untrained: bool = Field(True, description="also add every model's initialisation as 'untrained'")
    label_by: Literal["dataset", "depth", "trained"] = Field(
        "depth", description="the item label: source dataset, 3x3 layer index, or trained (1) vs untrained (0)"
    )
    scale_by_peak: bool = Field(True, description="items are filters divided by their max |w|")
    val_fraction: float = Field(0.1, ge=0.0, lt=1.0, description="share of the filters in 'val'")
    test_fraction: float = Field(0.1, ge=0.0, lt=1.0, description="share of the filters in 'test'")
    seed: int = Field(0, ge=0, description="seed of the filter split (models use `seeds`)")

    @model_validator(mode="after")
    def _check(self) -> MiniFilterZooConfig:
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ValueError("val_fraction + test_fraction must be below 1")
        if self.label_by == "trained" and not self.include_untrained:
            raise ValueError("label_by='trained' needs include_untrained=True")
        if len(set(self.datasets)) != len(self.datasets):
            raise ValueError(f"datasets lists a source twice: {self.datasets}")
        return self


class ZooStudyConfig(ComponentConfig):
    """One seed of the card's zoo study (the ``zoo`` program arm of ``forwardkit reproduce cnn-filter-db``).

    The main zoo trains every (dataset, width) once from the seed, plus the untrained copy of each model;
    the small-data zoo trains ``small_source`` again at ``small_train_size`` images for the data-size axis.
    """

    datasets: list[ZooSource] = Field(
        default_factory=lambda: ["digits", "mnist5k", "textures", "random_labels"], min_length=2,
        description="zoo sources; 'random_labels' is the control, the others are the real datasets",
    )
    widths: list[int] = Field(default_factory=lambda: [8, 16, 32, 64], min_length=2,
                              description="first-stage widths of the 4-layer CNNs (the card: 8, 16, 32, 64)")
    depth: int = Field(4, ge=2, le=8, description="3x3 conv stages of every zoo CNN")
    train_size: int = Field(4000, ge=16, description="at most this many training images per model (the card: 4000)")
    small_train_size: int = Field(500, ge=16, description="training images of the small-data zoo (the card: 500)")
    small_source: ZooSource = Field("mnist5k", description="the source trained again with small_train_size")
    image_size: int = Field(28, ge=8, description="crop size of 'textures' (digits stay 8x8, MNIST 28x28)")
    epochs: int = Field(3, ge=1, description="Adam passes over the training images (the card: 3)")
    batch_size: int = Field(64, ge=2)
    lr: float = Field(3e-3, gt=0.0, description="Adam learning rate")
    min_filters_ve: int = Field(64, ge=2, description="the H_norm summaries use layers with at least this many "
                                "filters (tau(N) is a poor normaliser for smaller layers)")

    @model_validator(mode="after")
    def _check(self) -> ZooStudyConfig:
        real = [d for d in self.datasets if d != "random_labels"]
        if len(real) < 2:
            raise ValueError(f"the cross-dataset shift needs two real datasets, got {self.datasets}")
        if len(set(self.datasets)) != len(self.datasets) or len(set(self.widths)) != len(self.widths):
            raise ValueError("datasets and widths must not repeat")
        return self
