"""Configs of the tokenunify components (torch-free, so ``forwardkit show``, ``schema`` and validation stay fast).

Defaults follow the official TokenUnify code (ydchen0806/TokenUnify: ``src/main_pretrain_autoregress.py``,
``src/engine_pretrain_autoregress.py``, ``src/segmamba_ar.py``, ``dataloader/data_provider_pretraining*.py``) where
the spec card verified them, and the card's 2-D miniature otherwise (its patch (4, 4), Adam 1e-3). The paper
(arXiv:2405.16847) describes the three objectives as "random", "next" and "next-all" token prediction; the code
realises all three as in-painting of a whole image or volume, which is what this plugin implements.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from forwardkit.config import ComponentConfig, TokenMixerConfig, TokenMixerSpec

Objective = Literal["random", "next", "next_all"]
Perturbation = Literal["blur", "missing_section", "contrast"]
ALL_PERTURBATIONS: tuple[Perturbation, ...] = ("blur", "missing_section", "contrast")
_UNIFORM = re.compile(r"^uniform\(\s*([0-9.]+)\s*,\s*([0-9.]+)\s*\)$")


def parse_ratio(value: float | str) -> tuple[float, float]:
    """``(low, high)`` of a random-mask ratio: a float r gives ``(r, r)``; ``"uniform(a,b)"`` gives ``(a, b)``."""
    if isinstance(value, int | float):
        return float(value), float(value)
    m = _UNIFORM.match(value.strip())
    if not m:
        raise ValueError(f"random_mask_ratio must be a number in (0, 1) or 'uniform(a,b)', got {value!r}")
    return float(m.group(1)), float(m.group(2))


class Phase(BaseModel):
    """One phase of pre-training: its share of the stage's epochs and the objectives trained in it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    epochs_frac: float = Field(gt=0.0, le=1.0, description="share of the epochs of the training run")
    objectives: list[Objective] = Field(min_length=1, description="any of 'random', 'next', 'next_all'")

    @field_validator("objectives")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError(f"objectives has repeated entries: {v}")
        return v


def tokenunify_phases() -> list[Phase]:
    """The official two-stage recipe in one run: random token prediction (MAE) for the first half of the epochs,
    then next-token + next-all prediction (``main_pretrain.py`` then ``main_pretrain_autoregress.py``)."""
    return [Phase(epochs_frac=0.5, objectives=["random"]), Phase(epochs_frac=0.5, objectives=["next", "next_all"])]


class PatchFields(ComponentConfig):
    """The token grid: non-overlapping patches in raster order."""

    patch: tuple[int, ...] = Field((4, 4), min_length=1, max_length=3,
                                   description="patch shape, one entry per spatial axis: (4, 4) for the 2-D "
                                   "miniature, (4, 16, 16) for the official 3-D EM volumes")

    @field_validator("patch")
    @classmethod
    def _positive(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if any(p < 1 for p in v):
            raise ValueError(f"patch sizes must be >= 1, got {v}")
        return v


class NextTokenHeadConfig(PatchFields):
    """The official "Preciever" head (``segmamba_ar.py``): three 3x3(x3) convolutions of stride 2 (1 -> 12 -> 12
    -> 1 channels, ReLU between) on the network's pre-sigmoid dense output, flatten, one Linear to the voxels of
    one patch, sigmoid. It predicts token k (the first hidden one) without being told k."""

    input_size: tuple[int, ...] | None = Field(None, description="spatial size of the dense output, e.g. (32, 32) "
                                               "(None: from the model's example_batch())")
    in_channels: int = Field(1, ge=1, description="channels of the dense output it reads")
    hidden_channels: int = Field(12, ge=1, description="channels of the strided convolutions (official: 12)")
    num_convs: int = Field(3, ge=1, le=6, description="strided convolutions (official: 3)")
    channels_last: bool = Field(True, description="the dense output is (B, *spatial, C) (forwardkit's layout)")


class MixtureTokenPredictionConfig(PatchFields):
    """The TokenUnify pre-training rule: random token prediction (masked in-painting, MSE over all voxels),
    next-token prediction (a visible prefix of k tokens, the rest filled; the head predicts token k) and
    next-all prediction (from the same prefix, reconstruct the whole clean image), on one network, scheduled in
    phases. Every objective is one dense forward of the model, whatever k is."""

    phases: list[Phase] = Field(default_factory=tokenunify_phases, min_length=1,
                                description="the schedule, in order: [{epochs_frac, objectives}]; default the "
                                "official recipe, random for half the epochs, then next + next_all")
    random_mask_ratio: float | str = Field(0.4, description="share of the tokens hidden by the random objective: a "
                                           "number in (0, 1) (official run_mamba_mae.sh: 0.4) or 'uniform(a,b)', a "
                                           "ratio drawn per sample (the official code's r ~ U(0.2, 0.8) whenever "
                                           "the ratio is not exactly 0.4)")
    fill: Literal["noise", "zero"] = Field("noise", description="what hidden tokens are overwritten with: N(0, 1) "
                                           "noise (official fill_mode 1 / fill_nose 1) or zeros")
    combine: Literal["sum", "alternate"] = Field("sum", description="how the objectives of one phase combine: their "
                                                 "weighted sum (official auto_mode 1) or one at a time, switching "
                                                 "every alternate_period_epochs (auto_mode 0)")
    alternate_period_epochs: int = Field(100, ge=1, description="'alternate': epochs per objective (official: 100), "
                                         "counted from the phase start with the trainer's epoch")
    w_random: float = Field(1.0, ge=0.0, description="weight of the random-token loss")
    w_next: float = Field(1.0, ge=0.0, description="weight of the next-token loss (0: the head gets no gradient)")
    w_next_all: float = Field(1.0, ge=0.0, description="weight of the next-all loss")
    perturb_prob: float = Field(0.5, ge=0.0, le=1.0, description="probability that an autoregressive sample's input "
                                "is perturbed (EM artefacts: blur, missing section, contrast); targets of next_all "
                                "are always the clean image")
    perturbations: list[Perturbation] = Field(default_factory=lambda: list(ALL_PERTURBATIONS),
                                              min_length=1, description="the perturbations drawn from (one per "
                                              "perturbed sample)")
    next_target: Literal["perturbed", "clean"] = Field("perturbed", description="where the next-token target is cut "
                                                       "from: the perturbed input (official: the token is extracted "
                                                       "after perturbing) or the clean image")
    head_channels: int = Field(12, ge=1, description="channels of the next-token head's convolutions")
    optimizer: Literal["adam", "adamw"] = Field("adamw", description="official: AdamW")
    lr: float = Field(1e-3, gt=0.0, description="learning rate (the card's miniature: 1e-3; official: blr 1e-3 x "
                      "effective batch / 256)")
    betas: tuple[float, float] = Field((0.9, 0.95), description="official: (0.9, 0.95)")
    weight_decay: float = Field(0.0, ge=0.0, description="decoupled weight decay of >= 2-d weights")
    schedule: Literal["constant", "cosine"] = Field("constant", description="per-step learning-rate schedule")
    warmup_epochs: float = Field(0.0, ge=0.0, description="linear warm-up (official stage 2: 0)")
    grad_clip_norm: float | None = Field(1.0, gt=0.0, description="clip the global gradient norm (official: 1.0)")
    input_key: str = Field("x", min_length=1, description="the batch key of the (B, *spatial, C) images")
    seed: int | None = Field(None, ge=0, description="seed of the masks, k and perturbations (None: from the run's "
                             "seed)")

    @field_validator("random_mask_ratio")
    @classmethod
    def _ratio(cls, v: float | str) -> float | str:
        low, high = parse_ratio(v)
        if not 0.0 < low <= high < 1.0:
            raise ValueError(f"random_mask_ratio must lie in (0, 1) (low <= high), got {v!r}")
        return v

    @field_validator("perturbations")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError(f"perturbations has repeated entries: {v}")
        return v

    @model_validator(mode="after")
    def _phases(self) -> MixtureTokenPredictionConfig:
        total = sum(p.epochs_frac for p in self.phases)
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"phases: the epochs_frac must sum to 1, got {total:g} "
                             f"({[p.epochs_frac for p in self.phases]})")
        return self

    def uses(self, objective: str) -> bool:
        return any(objective in p.objectives for p in self.phases)


class NextTokenHeadAdapterConfig(NextTokenHeadConfig):
    """Attaches the next-token head to a model as ``model.next_token_head`` (in place; the forward is unchanged)."""


class GatedLinearRecurrenceConfig(TokenMixerConfig):
    """A causal, linear-time gated recurrence over the flattened tokens (a small stand-in for Mamba's selective
    state space): ``a_t = sigmoid(W_a x_t)``, ``h_t = a_t * h_{t-1} + (1 - a_t) * W_v x_t``,
    ``y_t = W_o (h_t * silu(W_g x_t))``."""

    expand: int = Field(1, ge=1, le=4, description="state width / dim")
    gate_bias: float = Field(2.0, description="initial bias of the forget gate a (sigmoid(2) = 0.88: long memory)")


class UNetConfig(ComponentConfig):
    """The card's reference model: a U-Net (2-D or 3-D convolutions, ``levels`` resolutions, two conv-BN-ReLU per
    level, transposed-conv up-sampling with skip connections) whose bottleneck tokens pass through a causal
    linear-time token mixer (raster order), a 1x1 output convolution ``head``. Input and output channels-last."""

    in_channels: int = Field(1, ge=1, description="channels of the (B, *spatial, C) images (filled from the data)")
    out_channels: int = Field(1, ge=1, description="channels of the dense output (reconstruction / boundary logit)")
    widths: list[int] = Field(default_factory=lambda: [16, 32, 64, 128], min_length=2, max_length=6,
                              description="channels per level (the card: 4 levels, 16-32-64-128)")
    rank: int = Field(2, ge=2, le=3, description="spatial rank: 2 (images) or 3 (volumes) (filled from the data)")
    input_size: tuple[int, ...] = Field((64, 64), description="spatial size of example_batch()'s images (filled "
                                        "from the data); every axis must be divisible by 2^(levels - 1)")
    bottleneck_mixer: TokenMixerSpec | None = Field(
        default_factory=lambda: TokenMixerSpec.parse({"name": "gated_linear_recurrence"}),
        description="a causal token mixer over the bottleneck tokens (raster order), residual with LayerNorm "
        "(None: none)")
    mixer_layers: int = Field(1, ge=0, le=8, description="residual mixer blocks in the bottleneck")

    @model_validator(mode="after")
    def _check(self) -> UNetConfig:
        if len(self.input_size) != self.rank:
            raise ValueError(f"input_size {self.input_size} must have one entry per spatial axis (rank {self.rank})")
        step = 2 ** (len(self.widths) - 1)
        bad = [s for s in self.input_size if s % step]
        if bad:
            raise ValueError(f"input_size {self.input_size}: every axis must be divisible by 2^(levels - 1) = {step} "
                             f"({len(self.widths)} levels)")
        if any(w < 1 for w in self.widths):
            raise ValueError(f"widths must be >= 1, got {self.widths}")
        if self.bottleneck_mixer is not None and not bool(getattr(self.bottleneck_mixer.config, "causal", True)):
            raise ValueError(f"bottleneck_mixer {self.bottleneck_mixer.name!r} must be causal")
        return self


class MembranesConfig(ComponentConfig):
    """EM-like images: a random Voronoi tessellation whose cell boundaries are drawn dark (1-2 px) on a bright,
    textured interior, blurred, with Poisson and Gaussian noise, min-max scaled to [0, 1] as the official loader
    scales EM volumes. ``role`` chooses what the splits hold: ``pretrain``, one unlabelled ``train`` split of
    ``n_unlabelled`` images (``y`` is -1 everywhere); ``finetune``, ``train`` (``n_labelled``), ``val``
    (``n_val``, if any) and ``test`` (``n_test``) with boundary masks ``y`` and instance labels ``labels``. The
    images of the roles are disjoint (each image is generated from (seed, its index))."""

    role: Literal["pretrain", "finetune"] = Field("finetune", description="'pretrain': unlabelled images only; "
                                                  "'finetune': the few-label split and the test split")
    size: int = Field(64, ge=8, le=512, description="side H = W of the images")
    depth: int = Field(1, ge=1, le=64, description="1: 2-D images (H, W, 1); > 1: anisotropic stacks (D, H, W, 1)")
    anisotropy: float = Field(4.0, ge=1.0, description="3-D: section spacing over pixel size (EM: ~4-10)")
    cells_per_image: float = Field(12.0, gt=1.0, description="mean number of cells (Poisson seeds) per image")
    boundary_width: int = Field(2, ge=1, le=4, description="membrane width in pixels (1-2 px in EM at this scale)")
    texture: float = Field(0.08, ge=0.0, description="amplitude of the smooth interior texture")
    blur_sigma: float = Field(1.0, ge=0.0, description="Gaussian blur of the clean image, pixels")
    noise_std: float = Field(0.15, ge=0.0, description="Gaussian noise std (in [0, 1] intensity units)")
    photons: float = Field(60.0, gt=0.0, description="Poisson noise: expected counts at intensity 1")
    missing_section_prob: float = Field(0.0, ge=0.0, le=1.0, description="3-D: probability of each section being "
                                        "blank (an EM artefact; 0: none)")
    n_unlabelled: int = Field(2000, ge=1, description="role 'pretrain': images of the unlabelled train split")
    n_labelled: int = Field(64, ge=1, description="role 'finetune': images of the labelled train split")
    n_val: int = Field(0, ge=0, description="role 'finetune': validation images (0: no val split)")
    n_test: int = Field(200, ge=1, description="role 'finetune': test images")
    seed: int = Field(0, ge=0, description="seed of the generator (the images do not depend on the run's seed)")


class EMBoundaryConfig(ComponentConfig):
    """Boundary segmentation: binary cross-entropy on the boundary logit; boundary Dice per image; with instance
    labels in the batch, ARAND and VOI of the connected components of the predicted interior."""

    threshold: float = Field(0.5, gt=0.0, lt=1.0, description="a pixel is boundary when sigmoid(logit) >= this")
    instance_metrics: bool = Field(True, description="also ARAND and VOI (needs 'labels' in the batch; skimage)")
    pos_weight: float = Field(1.0, gt=0.0, description="BCE weight of boundary pixels")


class EMSegMetricsConfig(ComponentConfig):
    """Runs the model on labelled batches and reports boundary Dice, ARAND and VOI (means over images)."""

    threshold: float = Field(0.5, gt=0.0, lt=1.0, description="a pixel is boundary when sigmoid(logit) >= this")
    input_key: str = Field("x", min_length=1, description="the batch key of the images")
    max_batches: int | None = Field(None, ge=1, description="at most this many batches (None: all it is given)")
