"""Configs of the mambamixer components (no torch here: discovery, ``forwardkit show`` and validation import it).

Defaults are the paper's (Behrouz et al. 2024, arXiv:2403.19888) where it states them and Mamba's (Gu & Dao
2023) for the S6 core it builds on; the TSM2 sizes are the spec card's miniature ones (the paper grid-searches
them and reports none).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from forwardkit.config import ChannelMixerConfig, ComponentConfig, TokenMixerConfig
from forwardkit.data import SplitConfig

ScanMode = Literal["chunked", "sequential"]
Init = Literal["identity", "uniform"]
Normalize = Literal["none", "softmax"]


class S6Fields(ComponentConfig):
    """The selective SSM (S6) and its Mamba block: width, state, conv, discretisation (paper §3.1, eq. 5)."""

    d_state: int = Field(16, ge=1, le=64, description="N, the state size per channel (Mamba d_state)")
    d_conv: int = Field(4, ge=1, le=8, description="kernel of the causal depthwise 1-D convolution")
    expand: int = Field(2, ge=1, le=4, description="E = expand * C, the width of the S6 branch")
    dt_rank: int | Literal["auto"] = Field(
        "auto", description="rank r of Delta's projection W_up(W_down u); auto: ceil(C / 16) (Mamba)")
    dt_min: float = Field(1e-3, gt=0.0, description="softplus(b_Delta) is initialised log-uniform in [dt_min, dt_max]")
    dt_max: float = Field(0.1, gt=0.0, description="upper end of the Delta initialisation")
    conv_bias: bool = Field(True, description="bias of the depthwise convolution")
    proj_bias: bool = Field(False, description="bias of the input and output projections")
    bcdt_from: Literal["conv", "input"] = Field(
        "conv", description="where B, C and Delta are computed from: the conv output (Mamba) or the projected "
                            "input before the conv (the paper's eqs. 8-10 write Linear(x))")
    scan_mode: ScanMode = Field(
        "chunked", description="selective_scan form: chunked (fast, linear in L) or sequential (paper-literal loop)")
    chunk: int = Field(64, ge=1, description="chunk length of the chunked scan")

    @model_validator(mode="after")
    def _dt_range(self) -> S6Fields:
        if self.dt_min > self.dt_max:
            raise ValueError(f"dt_min ({self.dt_min}) must not exceed dt_max ({self.dt_max})")
        if self.dt_rank != "auto" and self.dt_rank < 1:
            raise ValueError(f"dt_rank must be 'auto' or >= 1, got {self.dt_rank}")
        return self


class SelectiveTokenMixerConfig(TokenMixerConfig, S6Fields):
    """Selective Token Mixer (paper §3.2, eqs. 6-11): ``Linear_out(S6(SiLU(Conv(Linear x))) * SiLU(Linear x))``,
    with one S6 per scan direction (separate parameters), outputs un-scanned and summed."""

    context_fields: ClassVar[tuple[str, ...]] = ("dim", "spatial_rank")

    spatial_rank: int = Field(1, ge=1, le=3, description="spatial rank of the tokens (filled by the holder)")
    directions: Literal[1, 2, 4] | None = Field(
        None, description="scans: 1 raster, 2 raster + reversed, 4 the VMamba cross-scan (row-major, reversed, "
                          "column-major, reversed); None: 1 for sequences, 4 for images, 2 for video")
    causal: bool = Field(False, description="one forward raster scan with causal 1-D convs at every rank (the "
                                            "output at flattened position t ignores later inputs); overrides "
                                            "conv2d_for_images; needs directions None or 1")
    conv2d_for_images: bool = Field(True, description="rank 2: one depthwise 2-D conv before the scans (ViM2 keeps "
                                                      "tokens 2-D); False: a causal 1-D conv along each scan")
    conv2d_kernel: int = Field(3, ge=1, le=7, description="kernel of the depthwise 2-D conv (3x3 in ViM2); odd")

    @model_validator(mode="after")
    def _scans(self) -> SelectiveTokenMixerConfig:
        if self.causal and self.directions not in (None, 1):
            raise ValueError(f"causal=True needs one forward scan (directions None or 1), got {self.directions}")
        if self.spatial_rank == 1 and self.directions == 4:
            raise ValueError("directions=4 (cross-scan) needs spatial rank 2 or 3; a sequence has 1 or 2 scans")
        if self.conv2d_kernel % 2 == 0:
            raise ValueError(f"conv2d_kernel must be odd (a centred 'same' conv), got {self.conv2d_kernel}")
        return self

    def resolved_directions(self) -> int:
        """The number of scans this config runs."""
        if self.causal:
            return 1
        if self.directions is not None:
            return self.directions
        return {1: 1, 2: 4, 3: 2}[self.spatial_rank]


class SelectiveVariateMixerConfig(TokenMixerConfig, S6Fields):
    """Selective Variate (Channel) Mixer of TSM2 (paper §3.2 eqs. 12-18, §5): a bidirectional S6 along one
    spatial axis (the variates of ``(B, M, n, D)`` tokens), gated by the same SiLU(Linear) branch."""

    axis: int = Field(0, ge=0, le=2, description="the spatial axis mixed (0: the first, the variates in TSM2)")
    share_directions: bool = Field(False, description="forward and backward scans share conv and S6 parameters "
                                                      "(a test configuration: then the mixer is flip-equivariant)")


class SelectiveChannelMixerConfig(ChannelMixerConfig):
    """Per-token channel S6: each token's C channels are a length-C sequence of scalars, lifted to ``d_inner``
    features, mixed by a bidirectional S6 along the channels, gated, projected back to one scalar each."""

    d_inner: int = Field(8, ge=1, le=64, description="features per channel position inside the S6")
    d_state: int = Field(16, ge=1, le=64, description="N, the state size")
    d_conv: int = Field(4, ge=1, le=8, description="kernel of the causal depthwise 1-D conv along the channels")
    dt_min: float = Field(1e-3, gt=0.0, description="Delta initialisation, lower end")
    dt_max: float = Field(0.1, gt=0.0, description="Delta initialisation, upper end")
    conv_bias: bool = Field(True, description="bias of the depthwise conv")
    proj_bias: bool = Field(True, description="bias of the scalar lift and of the projection back")
    bidirectional: bool = Field(True, description="add a backward scan over the channels (paper: channels are "
                                                  "not causal)")
    scan_mode: ScanMode = Field("chunked", description="selective_scan form")
    chunk: int = Field(64, ge=1, description="chunk length of the chunked scan")

    @model_validator(mode="after")
    def _dt_range(self) -> SelectiveChannelMixerConfig:
        if self.dt_min > self.dt_max:
            raise ValueError(f"dt_min ({self.dt_min}) must not exceed dt_max ({self.dt_max})")
        return self


class SelectiveChannelMixerPaperConfig(TokenMixerConfig, S6Fields):
    """The literal Selective Channel Mixer (paper eqs. 12-18): the S6 block on ``x^T``, the sequence axis being
    the C channels and the feature axis the L tokens, so its Linear layers are sized by L (fixed token count)."""

    context_fields: ClassVar[tuple[str, ...]] = ("dim", "num_tokens")

    num_tokens: int = Field(64, ge=1, description="L = prod(spatial), the token count its Linear layers are sized "
                                                  "for (filled from the grid by the holder)")
    share_directions: bool = Field(False, description="forward and backward scans share conv and S6 parameters")


class WeightedAveragingConfig(ComponentConfig):
    """Weighted averaging of earlier features (paper §3.2, eqs. 19-20), DenseFormer style."""

    num_layers: int = Field(2, ge=1, description="MambaMixer layers (token mixer, channel mixer) in the stack")
    weighted: bool = Field(True, description="learnable alpha, beta, theta, gamma; False: the plain sequential "
                                             "stack token -> channel -> token ... (no coefficients)")
    init: Init = Field("identity", description="identity: the sequential stack exactly (beta[l, l-1] = 1, "
                                               "theta[l, l] = 1, else 0); uniform: equal weights (not stated "
                                               "in the paper)")
    normalize: Normalize = Field("none", description="softmax: the weights of each mixer's input sum to 1 (the "
                                                     "replication's choice); needs init uniform")
    pre_norm: bool = Field(True, description="LayerNorm on each mixer's input branch")
    residual: bool = Field(True, description="each block returns input + mixer(norm(input)); False: mixer only")
    drop: float = Field(0.0, ge=0.0, lt=1.0, description="dropout on each mixer's output branch")
    norm_eps: float = Field(1e-6, gt=0.0, description="LayerNorm epsilon")

    @model_validator(mode="after")
    def _init(self) -> WeightedAveragingConfig:
        if self.normalize == "softmax" and self.init == "identity":
            raise ValueError("normalize='softmax' cannot start at the identity (a one-hot softmax needs infinite "
                             "logits): use init='uniform'")
        return self


class TSM2Config(ComponentConfig):
    """TSM2 (paper §5): per-variate patches, MambaMixer layers of a causal Selective Time Mixer along the
    patches and a bidirectional Selective Variate Mixer along the variates, weighted averaging, a 2-D norm
    and a flatten head. ``x`` ``(B, lookback, M)`` -> ``(B, horizon, M)``."""

    lookback: int = Field(96, ge=2, description="input steps L (filled from the data)")
    horizon: int = Field(24, ge=1, description="forecast steps H (filled from the data)")
    patch_len: int = Field(16, ge=1, description="patch length P of each variate")
    stride: int = Field(8, ge=1, description="steps between patch starts")
    d_model: int = Field(32, ge=1, description="D, the patch embedding width")
    num_layers: int = Field(2, ge=1, description="MambaMixer layers")
    d_state: int = Field(16, ge=1, le=64, description="S6 state size N")
    d_conv: int = Field(4, ge=1, le=8, description="S6 conv kernel")
    expand: int = Field(2, ge=1, le=4, description="S6 expansion E / D")
    dropout: float = Field(0.1, ge=0.0, lt=1.0, description="dropout of the embedding, the mixer branches and the head")
    revin: bool = Field(True, description="per-window, per-variate normalisation and de-normalisation (RevIN)")
    variate_mixer: Literal["s6_bidir", "mlp", "none"] = Field(
        "s6_bidir", description="s6_bidir: Selective Variate Mixer; mlp: a 2-layer MLP across the M variates "
                                "(TSM2-MLP); none: channel-independent")
    weighted_avg: bool = Field(True, description="weighted averaging of earlier features (eqs. 19-20); False: "
                                                 "the plain residual stack")
    init: Init = Field("identity", description="initial weighted-averaging coefficients")
    normalize: Normalize = Field("none", description="softmax-normalise the coefficients of each input")
    num_variates: int | None = Field(None, ge=1, description="M (filled from the data); only the mlp variate "
                                                            "mixer has M-shaped weights")
    mlp_ratio: float = Field(2.0, gt=0.0, description="hidden width / M of the mlp variate mixer")
    scan_mode: ScanMode = Field("chunked", description="selective_scan form")
    chunk: int = Field(64, ge=1, description="chunk length of the chunked scan")
    targets: list[int] | None = Field(None, description="indices of the variates forecast (None: all)")

    @model_validator(mode="after")
    def _sizes(self) -> TSM2Config:
        if self.patch_len > self.lookback:
            raise ValueError(f"patch_len ({self.patch_len}) must not exceed lookback ({self.lookback})")
        if self.normalize == "softmax" and self.init == "identity":
            raise ValueError("normalize='softmax' needs init='uniform'")
        if self.targets is not None and (not self.targets or min(self.targets) < 0):
            raise ValueError(f"targets must be non-negative variate indices, got {self.targets}")
        return self

    @property
    def num_patches(self) -> int:
        """n = (lookback - patch_len) // stride + 1."""
        return (self.lookback - self.patch_len) // self.stride + 1


class RLinearConfig(ComponentConfig):
    """RLinear (Li et al. 2023, "Revisiting long-term time series forecasting"): RevIN, then one
    Linear(lookback -> horizon) shared by every variate."""

    lookback: int = Field(96, ge=1, description="input steps L (filled from the data)")
    horizon: int = Field(24, ge=1, description="forecast steps H (filled from the data)")
    revin: bool = Field(True, description="per-window, per-variate normalisation and de-normalisation")
    targets: list[int] | None = Field(None, description="indices of the variates forecast (None: all)")


class ViM2TinyConfig(ComponentConfig):
    """ViM2 (paper §4, appendix Table 8): patchify stem, stages of Selective Token Mixer blocks (4 cross-scans,
    depthwise 3x3 conv) and Selective Channel Mixer blocks with stage-local weighted averaging, patch merging
    between stages, global average pooling and a linear head. ``preset`` fills the sizes."""

    preset: Literal["tiny", "vim2_t", "vim2_s", "vim2_b", "custom"] = Field(
        "tiny", description="tiny: 3 small stages for 28-px images; vim2_t/s/b: the paper's scales (224 px)")
    in_channels: int = Field(3, ge=1, description="channels of the (B, H, W, C) images (filled from the data)")
    num_classes: int = Field(10, ge=1, description="classes of the head (filled from the data)")
    image_size: int = Field(28, ge=4, description="side of the images (sizes the paper-mode channel mixers)")
    stem_patch: int | None = Field(None, ge=1, description="stem conv kernel = stride; None: 2 for images <= 32 px, "
                                                           "else 4 (the paper's 4x4 stride 4)")
    dims: list[int] | None = Field(None, description="channels per stage (custom, or override of the preset)")
    token_depths: list[int] | None = Field(None, description="token-mixer blocks per stage")
    channel_depths: list[int] | None = Field(None, description="channel-mixer blocks per stage (<= token blocks)")
    d_state: int = Field(16, ge=1, le=64, description="S6 state size")
    expand: int = Field(2, ge=1, le=4, description="S6 expansion of the token mixers")
    channel_mode: Literal["per_token", "paper"] = Field(
        "per_token", description="channel mixer: per-token channel S6, or the literal transposed form sized by "
                                 "the stage's token count")
    channel_d_inner: int = Field(8, ge=1, description="d_inner of the per-token channel mixers")
    init: Init = Field("identity", description="initial weighted-averaging coefficients")
    normalize: Normalize = Field("none", description="softmax-normalise the coefficients of each input")
    scan_mode: ScanMode = Field("chunked", description="selective_scan form")
    chunk: int = Field(64, ge=1, description="chunk length of the chunked scan")

    @model_validator(mode="after")
    def _sizes(self) -> ViM2TinyConfig:
        if self.preset == "custom" and (self.dims is None or self.token_depths is None):
            raise ValueError("preset='custom' needs dims and token_depths")
        dims, tokens, channels = self.sizes()
        if not (len(dims) == len(tokens) == len(channels)) or not dims:
            raise ValueError(f"dims ({len(dims)}), token_depths ({len(tokens)}) and channel_depths "
                             f"({len(channels)}) need one entry per stage")
        if any(c > t or c < 0 or t < 1 for t, c in zip(tokens, channels, strict=True)):
            raise ValueError(f"each stage needs >= 1 token block and at most as many channel blocks: "
                             f"{tokens} / {channels}")
        if self.normalize == "softmax" and self.init == "identity":
            raise ValueError("normalize='softmax' needs init='uniform'")
        return self

    def sizes(self) -> tuple[list[int], list[int], list[int]]:
        """``(dims, token_depths, channel_depths)`` after the preset."""
        preset = VIM2_PRESETS.get(self.preset, VIM2_PRESETS["tiny"])
        dims = self.dims or preset["dims"]
        tokens = self.token_depths or preset["token_depths"]
        channels = self.channel_depths or (preset["channel_depths"] if self.token_depths is None
                                           else [1] * len(tokens))
        return list(dims), list(tokens), list(channels)

    def resolved_stem_patch(self) -> int:
        return self.stem_patch or (2 if self.image_size <= 32 else 4)


#: ViM2 scales (paper appendix, "Architectural overview of the ViM2 in different scales") and the miniature
VIM2_PRESETS: dict[str, dict[str, list[int]]] = {
    "tiny": {"dims": [24, 48, 96], "token_depths": [1, 1, 2], "channel_depths": [1, 1, 1]},
    "vim2_t": {"dims": [96, 192, 384, 768], "token_depths": [2, 2, 6, 2], "channel_depths": [1, 1, 3, 1]},
    "vim2_s": {"dims": [96, 192, 384, 768], "token_depths": [2, 2, 18, 2], "channel_depths": [1, 1, 9, 1]},
    "vim2_b": {"dims": [128, 256, 512, 1024], "token_depths": [2, 2, 18, 2], "channel_depths": [1, 1, 9, 1]},
}


class MixingWeightsConfig(ComponentConfig):
    """Read the weighted-averaging coefficients alpha, beta, theta, gamma of every stack in a model."""

    figure: bool = Field(False, description="also draw one heat-map per stack (token inputs, channel inputs)")


class LaggedMixturesConfig(SplitConfig):
    """The card's Setup A: two latent AR(2) + sinusoid drivers (observed), variates that are lagged noisy
    mixtures of them with their own gains, and pure-noise variates; chronological split, z-scored on train."""

    length: int = Field(3000, ge=64, description="time steps of the whole series")
    num_mixtures: int = Field(4, ge=0, description="variates that are lagged noisy mixtures of the two drivers")
    num_noise: int = Field(2, ge=0, description="variates of pure Gaussian noise (to be ignored)")
    min_lag: int = Field(4, ge=0, description="smallest lag of a mixture behind a driver")
    max_lag: int = Field(20, ge=0, description="largest lag")
    noise: float = Field(0.3, ge=0.0, description="std of the observation noise of the mixtures (drivers have "
                                                  "unit-order variance)")
    lookback: int = Field(96, ge=1, description="input steps per window")
    horizon: int = Field(24, ge=1, description="target steps per window")
    stride: int = Field(1, ge=1, description="steps between window starts")
    val_fraction: float = Field(0.1, ge=0.0, lt=1.0, description="share of the time steps in 'val'")
    test_fraction: float = Field(0.2, ge=0.0, lt=1.0, description="share of the time steps in 'test'")
    seed: int = Field(0, ge=0, description="seed of the generated series")

    @model_validator(mode="after")
    def _lags(self) -> LaggedMixturesConfig:
        if self.min_lag > self.max_lag:
            raise ValueError(f"min_lag ({self.min_lag}) must not exceed max_lag ({self.max_lag})")
        return self
