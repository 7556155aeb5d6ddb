"""Configs of the efficienttrain components (torch-free, so ``forwardkit show`` and ``schema`` stay fast).

Defaults are the paper's ICCV 2023 ("v1") recipe as the official code realises it (LeapLabTHU/EfficientTrain,
``ET_training.py`` and ``utils.freq_crop`` at commit 552b73c and earlier): five equal stages of the epoch budget with
input bandwidths 160, 160, 160, 192, 224 of 224 (ratios 5/7, 5/7, 5/7, 6/7, 1) and RandAugment magnitudes 1, 3, 5,
7, 9 (``rand-m{2k+1}-mstd0.5-inc1``). Section numbers are those of arXiv:2211.09703 (v3).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from forwardkit.config import ComponentConfig

#: how the low-frequency image is obtained: the paper's Fourier crop (``fft``: torch.fft, the official
#: ``freq_crop``), the same linear map written as two real matrix products (``dft_matmul``: faster for small
#: images, equal to ``fft`` to float rounding, tested), or EfficientTrain++'s Lanczos down-sampling
Backend = Literal["fft", "dft_matmul", "lanczos_resize"]
AugmentOp = Literal["rotate", "translate", "scale", "noise"]
ALL_OPS: tuple[AugmentOp, ...] = ("rotate", "translate", "scale", "noise")

#: the v1 table of ET_training.py: b_list = [160] * 3 + [192] + [224] at 224, --aa rand-m{2 k + 1}
V1_RATIOS: tuple[float, ...] = (160 / 224, 160 / 224, 160 / 224, 192 / 224, 1.0)
V1_MAGNITUDES: tuple[int, ...] = (1, 3, 5, 7, 9)


class LowFreqCropConfig(ComponentConfig):
    """The low-frequency crop (sec. 3.2, Fig. 4; the official ``freq_crop``): keep the B x B lowest frequencies of
    the unshifted 2-D spectrum (frequencies -B/2 .. B/2 - 1 on each axis, the four corner blocks) and invert,
    which gives a B x B image. As an adapter it is put in front of a model, so the model sees that image."""

    bandwidth: int = Field(160, ge=2, description="B, the side of the kept spectrum and of the output image (even "
                           "for the Fourier backends; 2 <= B <= the image side; the paper's first stages: 160 of 224)")
    rescale_energy: bool = Field(True, description="multiply the kept spectrum by (B/H)(B/W), so the output keeps "
                                 "the input's mean intensity (the official code's (B/H)^2)")
    backend: Backend = Field("fft", description="'fft': the paper's crop with torch.fft (the reference); "
                             "'dft_matmul': the same crop as real matrix products (fast path, agrees to float "
                             "rounding); 'lanczos_resize': EfficientTrain++'s Lanczos-3 down-sampling (any B)")
    channels_last: bool = Field(True, description="images are (N, H, W, C) (forwardkit's layout); False: (N, C, H, W)")
    input_key: str = Field("x", min_length=1, description="adapter: the batch key of the images fed to the model")

    @model_validator(mode="after")
    def _even(self) -> LowFreqCropConfig:
        if self.backend != "lanczos_resize" and self.bandwidth % 2:
            raise ValueError(f"bandwidth must be even for backend {self.backend!r} (the crop keeps frequencies "
                             f"-B/2 .. B/2 - 1), got {self.bandwidth}; use an even B or backend 'lanczos_resize'")
        return self


class AugmentSettings(ComponentConfig):
    """How one magnitude m in [0, 10] becomes image transformations (our RandAugment-like design, since neither
    torchvision nor timm is available: not the timm implementation). Every image gets ``num_ops`` distinct ops
    drawn uniformly from ``ops``; each op draws its own magnitude m' ~ clip(N(m, magnitude_std), 0, 10) (timm's
    ``mstd0.5``) and a random sign; severity grows with m (timm's ``inc1``)."""

    num_ops: int = Field(2, ge=1, le=4, description="ops per image (RandAugment's n = 2)")
    ops: list[AugmentOp] = Field(default_factory=lambda: list(ALL_OPS), min_length=1,
                                 description="the op pool: rotate, translate, scale (zoom), noise")
    magnitude_std: float = Field(0.5, ge=0.0, description="std of the per-op magnitude noise (timm's mstd0.5)")
    rotate_deg_per_m: float = Field(3.0, ge=0.0, description="rotation: up to this many degrees per unit of m")
    translate_per_m: float = Field(1 / 30, ge=0.0, description="translation: up to this fraction of the side per "
                                   "unit of m, on each axis")
    scale_per_m: float = Field(1 / 40, ge=0.0, lt=0.1, description="zoom: scale 1 +/- this per unit of m")
    noise_per_m: float = Field(0.01, ge=0.0, description="Gaussian noise: std this per unit of m (in input units)")
    padding: Literal["zeros", "border", "reflection"] = Field("zeros", description="what the geometric ops fill "
                                                                "in outside the image (grid_sample's padding_mode)")
    clamp: tuple[float, float] | None = Field(None, description="clip the result to [low, high] (None: no clip)")

    @model_validator(mode="after")
    def _ops(self) -> AugmentSettings:
        if len(set(self.ops)) != len(self.ops):
            raise ValueError(f"ops has repeated entries: {self.ops}")
        if self.num_ops > len(self.ops):
            raise ValueError(f"num_ops={self.num_ops} exceeds the {len(self.ops)} ops of the pool {self.ops}")
        if self.clamp is not None and not self.clamp[0] < self.clamp[1]:
            raise ValueError(f"clamp must be (low, high) with low < high, got {self.clamp}")
        return self


class MagnitudeAugmentConfig(AugmentSettings):
    """The ``magnitude_augment`` batch transform at one fixed magnitude (the baseline recipe's m = 9)."""

    magnitude: float = Field(9.0, ge=0.0, le=10.0, description="m in [0, 10] (timm's rand-m9; 0: identity)")
    image_key: str = Field("x", min_length=1, description="the batch key of the (N, H, W, C) images")
    seed: int | None = Field(None, ge=0, description="seed of the augmentation draws (None: from the run's seed)")


class Stage(BaseModel):
    """One stage of the curriculum: its share of the budget, its input bandwidth and augmentation magnitude."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    frac: float = Field(gt=0.0, le=1.0, description="share of the budget: of the epochs (v1), or of the compute "
                        "(equal_compute_stages, EfficientTrain++)")
    bandwidth_ratio: float = Field(gt=0.0, le=1.0, description="B / H (rounded to round_to)")
    aug_magnitude: int = Field(ge=0, le=10, description="RandAugment-like magnitude m of this stage")


def v1_stages() -> list[Stage]:
    """The ICCV v1 schedule: 5 equal stages, B/H = 5/7, 5/7, 5/7, 6/7, 1 and m = 1, 3, 5, 7, 9."""
    return [Stage(frac=0.2, bandwidth_ratio=r, aug_magnitude=m) for r, m in zip(V1_RATIOS, V1_MAGNITUDES,
                                                                                strict=True)]


def _check_stages(stages: list[Stage]) -> None:
    total = sum(s.frac for s in stages)
    if abs(total - 1.0) > 1e-6:
        raise ValueError(f"the stages' frac must sum to 1, got {total:g} ({[s.frac for s in stages]})")


class ScheduleFields(ComponentConfig):
    """What the curriculum and the ledger share: the stage table and how B is rounded."""

    stages: list[Stage] = Field(default_factory=v1_stages, min_length=1,
                                description="the curriculum, in order: [{frac, bandwidth_ratio, aug_magnitude}]; "
                                "default the ICCV v1 table (ratios 5/7, 5/7, 5/7, 6/7, 1; m 1, 3, 5, 7, 9)")
    round_to: int = Field(2, ge=1, description="B = round_to x round(ratio x H / round_to), at least round_to and at "
                          "most H (2: even, as the Fourier crop needs; a ViT: a multiple of its patch size)")
    equal_compute_stages: bool = Field(False, description="EfficientTrain++ mode: frac is a share of the compute, "
                                       "so a stage at B runs (H/B)^2 times more steps per unit of frac, and the "
                                       "learning-rate schedule follows the consumed compute")

    @model_validator(mode="after")
    def _sum(self) -> ScheduleFields:
        _check_stages(self.stages)
        return self


class CurriculumConfig(ScheduleFields):
    """The EfficientTrain curriculum (sec. 4, Table 4 / the official ET_training.py) as a callback over any run:
    at each epoch (or step) it picks the stage from the fraction of the budget used, augments the training batch
    at the stage's magnitude m, then low-frequency-crops it to the stage's B."""

    granularity: Literal["epoch", "step"] = Field("epoch", description="when the stage may change: at epoch starts "
                                                   "(the official code) or at any step")
    eval_at_current_B: bool = Field(True, description="evaluations during training see the crop at the current B "
                                    "(the official behaviour); the final test after training is at full resolution")
    scale_batch: bool = Field(False, description="while B < H, the learning rule's micro-batches (its 'accumulate') "
                              "are scaled by (B/H)^2: fewer, larger micro-batches, the same effective batch (the "
                              "official 2 x per-GPU batch with half the accumulation)")
    tie_lr_to_compute: bool = Field(True, description="equal_compute_stages: set the learning rule's update counter "
                                    "(the builtin backprop's 'updates', which its schedule reads) to consumed compute "
                                    "x planned steps, as the official resume logic rescales the epoch counter")
    backend: Backend = Field("fft", description="how the crop is computed (see low_freq_crop)")
    rescale_energy: bool = Field(True, description="the crop's (B/H)^2 factor (keeps the mean intensity)")
    augment: AugmentSettings | None = Field(default_factory=AugmentSettings,
                                            description="the magnitude augmentation applied before the crop (None: "
                                            "none; the stages' aug_magnitude is then ignored)")
    image_key: str = Field("x", min_length=1, description="the batch key of the (N, H, W, C) images")
    seed: int | None = Field(None, ge=0, description="seed of the augmentation draws (None: from the run's seed)")


class ComputeLedgerConfig(ScheduleFields):
    """Compute accounting. On a model trained with ``efficienttrain_curriculum`` it reads that run's ledger (steps
    and samples at each B); otherwise it accounts for the schedule in its own fields at the data's resolution."""

    measure_macs: bool = Field(True, description="also count the model's multiply-accumulates of one forward at "
                               "each B (torch's FLOP counter) and weigh them like the samples")
    image_key: str = Field("x", min_length=1, description="the batch key of the (N, H, W, C) images")


class EfficientTrainCNNConfig(ComponentConfig):
    """The card's reference model: 5 conv3x3-BN-ReLU layers (32-32-64-64-128; stride 2 at layers 2, 4 and 5),
    global average pooling and a linear head; any input resolution."""

    in_channels: int = Field(1, ge=1, description="channels of the (B, H, W, C) images (filled from the data)")
    num_classes: int = Field(10, ge=1, description="classes (filled from the data)")
    widths: list[int] = Field(default_factory=lambda: [32, 32, 64, 64, 128], min_length=1,
                              description="output channels of the conv layers")
    strides: list[int] = Field(default_factory=lambda: [1, 2, 1, 2, 2], min_length=1,
                               description="stride of each conv layer (strided convs down-sample)")
    kernel_size: int = Field(3, ge=1, description="side of the (same-padded) convolutions; odd")
    image_size: int = Field(28, ge=1, description="side of example_batch()'s images only (the net takes any size)")

    @model_validator(mode="after")
    def _layers(self) -> EfficientTrainCNNConfig:
        if len(self.widths) != len(self.strides):
            raise ValueError(f"widths ({len(self.widths)}) and strides ({len(self.strides)}) must have one entry "
                             "per conv layer")
        if any(s < 1 for s in self.strides):
            raise ValueError(f"strides must be >= 1, got {self.strides}")
        if any(w < 1 for w in self.widths):
            raise ValueError(f"widths must be >= 1, got {self.widths}")
        if self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd (same padding), got {self.kernel_size}")
        return self
