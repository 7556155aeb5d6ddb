"""Configs of the S-KAN components (torch-free: discovery, ``forwardkit show`` and validation import this).

S-KAN: "Activation Space Selectable Kolmogorov-Arnold Networks" (arXiv 2408.08338). The selection mechanism
is a reconstruction (the method section was not accessible when this plugin was written); every unverified
choice is a field here.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from forwardkit.config import ChannelMixerConfig, ComponentConfig

Space = Literal["bspline", "chebyshev", "rbf", "fourier", "wavelet"]
Wavelet = Literal["mexican_hat", "morlet", "dog"]
WeightNorm = Literal["softmax", "none"]
SPACES: tuple[str, ...] = ("bspline", "chebyshev", "rbf", "fourier", "wavelet")


class SpaceConfig(ComponentConfig):
    """The hyper-parameters of every single activation space (defaults of the public implementations)."""

    grid_size: int = Field(5, ge=1, description="B-spline: grid intervals G on [-1, 1] (efficient-kan: 5)")
    spline_order: int = Field(3, ge=0, description="B-spline: order k; G + k basis functions (efficient-kan: 3)")
    degree: int = Field(4, ge=0, description="Chebyshev: highest degree of T_n(tanh x) (KANConv2d default 4)")
    num_centers: int = Field(8, ge=2, description="Gaussian RBF: centres on [-2, 2] (FastKAN: 8)")
    fourier_terms: int = Field(5, ge=1, description="Fourier: frequencies k = 1..G of cos(kx), sin(kx)")
    wavelet: Wavelet = Field("mexican_hat", description="Wav-KAN mother wavelet")


class KANLayerConfig(SpaceConfig):
    """One single-space KAN layer d_in -> d_out: y_j = sum_i phi_{j,i}(x_i)."""

    in_features: int = Field(4, ge=1, description="d_in")
    out_features: int = Field(4, ge=1, description="d_out")
    space: Space = Field("bspline", description="the activation space of every edge")


class KANFFNConfig(ChannelMixerConfig, SpaceConfig):
    """Token-wise KAN d -> h -> d with one activation space (the single-space baseline)."""

    space: Space = Field("bspline", description="the activation space of both layers")
    hidden_ratio: float = Field(1.0, gt=0.0, description="h = max(1, round(hidden_ratio * dim))")


class SelectionFields(ComponentConfig):
    """The selection over a pool of activation spaces (reconstruction: per output node)."""

    pool: list[Space] = Field(default_factory=lambda: list(SPACES),
                              description="the candidate activation spaces, each at most once")
    select_top_k: int = Field(1, ge=1, description="spaces kept per node in phase 2 (1..len(pool))")
    weight_norm: WeightNorm = Field("softmax", description="'softmax': a_j = softmax(alpha_j / T); 'none': raw alpha")
    temperature: float = Field(1.0, gt=0.0, description="softmax temperature T (> 0)")

    @field_validator("pool")
    @classmethod
    def _pool(cls, pool: list[str]) -> list[str]:
        if not pool:
            raise ValueError("pool must name at least one activation space")
        if len(set(pool)) != len(pool):
            raise ValueError(f"pool names a space twice: {pool}")
        return pool

    @model_validator(mode="after")
    def _top_k(self) -> SelectionFields:
        if self.select_top_k > len(self.pool):
            raise ValueError(f"select_top_k={self.select_top_k} exceeds len(pool)={len(self.pool)}")
        return self


class SKANFFNConfig(KANFFNConfig, SelectionFields):
    """Token-wise S-KAN d -> h -> d: every node mixes a pool of activation spaces with learned weights."""


class SKANPhaseScheduleConfig(ComponentConfig):
    """The three training phases of S-KAN (fractions of the step budget; reconstruction)."""

    phase_fracs: tuple[float, float, float] = Field(
        (0.6, 0.25, 0.15), description="full training, selective training, pruning + fine-tune; sum 1")
    finetune_after_prune: bool = Field(True, description="keep training after the phase-3 pruning (else stop)")
    prune_in_loop: bool = Field(False, description="physically remove masked branches at phase 3 inside the "
                                                  "trainer (not resumable); default: masks stay, skan_prune removes")

    @field_validator("phase_fracs")
    @classmethod
    def _fracs(cls, fracs: tuple[float, float, float]) -> tuple[float, float, float]:
        if any(f < 0 for f in fracs) or abs(sum(fracs) - 1.0) > 1e-6:
            raise ValueError(f"phase_fracs must be three non-negative fractions summing to 1, got {fracs}")
        return fracs


class SKANPruneConfig(ComponentConfig):
    """Removes the masked (unselected) branches of every S-KAN layer."""

    select_if_unmasked: bool = Field(True, description="a layer still in phase 1 is masked to its top-K first")
    latency_repeats: int = Field(5, ge=1, description="timed passes for the latency figure")


class SKANRegressorConfig(SpaceConfig, SelectionFields):
    """[d, h, out] KAN for function fitting; space 'select' is S-KAN over ``pool``."""

    in_features: int = Field(2, ge=1, description="d (filled from the data)")
    num_classes: int = Field(1, ge=1, description="outputs (filled from the data's target size)")
    hidden: int = Field(5, ge=1, description="hidden nodes h")
    space: Literal["select", "bspline", "chebyshev", "rbf", "fourier", "wavelet"] = Field(
        "select", description="'select': S-KAN over pool; else a single-space KAN")


class SConvKANNetConfig(SpaceConfig, SelectionFields):
    """Two S-ConvKAN layers (a KAN layer on every k x k patch, selection per output channel) with 2x2 pooling
    after each, global average pooling and a linear head; ``space`` 'select' is S-ConvKAN over ``pool``, any
    other space the single-space ConvKAN baseline (KANConv2d-style) of the same shape."""

    in_channels: int = Field(1, ge=1, description="input channels C_in (filled from the data)")
    num_classes: int = Field(10, ge=1, description="classes (filled from the data)")
    channels: list[int] = Field(default_factory=lambda: [8, 16], min_length=1,
                                description="output channels of each S-ConvKAN layer (the card: two layers)")
    kernel_size: int = Field(3, ge=1, description="k of the k x k patches")
    stride: int = Field(1, ge=1, description="stride of the patches")
    padding: int | None = Field(None, ge=0, description="zero padding per side; None: k // 2 ('same' at stride 1)")
    downsample: Literal["max", "avg", "none"] = Field("max", description="2x2 pooling after each layer")
    space: Literal["select", "bspline", "chebyshev", "rbf", "fourier", "wavelet"] = Field(
        "select", description="'select': S-ConvKAN over pool; else a single-space ConvKAN")

    @field_validator("channels")
    @classmethod
    def _channels(cls, channels: list[int]) -> list[int]:
        if any(c < 1 for c in channels):
            raise ValueError(f"channels must be positive, got {channels}")
        return channels


class KANFunctionSuiteConfig(ComponentConfig):
    """Seven synthetic targets on [-1, 1]^d (our choice; the paper's seven tasks are unverified)."""

    task: int = Field(1, ge=1, le=7, description="which target, 1..7 (see forwardkit_s_kan.data.TASKS)")
    n_train: int = Field(1000, ge=1, description="training points")
    n_val: int = Field(200, ge=1, description="validation points")
    n_test: int = Field(1000, ge=1, description="test points")
    noise_std: float = Field(0.0, ge=0.0, description="Gaussian noise on the training/validation targets")
    seed: int = Field(0, description="seed of the inputs and the noise")
