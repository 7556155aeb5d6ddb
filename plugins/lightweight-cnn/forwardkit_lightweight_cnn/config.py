"""Configs of the lightweight-cnn components (torch-free: discovery, ``forwardkit show`` and validation import it).

The paper (Isong 2025, arXiv:2501.15547) gives neither its layer list nor its optimiser settings in the sources the
spec card could read; every default below is the card's reference configuration (OUR design, not the paper's): each
trunk conv(1->8) -> conv(8->16) -> maxpool -> conv(16->24) -> maxpool -> global average pool, the unified head
48 -> 96 -> 10 (15,130 parameters, the paper reports 14,862 for an unknown architecture), and the card's
augmentation magnitudes (rotation 10 degrees, zoom / brightness / translation 0.1).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from forwardkit.config import ComponentConfig


class TrunkFields(ComponentConfig):
    """The fields of one small CNN trunk (paper sec. "dual-input-output model": a small CNN branch).

    Layer ``i`` is ``Conv2d(widths[i-1] -> widths[i], kernel, 'same' padding, bias)`` -> [BatchNorm2d] -> ReLU ->
    [MaxPool2d(2) when ``pool_after[i]``]; then global average pooling (``gap``) or flattening.
    """

    in_channels: int = Field(1, ge=1, le=64, description="channels of the (B, H, W, C) input images (from the data)")
    widths: list[int] = Field(default_factory=lambda: [8, 16, 24], min_length=1, max_length=8,
                              description="output channels of each conv layer (card reference: 8, 16, 24)")
    kernel: int = Field(3, ge=1, le=7, description="square kernel size of every conv (odd: 'same' padding k // 2)")
    pool_after: list[bool] = Field(default_factory=lambda: [False, True, True],
                                   description="a 2x2 max-pool after conv layer i (one flag per layer)")
    batchnorm: bool = Field(False, description="BatchNorm2d after each conv (adds 2 * width parameters per layer)")
    gap: bool = Field(True, description="global average pooling to widths[-1] features; False: flatten (needs "
                      "input_size)")
    input_size: list[int] = Field(default_factory=lambda: [28, 28], min_length=2, max_length=2,
                                  description="[H, W] of the input (from the data); only the flattened features "
                                  "(gap: false) and the analytic MACs depend on it")

    @model_validator(mode="after")
    def _check_trunk(self) -> TrunkFields:
        if self.kernel % 2 == 0:
            raise ValueError(f"kernel must be odd for 'same' padding, got {self.kernel}")
        if len(self.pool_after) != len(self.widths):
            raise ValueError(f"pool_after has {len(self.pool_after)} flags for {len(self.widths)} conv layers; give "
                             "one per layer")
        if any(w < 1 or w > 1024 for w in self.widths):
            raise ValueError(f"widths must be in 1..1024, got {self.widths}")
        if any(s < 1 for s in self.input_size):
            raise ValueError(f"input_size must be positive, got {self.input_size}")
        h, w = self.input_size
        for pool in self.pool_after:
            if pool:
                h, w = h // 2, w // 2
        if h < 1 or w < 1:
            raise ValueError(f"input_size {self.input_size} is too small for {sum(self.pool_after)} max-pools")
        return self


class TinyBranchCNNConfig(TrunkFields):
    """``tiny_branch_cnn``: one small CNN trunk with an optional linear classification head."""

    head: bool = Field(True, description="a Linear(features -> num_classes) head; False: the model returns features")
    num_classes: int = Field(10, ge=1, le=100_000, description="classes of the head (from the data)")


class DualIOModelConfig(TrunkFields):
    """``dual_io_model``: two independent ``tiny_branch_cnn`` (trunk + head each) with these trunk fields."""

    num_classes: int = Field(10, ge=1, le=100_000, description="classes of both heads (from the data)")


class UnifiedModelConfig(TrunkFields):
    """``unified_model``: both trunks on the same input, features concatenated, a new two-layer head."""

    num_classes: int = Field(10, ge=1, le=100_000, description="classes (from the data)")
    head_hidden: int = Field(96, ge=1, le=65_536, description="hidden width of the new head (card reference: 96)")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="dropout between the head's two layers")


class AugmentFields(ComponentConfig):
    """Random rotation, zoom, translation (one affine warp, bilinear, zero fill) and additive brightness, drawn
    per sample (paper: "random rotation, zoom, brightness, translation"; magnitudes are the card's defaults)."""

    rot_deg: float = Field(10.0, ge=0.0, le=180.0, description="rotation angle ~ U(-rot_deg, rot_deg) degrees")
    zoom: float = Field(0.1, ge=0.0, lt=1.0, description="scale ~ U(1 - zoom, 1 + zoom) (above 1: zoom in)")
    translate: float = Field(0.1, ge=0.0, le=1.0, description="shift ~ U(-t, t) of the height / width, per axis")
    brightness: float = Field(0.1, ge=0.0, le=10.0, description="delta ~ U(-b, b) added to every pixel")
    value_range: list[float] | None = Field(
        default_factory=lambda: [0.0, 1.0], description="[lo, hi]: clip after the brightness shift (the data's "
        "range; mnist5k 'unit' is [0, 1]); null: no clipping")
    seed: int | None = Field(None, ge=0, description="seed of the augmentation's own generator; null: drawn from "
                             "torch's global generator when the component is built (so it follows the run's seed)")

    @model_validator(mode="after")
    def _check_range(self) -> AugmentFields:
        if self.value_range is not None and (len(self.value_range) != 2 or self.value_range[0] >= self.value_range[1]):
            raise ValueError(f"value_range must be [lo, hi] with lo < hi, got {self.value_range}")
        return self


class DualIORuleConfig(AugmentFields):
    """``dual_io_rule``: stage 1, loss = CE(A(x), y) + CE(B(aug(x)), y), one optimizer over both branches."""

    optimizer: Literal["adam", "adamw", "sgd"] = Field("adam", description="card: Adam")
    lr: float = Field(1e-3, gt=0.0, le=10.0, description="learning rate (card: 1e-3), constant")
    betas: tuple[float, float] = Field((0.9, 0.999), description="Adam / AdamW betas")
    momentum: float = Field(0.9, ge=0.0, lt=1.0, description="SGD momentum")
    weight_decay: float = Field(0.0, ge=0.0, le=1.0, description="L2 (adam, sgd) or decoupled (adamw) decay")
    predict: Literal["a", "b", "mean"] = Field(
        "a", description="what evaluation scores during stage 1: branch A on the original input, branch B on the "
        "original input, or the mean of both branches' logits")


class AugmentCallbackConfig(AugmentFields):
    """``lightweight_augment``: replaces every training batch's images by their augmentation (baseline (b))."""


class ProgressiveUnfreezingConfig(ComponentConfig):
    """``progressive_unfreezing`` (paper: "transfer learning with progressive unfreezing"; ULMFiT-style).

    Phase 0 trains the head only for ``epochs_head_only`` epochs; then every ``epochs_per_phase`` epochs the next
    layer group counted from the top of each trunk is unfrozen, until every group is trainable.
    """

    epochs_head_only: int = Field(2, ge=0, le=10_000, description="epochs of phase 0 (head only); 0: start at "
                                  "phase 1 (the top group already trainable)")
    epochs_per_phase: int = Field(1, ge=1, le=10_000, description="epochs of each later phase")
    groups: Literal["per_layer", "per_block"] = Field(
        "per_layer", description="'per_layer': one conv layer (of each trunk) per phase; 'per_block': the layers "
        "up to and including a max-pool form one group")
    frozen_bn_mode: Literal["eval", "train"] = Field(
        "eval", description="'eval': BatchNorm layers of frozen groups run in inference mode and keep their running "
        "statistics (what Keras trainable=False does); 'train': they keep updating them")
    lr_decay_per_phase: float = Field(
        1.0, gt=0.0, le=10.0, description="the learning rate of phase p is the rule's scheduled rate times "
        "lr_decay_per_phase ** p (through ctx.lr_scale; 1.0: every phase at the scheduled rate)")


class SizeReportConfig(ComponentConfig):
    """``size_report``: leaves the model unchanged and reports what it costs (measured, not claimed)."""

    latency_runs: int = Field(200, ge=1, le=100_000, description="timed single-batch forward passes (median)")
    latency_warmup: int = Field(10, ge=0, le=10_000, description="untimed passes before timing")
    latency_batch: int = Field(1, ge=1, le=4096, description="images per timed forward pass (1: per-image latency)")
    threads: int | None = Field(None, ge=1, le=256, description="torch threads while timing (null: as they are)")
    accuracy_batches: int = Field(4, ge=0, le=100_000, description="batches of the given data scored for accuracy "
                                  "(0: none)")
