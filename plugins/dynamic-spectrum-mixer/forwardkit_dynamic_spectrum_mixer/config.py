"""Configs of the dynamic-spectrum-mixer components (torch-free: read by discovery, ``show`` and ``schema``).

Paper: Zhiqiang Hu and Tao Yu, "Dynamic Spectrum Mixer for Visual Recognition" (arXiv 2309.06721). No
official code exists and the method section was not available: beyond the abstract (DCT-domain token
mixing, log-linear cost, a dynamic spectrum weight generation layer acting as a band selector) every
default below is the spec card's RECONSTRUCTION (papers/dynamic-spectrum-mixer.md, steps 1-6), not a
number read from the paper.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from forwardkit.config import ComponentConfig, TokenMixerConfig, TokenMixerSpec

#: how the spectrum is transformed (results agree to float rounding)
Transform = Literal["matrix", "fft"]
#: one transform over all spatial axes, or one branch per axis plus a channel branch
Axes = Literal["joint", "separable"]
#: how the spectral weights depend on the input
WeightMode = Literal["band_gate", "filter_bank", "static"]


def _check_grid(grid: tuple[int, ...] | None) -> tuple[int, ...] | None:
    if grid is None:
        return None
    if not 1 <= len(grid) <= 3 or any(n < 1 for n in grid):
        raise ValueError(f"grid must be 1 to 3 positive sides, one per spatial axis ((N,), (H, W) or (T, H, W)), "
                         f"got {tuple(grid)}")
    return tuple(int(n) for n in grid)


class SpectrumMixerConfig(TokenMixerConfig):
    """Fields every DCT spectrum mixer has; ``dim`` (C) is set by the model holding it."""

    grid: tuple[int, ...] | None = Field(
        None,
        description="token grid (N,), (H, W) or (T, H, W) the spectral weights are built for (filled by the "
        "holder from the grid it gives the mixer); tokens of another size of the same rank get the weights "
        "resized (linear/bilinear/trilinear). None: built at the first call, from its grid (then fixed)",
    )
    in_proj: bool = Field(False, description="pointwise Linear(C, C) before the transform (card step 1)")
    out_proj: bool = Field(True, description="pointwise Linear(C, C) after the inverse transform (card step 6)")
    transform: Transform = Field(
        "matrix",
        description="'matrix': one DCT matrix product per axis, O(HW(H+W)C), exact; 'fft': Makhoul's FFT "
        "algorithm, O(HW log(HW) C); both orthonormal and equal to float rounding",
    )
    axes: Axes = Field(
        "joint",
        description="'joint': one DCT over all spatial axes with weights (*grid, C); 'separable': one 1-D DCT "
        "branch per spatial axis (weights (n_i, C)) plus a pointwise channel branch, summed (Vision-Permutator-"
        "like)",
    )

    @field_validator("grid")
    @classmethod
    def _valid_grid(cls, value: tuple[int, ...] | None) -> tuple[int, ...] | None:
        return _check_grid(value)


class DSMConfig(SpectrumMixerConfig):
    """The dynamic spectrum mixer ``dsm`` (card steps 1-6, a reconstruction): DCT, static weights times
    input-dependent band gates, inverse DCT."""

    num_bands: int = Field(
        4, ge=1, le=64,
        description="K spectrum bands (zig-zag radial partition, DC in band 0); all K are non-empty when every "
        "grid side is >= K, the upper ones are empty (select nothing) on smaller grids",
    )
    weight_mode: WeightMode = Field(
        "band_gate",
        description="'band_gate': W_s * A with A = 2 sigmoid(generated logits) per (band, channel); "
        "'filter_bank': K full-resolution filters mixed per sample by a softmax over the generated logits "
        "(DFFormer-like); 'static': W_s alone (no input dependence, as dct_static)",
    )
    reduction: int = Field(4, ge=1, le=64, description="hidden width of the weight generator: max(1, C // reduction)")


class DctStaticConfig(SpectrumMixerConfig):
    """The static DCT mixer ``dct_static``: the same transform and weights W_s as ``dsm``, with no input
    dependence (the fair static baseline of the card)."""


class GlobalFilterConfig(TokenMixerConfig):
    """GFNet-style global filter ``fft_global_filter``: ``irfftn(rfftn(z) * K)`` with a learnable complex
    filter K per channel (the DCT-vs-FFT baseline of the card)."""

    grid: tuple[int, ...] | None = Field(
        None,
        description="token grid the filter is built for (filled by the holder); other sizes of the same rank "
        "get it resized; None: built at the first call",
    )
    init_std: float = Field(0.02, gt=0.0, le=10.0, description="the filter starts as init_std * randn (GFNet)")
    in_proj: bool = Field(False, description="pointwise Linear(C, C) before the filter (GFNet has none)")
    out_proj: bool = Field(False, description="pointwise Linear(C, C) after the filter (GFNet has none)")

    @field_validator("grid")
    @classmethod
    def _valid_grid(cls, value: tuple[int, ...] | None) -> tuple[int, ...] | None:
        return _check_grid(value)


class BandEnergyConfig(ComponentConfig):
    """Settings of the ``band_energy`` analyzer."""

    max_batches: int | None = Field(None, ge=1, description="analyse at most this many of the given batches "
                                    "(None: all)")
    figure: bool = Field(True, description="draw the mean gate per band of every gated mixer")


class DSMTinyConfig(ComponentConfig):
    """The card's ``dsm_tiny``: MF-Tiny (4 stages, depths 1,1,2,1, dims 16..64, conv stem k3 s2, LN pre-norm,
    GELU MLP ratio 4) with one token mixer in every stage, by default ``dsm``, as the builtin metaformer."""

    in_channels: int = Field(1, ge=1, description="input channels C_in (filled from the data)")
    num_classes: int = Field(10, ge=0, description="outputs of the head (filled from the data); 0: final tokens")
    input_size: list[int] | None = Field(
        default_factory=lambda: [28, 28],
        description="[H, W] of the input images (filled from the data); fixes every stage's grid, hence the "
        "spectral weights' size. None: unknown (weights built at the first call; 28 x 28 for example_batch)",
    )
    token_mixer: TokenMixerSpec = Field(
        default_factory=lambda: TokenMixerSpec.parse("dsm"),
        description="the token mixer of every stage (a name or {name: ..., **config}; its dim and grid are set "
        "per stage); the reproduction swaps it for dct_static, fft_global_filter and pooling",
    )
    num_bands: int = Field(
        4, ge=1, le=64,
        description="K of a mixer with a num_bands field, per stage min(num_bands, smallest grid side) (card: "
        "K = min(4, grid)), unless the token_mixer spec sets num_bands to another value than its default",
    )
    depths: list[int] = Field(default_factory=lambda: [1, 1, 2, 1], min_length=1, description="blocks per stage")
    dims: list[int] = Field(default_factory=lambda: [16, 32, 48, 64], min_length=1, description="width per stage")
    stem_kernel: int = Field(3, ge=1, description="kernel of the conv stem")
    stem_stride: int = Field(2, ge=1, description="stride of the conv stem (28 x 28 -> 14 x 14)")
    mlp_ratio: float = Field(4.0, gt=0.0, le=16.0, description="hidden width of the GELU channel MLP / dim")
    norm: Literal["layernorm", "layernorm_nobias", "groupnorm1"] = Field("layernorm", description="pre-norm of "
                                                                          "every block")
    layer_scale_init: float | None = Field(None, gt=0.0, description="LayerScale on every branch; None: off")
    drop_path_rate: float = Field(0.0, ge=0.0, lt=1.0, description="stochastic depth, linear over all blocks")

    @field_validator("input_size")
    @classmethod
    def _two_sides(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and (len(value) != 2 or any(v < 1 for v in value)):
            raise ValueError(f"input_size must be [H, W] with positive sides, got {value}")
        return value

    @model_validator(mode="after")
    def _same_stages(self) -> DSMTinyConfig:
        if len(self.depths) != len(self.dims):
            raise ValueError(f"depths and dims need one entry per stage, got {len(self.depths)} depths and "
                             f"{len(self.dims)} dims")
        if any(d < 0 for d in self.depths) or any(d < 1 for d in self.dims):
            raise ValueError(f"depths must be >= 0 and dims >= 1, got depths {self.depths}, dims {self.dims}")
        return self
