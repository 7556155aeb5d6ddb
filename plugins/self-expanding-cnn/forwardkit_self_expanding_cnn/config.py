"""Configs of the self-expanding CNN components (torch-free, so `forwardkit show` and `schema` stay fast).

Defaults are the paper's (arXiv 2401.05686, Sec. 3) where it gives them, else the third-party DynamicCNN code's
or the spec card's (each field says which).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from forwardkit.config import ComponentConfig


class ExpandableCNNConfig(ComponentConfig):
    """The block-based expandable CNN of Fig. 1: blocks of [conv3x3 -> BatchNorm -> LeakyReLU] separated by
    pooling, a skip path from block 1, a 1x1 conv head, flatten, FC (BatchNorm) -> FC."""

    channels: list[int] = Field(default_factory=lambda: [3, 16, 16, 16], min_length=2,
                                description="input channels, then the output channels of each block (paper: "
                                "3 blocks x 16 at the start); channels[0] is filled from the data")
    layers: list[int] | None = Field(None, description="conv layers per block at the start (None: 1 each); the "
                                     "ones past the first are built like added layers (a fixed model of a grown "
                                     "architecture, trained from scratch)")
    input_size: list[int] = Field(default_factory=lambda: [32, 32], min_length=2, max_length=2,
                                  description="(H, W) of the images; filled from the data")
    num_classes: int = Field(10, ge=1, description="classes; filled from the data")
    pool_stride: int = Field(2, ge=1, description="max-pool kernel and stride between blocks")
    skip_from_first: bool = Field(True, description="skip path: block 1's output, pooled to the last block's "
                                  "resolution, enters the 1x1 head conv beside the last block's output")
    head_channels: int = Field(16, ge=1, description="output channels of the 1x1 head conv (not given by the "
                               "paper)")
    dropout_conv: float = Field(0.1, ge=0.0, lt=1.0, description="dropout after each block (paper: 0.1)")
    dropout_fc: float = Field(0.05, ge=0.0, lt=1.0, description="dropout before the last FC (paper: 0.05)")
    fc_hidden: int = Field(20, ge=1, description="hidden FC width, with BatchNorm (third-party code: 20)")
    negative_slope: float = Field(0.01, ge=0.0, lt=1.0, description="LeakyReLU slope (PyTorch's default)")
    max_layers_per_block: int = Field(10, ge=1, description="capacity N of a block in conv layers (paper: 10)")
    max_channels_per_block: int | None = Field(None, ge=1, description="cap on a block's channels (None: none)")
    identity_kind: Literal["conv1x1", "conv3x3"] = Field("conv1x1", description="kernel of an added layer "
                                                        "(third-party code: 1x1, no bias, weight = I)")
    identity_slope: Literal["learned", "fixed"] = Field(
        "learned", description="activation of an added layer: 'learned' (a LeakyReLU whose negative slope is a "
        "parameter starting at 1: the layer starts as the identity, exactly, and becomes nonlinear by training) "
        "or 'fixed' (the model's LeakyReLU: negatives are scaled by slope^2, not function-preserving)")
    identity_noise: float = Field(1e-4, ge=0.0, description="std of the Gaussian noise added to an identity "
                                  "layer's weights")
    new_channel_noise: float = Field(1e-4, ge=0.0, description="std of the new filters and new input slices of "
                                     "a widened block (paper/code: N(0, 1) * 1e-4)")
    preserve_function: bool = Field(True, description="False: new layers and channels are initialised at random "
                                    "(PyTorch's conv init, the fixed slope), the card's no-function-preservation "
                                    "ablation")

    @field_validator("channels")
    @classmethod
    def _positive(cls, value: list[int]) -> list[int]:
        if any(c < 1 for c in value):
            raise ValueError("every channel count must be at least 1")
        return value

    @model_validator(mode="after")
    def _capacity(self) -> ExpandableCNNConfig:
        if self.layers is not None and (len(self.layers) != len(self.channels) - 1 or min(self.layers) < 1
                                        or max(self.layers) > self.max_layers_per_block):
            raise ValueError("layers needs one count per block, each between 1 and max_layers_per_block")
        cap = self.max_channels_per_block
        if cap is not None and any(c > cap for c in self.channels[1:]):
            raise ValueError(f"a block starts with more channels than max_channels_per_block={cap}")
        return self


class ScoreSettings(ComponentConfig):
    """How the natural expansion score eta = g^T F^-1 g (diagonal empirical Fisher) is computed."""

    fisher: Literal["diag_per_sample", "diag_per_batch"] = Field(
        "diag_per_sample", description="'diag_per_sample': F_jj = mean_i (dL_i/dtheta_j)^2 over the subset's "
        "samples, g its mean gradient; 'diag_per_batch' (third-party code): F = sum over mini-batches of squared "
        "mini-batch gradients, eta summed over the mini-batches")
    score_batch_size: int = Field(128, ge=1, description="mini-batch size of the subset ('diag_per_batch'; also "
                                  "the chunk of per-sample gradients computed at once)")
    eps: float = Field(1e-5, gt=0.0, description="damping added to the Fisher diagonal (code: 1e-5)")
    normalize_by_params: bool = Field(False, description="divide eta by the parameter count (the third-party code "
                                      "does; it penalises bigger candidates twice)")
    subset_size: int = Field(512, ge=1, description="samples the score is computed on (code: a fixed 512)")
    lambda_n: float = Field(1e-7, ge=0.0, description="eta_reg = eta * exp(-lambda_n * dp^2), dp the parameters a "
                            "candidate adds (not given in the paper; code: 1e-7 for the CNN)")


class NaturalExpansionScoreConfig(ScoreSettings):
    """The analyzer: eta of a model on (up to subset_size samples of) the data, and of its candidates."""

    candidates: bool = Field(True, description="also score every candidate expansion of an expandable model")
    channel_step: int = Field(2, ge=1, description="channels a 'widen' candidate adds")


class SelfExpansionConfig(ScoreSettings):
    """The growth rule of Sec. 3.1, run at epoch ends."""

    tau: float = Field(2.0, gt=1.0, description="grow when the best candidate's score exceeds the current one "
                       "by this factor (paper: 2)")
    check_every: int = Field(1, ge=1, description="epochs between checks")
    cooldown: int = Field(10, ge=0, description="epochs without a check after an expansion (paper: 10)")
    channel_step: list[int] = Field(default_factory=lambda: [2, 4], min_length=1,
                                    description="channels C a widening adds: the first value, then the next ones "
                                    "after every channel_step_switch_after expansions (paper: 2, later 4)")
    channel_step_switch_after: int = Field(5, ge=1, description="expansions before C moves to its next value "
                                           "(the paper does not say when; a guess)")
    allow: list[Literal["layer", "channels"]] = Field(default_factory=lambda: ["layer", "channels"],  # type: ignore[arg-type]
                                                      min_length=1,
                                                      description="the kinds of expansion considered")
    max_total_params: int | None = Field(None, ge=1, description="candidates that would pass this are left out")
    criterion: Literal["score", "random"] = Field(
        "score", description="'score': the paper's rule; 'random' (baseline): an allowed candidate drawn uniformly "
        "at random, at every check or exactly at the epochs of random_schedule")
    random_schedule: list[int] = Field(default_factory=list, description="'random': the epoch ends (1-based) at "
                                       "which to expand, ignoring check_every and cooldown (empty: every check)")
    monitor: str | None = Field(None, description="the validation metric whose drop after an expansion is logged "
                                "as its dip (None: val/<the task's primary metric>)")
    save_snapshots: bool = Field(False, description="write the model (weights + architecture) into "
                                 "<run_dir>/expansions/ before every expansion: models of several sizes from one run")
    seed: int | None = Field(None, ge=0, description="seed of the growth noise's generator (None: the run's seed)")

    @model_validator(mode="after")
    def _unique(self) -> SelfExpansionConfig:
        if len(set(self.allow)) != len(self.allow):
            raise ValueError("allow lists a kind twice")
        if any(c < 1 for c in self.channel_step):
            raise ValueError("channel_step values must be at least 1")
        if any(e < 1 for e in self.random_schedule):
            raise ValueError("random_schedule epochs are 1-based")
        return self
